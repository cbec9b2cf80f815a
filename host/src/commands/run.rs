//! `nethook run POINT`: one point, by hand.

use nethook::caps::Mode;
use nethook::error::exit;

use super::{options_at, parse_point, Ctx, Selection};

/// Run the handler selected for one hook point.
#[derive(clap::Args)]
pub struct Args {
    /// before-if-read | before-vpp-run | vpp-running | vpp-done-ok |
    /// vpp-errored (or the dataplane's BEFORE_IF_READ, ...)
    point: String,
    #[command(flatten)]
    selection: Selection,
    /// An uplink interface (repeatable, in the dataplane's order).
    #[arg(long = "uplink", value_name = "NAME")]
    uplinks: Vec<String>,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let (point, uplinks) = parse_point(&args.point, &args.uplinks)?;
    let opts = options_at(&args.selection, uplinks, None, Mode::Apply, point, ctx)?;
    nethook::run::run_point(&opts, point)?.result?;
    Ok(exit::OK)
}
