//! `nethook pull`: every registry hook fetched ahead of time.

use std::path::PathBuf;

use nethook::error::exit;
use nethook::hook::HookSource;

use super::{load_config, Ctx};

/// Fetch every hook's oci:// component into the cache (e.g. in an init
/// container), verifying digests, pins and signatures; print one line
/// per hook.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "NETHOOK_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let config = load_config(args.config.as_deref())?;
    let (config, fetched) = nethook::sources::fetch_all(config)?;
    if fetched.is_empty() {
        println!("no hook in {} has an oci:// component", config.source());
    }
    for (name, f) in &fetched {
        let Some(HookSource::Oci(reference)) = config.hooks.get(name).map(|h| &h.source) else {
            continue;
        };
        println!(
            "{name} {} wasm sha256:{} signature: {}{}",
            reference.with_digest(&f.manifest_digest),
            hex::encode(f.blob_sha256),
            f.signature,
            if f.from_cache { " [cached]" } else { "" }
        );
    }
    Ok(exit::OK)
}
