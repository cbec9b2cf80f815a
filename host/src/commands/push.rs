//! `nethook push HOOK.wasm oci://...:TAG`: a component published.

use std::path::PathBuf;

use nethook::error::exit;

use super::{load_config, oci_ref, Ctx};

/// Publish a component as an OCI artifact (config
/// application/vnd.wasm.config.v0+json, one application/wasm layer) and
/// print its pinned reference, oci://REGISTRY/REPOSITORY@sha256:DIGEST.
#[derive(clap::Args)]
pub struct Args {
    wasm: PathBuf,
    /// oci://REGISTRY[:PORT]/REPOSITORY:TAG
    reference: String,
    /// Registry settings ([registries]) from this config.
    #[arg(long, env = "NETHOOK_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let reference = oci_ref(&args.reference)?;
    let registries = load_config(args.config.as_deref())?.registries;
    let digest = nethook::oci::push(&args.wasm, &reference, &registries)?;
    println!("{}", reference.with_digest(&digest));
    Ok(exit::OK)
}
