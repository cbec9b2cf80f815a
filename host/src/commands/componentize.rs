//! `nethook componentize CORE -o OUT`: a core module made a component.

use std::path::PathBuf;

use anyhow::Context as _;
use nethook::error::exit;
use nethook::Error;

use super::Ctx;

/// Wrap a core wasm module built with nethook-sdk into a component.
#[derive(clap::Args)]
pub struct Args {
    core: PathBuf,
    #[arg(long, short)]
    output: PathBuf,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let bytes =
        std::fs::read(&args.core).with_context(|| format!("reading {}", args.core.display()))?;
    let component =
        nethook::componentize::componentize(&bytes).map_err(|e| Error::component(&args.core, e))?;
    std::fs::write(&args.output, component)
        .with_context(|| format!("writing {}", args.output.display()))?;
    Ok(exit::OK)
}
