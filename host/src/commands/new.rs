//! `nethook new NAME`: a hook project to start from.

use std::path::PathBuf;

use nethook::error::exit;

use super::Ctx;

/// Make a hook project in DIR/NAME: the hook's source, a build script,
/// a nethook.toml with the grants it uses, a README, and the WIT contract.
#[derive(clap::Args)]
pub struct Args {
    name: String,
    #[arg(long, value_enum, default_value = "rust")]
    lang: nethook::scaffold::Lang,
    /// Where the project directory is made.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
}

pub fn run(args: Args, _: &Ctx) -> anyhow::Result<u8> {
    let project = nethook::scaffold::new(&args.dir, &args.name, args.lang)?;
    let p = project.display();
    println!("made {p}: build it with {p}/build.sh, then `nethook check --config {p}/nethook.toml` and `sudo nethook test {p}`");
    Ok(exit::OK)
}
