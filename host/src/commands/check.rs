//! `nethook check`: the config, every component, and what runs where.

use nethook::caps::Mode;
use nethook::check::{self, first_error};
use nethook::error::exit;
use nethook::reports::FleetView;

use super::{options, Ctx, Selection};

/// Validate the config and every component it references, and print
/// which handler runs at each point and why.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
    /// Print, for each point, its chain of handlers and each hook's
    /// source, digest, signature and grants as JSON: the document a
    /// fleet operator compares between nodes.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let opts = options(&args.selection, Vec::new(), Mode::Apply, ctx)?;
    if args.json {
        let lines = check::check(&opts)?;
        println!("{:#}", serde_json::to_value(FleetView::of(&opts, &lines))?);
        return match first_error(lines) {
            Some(e) => Err(e.into()),
            None => Ok(exit::OK),
        };
    }
    println!("config: {}", opts.config.source());
    let uplinks = opts.uplinks();
    println!("uplinks: {uplinks}");
    if uplinks.names.is_empty() {
        println!("WARNING: {}", nethook::options::NO_UPLINKS);
    }
    match nethook::durable::check(&opts.config.state_dir, &opts.config.node.root) {
        Ok(where_) => println!("state: {where_}"),
        Err(why) => println!("state: WARNING: {why}"),
    }
    let lines = check::check(&opts)?;
    for line in &lines {
        println!("{line}");
    }
    if lines.iter().any(|l| l.spec.is_builtin()) {
        let root = opts.config.node.root.display();
        match check::detect(&opts) {
            Ok(d) => println!("built-in module on {root}: detected {d}"),
            Err(e) => println!("built-in module on {root}: detection failed: {e}"),
        }
    }
    match first_error(lines) {
        Some(e) => Err(e.into()),
        None => Ok(exit::OK),
    }
}
