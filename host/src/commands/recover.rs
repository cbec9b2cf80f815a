//! `nethook recover`: undo what interrupted runs left.

use nethook::caps::Mode;
use nethook::error::exit;

use super::{options_as_configured, Ctx, Selection};

/// Roll back what interrupted runs left (any `run` or `hook` does this
/// first too), and print what was done.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    // Undoing what was left needs no component: never a registry.
    let opts = options_as_configured(&args.selection, Vec::new(), None, Mode::Apply, ctx)?;
    let report = nethook::run::recover(&opts)?;
    if report.is_empty() {
        println!("nothing to recover");
    }
    for line in &report {
        println!("{line}");
    }
    Ok(exit::OK)
}
