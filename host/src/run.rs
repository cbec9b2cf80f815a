//! Running the handler selected for a hook point.

use std::fmt;
use std::time::{Duration, Instant};

use crate::bindings::{Context, Uplink, WitPoint};
use crate::caps::{Caller, Host};
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
    /// Uplinks from the command line; the config's when empty.
    pub uplinks: Vec<String>,
}

/// What happened at one point.
#[derive(Debug)]
pub struct Outcome {
    pub selection: Selection,
    pub elapsed: Duration,
    pub result: Result<()>,
}

impl Options {
    pub fn uplinks(&self) -> &[String] {
        if self.uplinks.is_empty() {
            &self.config.uplinks
        } else {
            &self.uplinks
        }
    }

    pub fn select(&self, point: HookPoint) -> Result<Selection> {
        select::select(point, &self.cli, &self.env, &self.config)
    }
}

/// Run the handler selected for `point`. Selection errors (a bad flag or
/// variable) are returned before anything runs.
pub fn run_point(opts: &Options, point: HookPoint) -> Result<Outcome> {
    let selection = opts.select(point)?;
    tracing::info!(%point, handler = %selection.handler, reason = %selection.reason, "running");
    let started = Instant::now();
    let result = dispatch(opts, point, &selection.handler);
    let elapsed = started.elapsed();
    match &result {
        Ok(()) => tracing::info!(%point, ?elapsed, "done"),
        Err(e) => tracing::error!(%point, ?elapsed, "{e}"),
    }
    Ok(Outcome {
        selection,
        elapsed,
        result,
    })
}

fn dispatch(opts: &Options, point: HookPoint, handler: &Handler) -> Result<()> {
    let uplinks = opts.uplinks();
    let state_dir = &opts.config.state_dir;
    match handler {
        Handler::None => Ok(()),
        Handler::Builtin => {
            let mut host = Host::new(caller("builtin", point), state_dir);
            builtin::run(&mut host, uplinks)
        }
        Handler::Script { script, timeout } => {
            let host = Host::new(caller(script::HOOK_NAME, point), state_dir);
            let first = uplinks.first().map_or("", String::as_str);
            script::run(&host.log, script, point, first, *timeout)
        }
        Handler::Wasm(hook) => {
            let runtime = Runtime::new(&opts.config.cache_dir)?;
            let loaded = runtime.load(hook)?;
            if let CacheOutcome::Hit(_) = loaded.cache {
                tracing::debug!(hook = %hook.name, "no compilation needed");
            }
            let mut host = Host::new(caller(&hook.name, point), state_dir);
            let context = Context {
                point: wit_point(point),
                hook: hook.name.clone(),
                uplinks: uplinks
                    .iter()
                    .map(|name| Uplink {
                        name: name.clone(),
                        mac: host
                            .netlink
                            .get_link(name)
                            .ok()
                            .and_then(|l| l.mac)
                            .unwrap_or_default(),
                    })
                    .collect(),
                config: hook.config.clone(),
            };
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

/// One line of `check`: a point, its handler, why, and whether it is usable.
pub struct CheckLine {
    pub selection: Selection,
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
            "{:<15} {handler}\n{:<15} why: {}\n{:<15} status: {status}",
            self.selection.point.name(),
            "",
            self.selection.reason,
            ""
        )
    }
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
            Handler::Builtin | Handler::None => Ok("ok".to_string()),
        };
        lines.push(CheckLine { selection, status });
    }
    Ok(lines)
}

/// The first error among check lines, for the exit code.
pub fn first_error(lines: Vec<CheckLine>) -> Option<Error> {
    lines.into_iter().find_map(|l| l.status.err())
}
