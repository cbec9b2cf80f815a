//! `nethook watch`: hooks at the node's own network events.

use std::path::{Path, PathBuf};

use nethook::caps::Mode;
use nethook::config::Config;
use nethook::error::exit;

use super::{options, Ctx, Selection, DEFAULT_CONFIG};

/// Run until SIGTERM: the event points' handlers (link-added,
/// link-removed, link-down, link-up, address-lost) as the node's links
/// change. SIGHUP reloads the config.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    selection: Selection,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<u8> {
    let opts = options(&args.selection, Vec::new(), Mode::Apply, ctx)?;
    let file = args.selection.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| PathBuf::from(DEFAULT_CONFIG))
    });
    let reload = || {
        let config = match &file {
            Some(f) => Config::load(f)?,
            None => Config::default(),
        };
        Ok(nethook::sources::fetch_all(config)?.0)
    };
    nethook::watch::watch(opts, reload)?;
    Ok(exit::OK)
}
