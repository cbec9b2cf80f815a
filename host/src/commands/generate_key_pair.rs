//! `nethook generate-key-pair`: a cosign key pair for signing hooks.

use std::path::PathBuf;

use nethook::error::exit;

use super::{cosign_password, Ctx};

/// Write cosign.key (encrypted with $COSIGN_PASSWORD) and cosign.pub in
/// DIR, in cosign's formats.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let (private, public) = nethook::oci::generate_key_pair(&args.dir, &cosign_password()?)?;
    println!(
        "private key: {}\npublic key: {}",
        private.display(),
        public.display()
    );
    Ok(exit::OK)
}
