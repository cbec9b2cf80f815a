//! One module per subcommand: each parses its arguments (clap), calls the
//! library and renders what it returns. No policy here.

pub mod check;
pub mod componentize;
pub mod demo;
pub mod generate_key_pair;
pub mod hook;
pub mod new;
pub mod plan;
pub mod pull;
pub mod push;
pub mod recover;
pub mod render;
pub mod run;
pub mod sign;
pub mod status;
pub mod test;
pub mod watch;
pub mod wit_reference;

use std::path::{Path, PathBuf};

use nethook::caps::{Audit, Mode};
use nethook::config::Config;
use nethook::dataplane::Environment;
use nethook::names::IfName;
use nethook::options::Options;
use nethook::select::CliHandler;
use nethook::{DataplanePoint, Error};

/// Where `run` and `check` look for a config when none is given.
pub const DEFAULT_CONFIG: &str = "/etc/nethook/nethook.toml";

/// What every command gets from the top-level flags.
pub struct Ctx {
    pub audit: Audit,
}

/// Which config, and handlers named on the command line.
#[derive(clap::Args)]
pub struct Selection {
    /// Config file [default: $NETHOOK_CONFIG, else /etc/nethook/nethook.toml
    /// if it exists, else the embedded default: built-in at every point].
    #[arg(long, env = "NETHOOK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override a point's handler: POINT=builtin|none|script:CMD|wasm:HOOK|wasm:PATH.wasm
    #[arg(long = "handler", value_name = "POINT=SPEC")]
    pub handlers: Vec<String>,
}

/// The config file given, else the default one if it exists, else the
/// embedded default.
pub fn load_config(path: Option<&Path>) -> Result<Config, Error> {
    Ok(match path {
        Some(path) => Config::load(path)?,
        None if Path::new(DEFAULT_CONFIG).exists() => Config::load(Path::new(DEFAULT_CONFIG))?,
        None => Config::default(),
    })
}

/// Options for a command that runs hooks: every oci:// component fetched.
pub fn options(
    selection: &Selection,
    uplinks: Vec<IfName>,
    mode: Mode,
    ctx: &Ctx,
) -> Result<Options, Error> {
    let opts = options_as_configured(selection, uplinks, None, mode, ctx)?;
    let (config, _) = nethook::sources::fetch_all(opts.config)?;
    Ok(Options { config, ..opts })
}

/// What runs one point fetches only the components that point runs.
pub fn options_at(
    selection: &Selection,
    uplinks: Vec<IfName>,
    uplink0: Option<IfName>,
    mode: Mode,
    point: DataplanePoint,
    ctx: &Ctx,
) -> Result<Options, Error> {
    let opts = options_as_configured(selection, uplinks, uplink0, mode, ctx)?;
    let spec = opts.select(point)?.spec;
    let wanted: Vec<String> = spec.hooks().into_iter().map(String::from).collect();
    let (config, _) = nethook::sources::fetch_of(opts.config, |h| wanted.iter().any(|w| w == h))?;
    Ok(Options { config, ..opts })
}

/// Options as the config says, nothing fetched.
pub fn options_as_configured(
    selection: &Selection,
    uplinks: Vec<IfName>,
    uplink_arg: Option<IfName>,
    mode: Mode,
    ctx: &Ctx,
) -> Result<Options, Error> {
    let config = load_config(selection.config.as_deref())?;
    let cli = selection
        .handlers
        .iter()
        .map(|h| CliHandler::parse(h))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Options {
        config,
        cli,
        env: Environment::from_process()?,
        uplinks,
        uplink_arg,
        mode,
        audit: ctx.audit.clone(),
    })
}

/// The point, and the `--uplink` names, parsed.
pub fn parse_point(
    point: &str,
    uplinks: &[String],
) -> Result<(DataplanePoint, Vec<IfName>), Error> {
    let uplinks = uplinks
        .iter()
        .map(|u| IfName::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| Error::Setting(format!("--uplink: {m}")))?;
    let point = point.parse().map_err(|e| Error::Setting(format!("{e}")))?;
    Ok((point, uplinks))
}

/// `oci://...` from the command line.
pub fn oci_ref(text: &str) -> Result<nethook::oci::OciRef, Error> {
    nethook::oci::OciRef::parse(text).map_err(|e| Error::Setting(e.to_string()))
}

/// As cosign: the key's password from $COSIGN_PASSWORD (which may be empty).
pub fn cosign_password() -> Result<Vec<u8>, Error> {
    use std::os::unix::ffi::OsStringExt as _;
    std::env::var_os("COSIGN_PASSWORD")
        .map(|p| p.into_vec())
        .ok_or_else(|| {
            Error::Setting(
                "set COSIGN_PASSWORD to the key's password (COSIGN_PASSWORD= for none)".into(),
            )
        })
}
