//! Running the handler selected for a hook point.

use std::fmt;
use std::time::{Duration, Instant};

use crate::bindings::{Context, Uplink, WitPoint};
use crate::caps::{Audit, Caller, Effect, Grants, Host, Mode, Session};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::point::HookPoint;
use crate::select::{self, CliHandler, Environment, Handler, Selection};
use crate::wasm::{CacheOutcome, Runtime};
use crate::{builtin, script};

/// Everything a run is decided from.
pub struct Options {
    pub config: Config,
    pub cli: Vec<CliHandler>,
    pub env: Environment,
    /// Uplinks from the command line (`--uplink`).
    pub uplinks: Vec<String>,
    /// The dataplane's `$1`, its first uplink (`nethook hook POINT UPLINK0`).
    pub uplink_arg: Option<String>,
    pub mode: Mode,
    pub audit: Audit,
}

/// Where the uplinks came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkSource {
    Cli,
    Config(String),
    /// The dataplane's variables that named them.
    Env(Vec<&'static str>),
    /// The dataplane's `$1`.
    Arg,
    None,
}

impl fmt::Display for UplinkSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkSource::Cli => f.write_str("command line --uplink"),
            UplinkSource::Config(file) => write!(f, "config {file}"),
            UplinkSource::Env(vars) => write!(f, "environment {}", vars.join(" then ")),
            UplinkSource::Arg => f.write_str("the dataplane's $1"),
            UplinkSource::None => f.write_str("nowhere"),
        }
    }
}

/// The uplinks of a run, in the dataplane's order, and their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplinks {
    pub names: Vec<String>,
    pub source: UplinkSource,
}

impl fmt::Display for Uplinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names.is_empty() {
            true => f.write_str("none"),
            false => write!(f, "{} (from {})", self.names.join(", "), self.source),
        }
    }
}

/// Warned about at before-if-read and in `check`: nothing can be captured.
pub const NO_UPLINKS: &str = "no uplinks: nothing is captured at before-if-read and no udev rule \
is written; name them in CALICOVPP_INTERFACES, `uplinks` in the config or --uplink";

/// What happened at one point.
#[derive(Debug)]
pub struct Outcome {
    pub selection: Selection,
    pub elapsed: Duration,
    pub result: Result<()>,
    /// What the handler changed, or would change in plan mode, in order.
    pub effects: Vec<Effect>,
    /// What the handler found, e.g. the built-in module's detection.
    pub detail: Option<String>,
}

impl Options {
    /// The first source that names any: the command line, the config, the
    /// dataplane's variables, then its `$1`.
    pub fn uplinks(&self) -> Uplinks {
        let (names, source) = if !self.uplinks.is_empty() {
            (self.uplinks.clone(), UplinkSource::Cli)
        } else if !self.config.uplinks.is_empty() {
            (
                self.config.uplinks.clone(),
                UplinkSource::Config(self.config.source()),
            )
        } else if !self.env.uplinks.is_empty() {
            (
                self.env.uplinks.clone(),
                UplinkSource::Env(self.env.uplink_vars.clone()),
            )
        } else if let Some(arg) = &self.uplink_arg {
            (vec![arg.clone()], UplinkSource::Arg)
        } else {
            (Vec::new(), UplinkSource::None)
        };
        Uplinks { names, source }
    }

    /// What the hooks of one run share, in `mode`, with a fresh effect list.
    fn session(&self, mode: Mode) -> Session {
        Session {
            state_dir: self.config.state_dir.clone(),
            node: self.config.node.clone(),
            mode,
            audit: self.audit.clone(),
            effects: Default::default(),
        }
    }

    /// `[builtin]`, with the dataplane's knobs applied:
    /// `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` selects what the
    /// dataplane then runs itself (its default_hook.sh): `dns=none` edited
    /// into NetworkManager.conf, the network service restarted at every undo.
    pub fn builtin_settings(&self) -> builtin::Settings {
        let mut s = self.config.builtin.clone();
        if let Some(v) = self.env.udev_net_name_rules {
            s.udev_net_name_rules = v;
        }
        if !self.env.builtin_enabled {
            s.dataplane_compatible();
        }
        s
    }

    pub fn select(&self, point: HookPoint) -> Result<Selection> {
        select::select(point, &self.cli, &self.env, &self.config)
    }
}

/// Run the handler selected for `point`. Selection errors (a bad flag or
/// variable) are returned before anything runs.
pub fn run_point(opts: &Options, point: HookPoint) -> Result<Outcome> {
    if let Some(parent) = &opts.env.parent {
        return Err(Error::Nested(parent.clone()));
    }
    let selection = opts.select(point)?;
    let uplinks = opts.uplinks();
    tracing::info!(%point, handler = %selection.handler, reason = %selection.reason, %uplinks, "running");
    if let (Some(arg), Some(first)) = (&opts.uplink_arg, uplinks.names.first()) {
        if arg != first {
            tracing::warn!(%point, "the dataplane's $1 is {arg:?} but the first uplink is {first:?} (from {})", uplinks.source);
        }
    }
    if uplinks.names.is_empty() && point == HookPoint::BeforeIfRead {
        tracing::warn!(%point, "{NO_UPLINKS}");
    }
    let session = opts.session(opts.mode);
    let started = Instant::now();
    let mut detail = None;
    let result = dispatch(
        opts,
        &session,
        point,
        &selection.handler,
        &uplinks.names,
        &mut detail,
    );
    let elapsed = started.elapsed();
    let effects = std::mem::take(&mut *session.effects.lock().expect("effects lock"));
    match &result {
        Ok(()) => tracing::info!(%point, ?elapsed, "done"),
        Err(e) => tracing::error!(%point, ?elapsed, "{e}"),
    }
    Ok(Outcome {
        selection,
        elapsed,
        result,
        effects,
        detail,
    })
}

fn dispatch(
    opts: &Options,
    session: &Session,
    point: HookPoint,
    handler: &Handler,
    uplinks: &[String],
    detail: &mut Option<String>,
) -> Result<()> {
    match handler {
        Handler::None => Ok(()),
        Handler::Builtin => {
            if let Some(setting) = opts.env.compat_setting() {
                tracing::warn!(%point, "{setting}: {}", builtin::COMPAT);
            }
            let mut host = Host::new(
                caller(builtin::HOOK_NAME, point),
                Grants::builtin(),
                session.clone(),
            );
            host.set_deadline(crate::config::DEFAULT_TIMEOUT);
            let detection = builtin::run(&mut host, point, uplinks, &opts.builtin_settings())?;
            *detail = Some(format!("detected {detection}"));
            Ok(())
        }
        Handler::Script { .. } if opts.mode == Mode::Plan => Err(Error::NotPlannable(point)),
        Handler::Script { script, timeout } => {
            let log = crate::caps::log::Log::new(caller(script::HOOK_NAME, point));
            script::run(&log, script, point, uplinks, *timeout)
        }
        Handler::Wasm(hook) => {
            let runtime = Runtime::new(&opts.config.cache_dir)?;
            let loaded = runtime.load(hook)?;
            if let CacheOutcome::Hit(_) = loaded.cache {
                tracing::debug!(hook = %hook.name, "no compilation needed");
            }
            // Uplinks are nethook's context, not the hook's own calls: looked
            // up outside its grants and audit.
            let context = Context {
                point: wit_point(point),
                hook: hook.name.clone(),
                uplinks: uplinks
                    .iter()
                    .map(|name| Uplink {
                        name: name.clone(),
                        mac: crate::caps::netlink::lookup_mac(name).unwrap_or_default(),
                    })
                    .collect(),
                config: hook.config.clone(),
            };
            let mut host = Host::new(
                caller(&hook.name, point),
                hook.grants.clone(),
                session.clone(),
            );
            host.set_deadline(hook.timeout);
            runtime.run(hook, &loaded, host, context)
        }
    }
}

fn caller(hook: &str, point: HookPoint) -> Caller {
    Caller {
        hook: hook.to_string(),
        point,
    }
}

fn wit_point(p: HookPoint) -> WitPoint {
    match p {
        HookPoint::BeforeIfRead => WitPoint::BeforeIfRead,
        HookPoint::BeforeVppRun => WitPoint::BeforeVppRun,
        HookPoint::VppRunning => WitPoint::VppRunning,
        HookPoint::VppDoneOk => WitPoint::VppDoneOk,
        HookPoint::VppErrored => WitPoint::VppErrored,
    }
}

/// One line of `check`: a point, its handler, why, how the dataplane
/// reaches it, and whether it is usable.
pub struct CheckLine {
    pub selection: Selection,
    pub dataplane: String,
    pub status: Result<String>,
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handler = match &self.selection.handler {
            Handler::Builtin => format!("builtin: {}", builtin::DESCRIPTION),
            other => other.to_string(),
        };
        let status = match &self.status {
            Ok(s) => s.clone(),
            Err(e) => format!("ERROR: {e}"),
        };
        write!(
            f,
            "{:<15} {handler}\n{:<15} why: {}\n{:<15} dataplane: {}\n{:<15} status: {status}",
            self.selection.point.name(),
            "",
            self.selection.reason,
            "",
            self.dataplane,
            ""
        )
    }
}

/// What the built-in module would find on the node (reads only).
pub fn detect(opts: &Options) -> std::result::Result<builtin::Detection, crate::caps::CapError> {
    let session = opts.session(Mode::Plan);
    let mut host = Host::new(
        caller(builtin::HOOK_NAME, HookPoint::BeforeIfRead),
        Grants::builtin(),
        session,
    );
    builtin::detect(&mut host)
}

/// Validate every point's handler without running any of them.
pub fn check(opts: &Options) -> Result<Vec<CheckLine>> {
    let mut runtime: Option<Runtime> = None;
    let mut lines = Vec::new();
    for point in HookPoint::ALL {
        let selection = opts.select(point)?;
        let status = match &selection.handler {
            Handler::Wasm(hook) => {
                if runtime.is_none() {
                    runtime = Some(Runtime::new(&opts.config.cache_dir)?);
                }
                let rt = runtime.as_ref().expect("created above");
                rt.load(hook).map(|l| {
                    format!(
                        "ok: component targets nethook:hooks@{}, sha256 {}{}",
                        crate::bindings::PACKAGE_VERSION,
                        hex::encode(l.sha256),
                        if hook.sha256.is_some() {
                            " (matches pin)"
                        } else {
                            " (not pinned)"
                        }
                    )
                })
            }
            Handler::Script { timeout, .. } => Ok(format!(
                "ok: legacy script, not sandboxed, timeout {}",
                humantime::format_duration(*timeout)
            )),
            Handler::Builtin => Ok(match opts.env.compat_setting() {
                Some(setting) => format!("ok: {setting}: {}", builtin::COMPAT),
                None => "ok".to_string(),
            }),
            Handler::None => Ok("ok".to_string()),
        };
        let dataplane = dataplane_route(&opts.env, point);
        lines.push(CheckLine {
            selection,
            dataplane,
            status,
        });
    }
    Ok(lines)
}

/// How the dataplane reaches `point`, from its variables.
fn dataplane_route(env: &Environment, point: HookPoint) -> String {
    let var = point.env_var();
    if let Some(value) = env.invocations.get(&point) {
        return format!("{var} calls nethook ({value:?}); not a handler choice");
    }
    if env.scripts.contains_key(&point) {
        return format!(
            "{var} is a script: the dataplane runs it itself; nethook runs it only if called here some other way"
        );
    }
    if env.invocations.is_empty() && env.scripts.is_empty() {
        return "no CALICOVPP_HOOK_* in the environment: not under the dataplane, or it does not call nethook".into();
    }
    match env.builtin_enabled {
        true => format!("{var} is empty: the dataplane runs its own native hook here, not nethook"),
        false => {
            format!("{var} is empty: the dataplane runs its default_hook.sh here, not nethook")
        }
    }
}

/// The first error among check lines, for the exit code.
pub fn first_error(lines: Vec<CheckLine>) -> Option<Error> {
    lines.into_iter().find_map(|l| l.status.err())
}
