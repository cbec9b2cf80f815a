//! `nethook wit-reference`: docs/wit-reference.md, from the contract.

use nethook::error::exit;
use nethook::Error;

use super::Ctx;

/// Print the WIT reference (docs/wit-reference.md) from the contract
/// built into this binary.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_: Args, _: &Ctx) -> anyhow::Result<u8> {
    print!("{}", nethook::witdoc::reference().map_err(Error::Other)?);
    Ok(exit::OK)
}
