//! `nethook hook POINT UPLINK0`: how the dataplane calls nethook.

use nethook::caps::Mode;
use nethook::error::exit;
use nethook::names::IfName;
use nethook::Error;

use super::{options_at, parse_point, Ctx, Selection};

/// Called by the dataplane: set every CALICOVPP_HOOK_<POINT> to
/// `exec nethook hook "$0" "$1"`. Runs the handler selected for POINT,
/// with the uplinks of the config, else of CALICOVPP_INTERFACE(S), else UPLINK0.
#[derive(clap::Args)]
pub struct Args {
    /// The dataplane's $0: VPP_RUNNING (or vpp-running), ...
    point: String,
    /// The dataplane's $1: its first uplink.
    uplink0: Option<String>,
    #[command(flatten)]
    selection: Selection,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let (point, _) = parse_point(&args.point, &[])?;
    let uplink0 = args
        .uplink0
        .filter(|u| !u.is_empty())
        .map(|u| IfName::parse(&u))
        .transpose()
        .map_err(|m| Error::Setting(format!("the dataplane's $1 (UPLINK0): {m}")))?;
    let opts = options_at(
        &args.selection,
        Vec::new(),
        uplink0,
        Mode::Apply,
        point,
        ctx,
    )?;
    nethook::run::run_point(&opts, point)?.result?;
    Ok(exit::OK)
}
