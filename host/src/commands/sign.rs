//! `nethook sign oci://...@sha256:... --key cosign.key`.

use std::path::PathBuf;

use nethook::error::exit;

use super::{cosign_password, load_config, oci_ref, Ctx};

/// Sign a pushed component with a cosign private key (password from
/// $COSIGN_PASSWORD) and push the signature as cosign does.
#[derive(clap::Args)]
pub struct Args {
    /// oci://REGISTRY/REPOSITORY@sha256:DIGEST, as `push` prints it.
    reference: String,
    #[arg(long)]
    key: PathBuf,
    #[arg(long, env = "NETHOOK_CONFIG")]
    config: Option<PathBuf>,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let reference = oci_ref(&args.reference)?;
    let registries = load_config(args.config.as_deref())?.registries;
    let signature = nethook::oci::sign(&reference, &args.key, &cosign_password()?, &registries)?;
    println!("{signature}");
    Ok(exit::OK)
}
