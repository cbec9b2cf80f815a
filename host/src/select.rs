//! Which handler runs at a dataplane point, and why.
//!
//! Precedence, highest first: a command-line flag, the environment the
//! dataplane sets, the config file, the default built-in profile. Whatever
//! chooses the handler, the point's `on_failure` and `verify` are the
//! config's.

use std::fmt;
use std::path::PathBuf;

use crate::config::Config;
use crate::dataplane::Environment;
use crate::error::{Error, Result};
use crate::hook::{HookConfig, HookSource, DEFAULT_MEMORY, DEFAULT_TIMEOUT};
use crate::point::DataplanePoint;
use crate::spec::{Handler, PointSpec};

#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// `--handler POINT=SPEC` on the command line.
    Cli(String),
    /// `CALICOVPP_HOOK_<POINT>` was set to a script.
    EnvScript(String),
    /// `[points.<point>]` in this file.
    Config(String),
    /// Nothing chose otherwise.
    Default,
}

/// What runs at a point, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub point: DataplanePoint,
    pub spec: PointSpec,
    pub reason: Reason,
}

/// A handler named on the command line: `builtin`, `none`, `script:CMD`,
/// `wasm:HOOK` (a hook of the config) or `wasm:PATH.wasm`.
#[derive(Debug, Clone, PartialEq)]
pub struct CliHandler {
    pub point: DataplanePoint,
    pub spec: String,
}

impl CliHandler {
    /// Parse `POINT=SPEC`.
    pub fn parse(arg: &str) -> Result<CliHandler> {
        let (point, spec) = arg.split_once('=').ok_or_else(|| {
            Error::Setting(format!(
                "--handler {arg:?}: expected POINT=SPEC, e.g. vpp-running=builtin"
            ))
        })?;
        let point = point
            .parse()
            .map_err(|e| Error::Setting(format!("--handler {arg:?}: {e}")))?;
        Ok(CliHandler {
            point,
            spec: spec.to_string(),
        })
    }

    fn handler(&self, config: &Config) -> Result<Handler> {
        let bad =
            |m: String| Error::Setting(format!("--handler {}={}: {m}", self.point, self.spec));
        Ok(match self.spec.split_once(':') {
            None if self.spec == "builtin" => Handler::Builtin,
            None if self.spec == "none" => Handler::None,
            Some(("script", s)) if !s.trim().is_empty() => Handler::Script {
                script: s.to_string(),
                timeout: config.script_timeout,
            },
            Some(("wasm", h)) if config.hooks.contains_key(h) => {
                Handler::Wasm(Box::new(config.hooks[h].clone()))
            }
            Some(("wasm", p)) if p.ends_with(".wasm") => {
                Handler::Wasm(Box::new(adhoc_hook(p).map_err(bad)?))
            }
            Some(("wasm", h)) => {
                return Err(bad(format!(
                    "no hook named {h:?} in {} (and not a path ending in .wasm)",
                    config.source()
                )))
            }
            _ => {
                return Err(bad(
                    "expected builtin, none, script:COMMAND, wasm:HOOK or wasm:PATH.wasm".into(),
                ))
            }
        })
    }
}

/// A hook given by path on the command line, with default limits.
fn adhoc_hook(path: &str) -> std::result::Result<HookConfig, String> {
    let path = PathBuf::from(path);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    crate::config::check_hook_name(stem)?;
    Ok(HookConfig {
        name: stem.to_string(),
        component: path.clone(),
        source: HookSource::File(path.clone()),
        verify_key: None,
        fetched: None,
        sha256: None,
        timeout: DEFAULT_TIMEOUT,
        memory: DEFAULT_MEMORY,
        config: Vec::new(),
        grants: crate::caps::Grants::default(),
        on_failure: None,
    })
}

/// Decide what runs at `point`.
pub fn select(
    point: DataplanePoint,
    cli: &[CliHandler],
    env: &Environment,
    config: &Config,
) -> Result<Selection> {
    let configured = config.points.get(&point);
    // A handler chosen above the config keeps the point's own policy.
    let one = |handler| {
        let mut spec = PointSpec::one(handler);
        if let Some(c) = configured {
            spec.on_failure = c.on_failure;
            spec.verify = c.verify.clone();
        }
        spec
    };
    let (spec, reason) = if let Some(c) = cli.iter().rev().find(|c| c.point == point) {
        (
            one(c.handler(config)?),
            Reason::Cli(format!("--handler {point}={}", c.spec)),
        )
    } else if let Some(script) = env.scripts.get(&point) {
        (
            one(Handler::Script {
                script: script.clone(),
                timeout: config.script_timeout,
            }),
            Reason::EnvScript(point.env_var()),
        )
    } else if let Some(spec) = configured {
        (spec.clone(), Reason::Config(config.source()))
    } else {
        (PointSpec::one(Handler::Builtin), Reason::Default)
    };
    Ok(Selection {
        point,
        spec,
        reason,
    })
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Cli(flag) => write!(f, "cli: {flag}"),
            Reason::EnvScript(var) => write!(f, "env: {var} is set to a script"),
            Reason::Config(file) => write!(f, "config: {file}"),
            Reason::Default => f.write_str("default: built-in profile"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::from_vars(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn config(points: &[(DataplanePoint, Handler)]) -> Config {
        Config {
            points: points
                .iter()
                .map(|(p, h)| (*p, PointSpec::one(h.clone())))
                .collect(),
            ..Config::default()
        }
    }

    fn handler(s: &Selection) -> Handler {
        s.spec.single().expect("one handler").clone()
    }

    #[test]
    fn each_level_overrides_the_ones_below_it() {
        let p = DataplanePoint::VppRunning;
        let none = config(&[(p, Handler::None)]);
        let script_env = env(&[("CALICOVPP_HOOK_VPP_RUNNING", "echo hi")]);
        let called = env(&[(
            "CALICOVPP_HOOK_VPP_RUNNING",
            "exec /usr/local/bin/nethook hook \"$0\" \"$1\"",
        )]);
        let cli = vec![CliHandler::parse("vpp-running=builtin").unwrap()];

        let s = select(p, &[], &env(&[]), &Config::default()).unwrap();
        assert_eq!((handler(&s), s.reason), (Handler::Builtin, Reason::Default));
        let s = select(p, &[], &env(&[]), &none).unwrap();
        assert_eq!(
            (handler(&s), s.reason),
            (Handler::None, Reason::Config("the embedded default".into()))
        );
        let s = select(p, &[], &script_env, &none).unwrap();
        assert_eq!(
            s.reason,
            Reason::EnvScript("CALICOVPP_HOOK_VPP_RUNNING".into())
        );
        // A variable that calls nethook is how we are called, not a choice.
        let s = select(p, &[], &called, &none).unwrap();
        assert_eq!(
            (handler(&s), s.reason),
            (Handler::None, Reason::Config("the embedded default".into()))
        );
        let s = select(p, &cli, &script_env, &none).unwrap();
        assert_eq!(
            (handler(&s), s.reason),
            (
                Handler::Builtin,
                Reason::Cli("--handler vpp-running=builtin".into())
            )
        );
    }

    #[test]
    fn a_handler_chosen_above_the_config_keeps_the_points_policy() {
        let p = DataplanePoint::VppDoneOk;
        let mut keep = config(&[(p, Handler::None)]);
        keep.points.get_mut(&p).unwrap().on_failure = crate::spec::OnFailure::Keep;
        let cli = vec![CliHandler::parse("vpp-done-ok=builtin").unwrap()];
        let s = select(p, &cli, &env(&[]), &keep).unwrap();
        assert_eq!(handler(&s), Handler::Builtin);
        assert_eq!(s.spec.on_failure, crate::spec::OnFailure::Keep);
    }

    #[test]
    fn the_builtin_switch_keeps_the_builtin_selected() {
        let off = env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "False")]);
        let s = select(DataplanePoint::VppDoneOk, &[], &off, &Config::default()).unwrap();
        assert_eq!(handler(&s), Handler::Builtin);
        let scripted = config(&[(
            DataplanePoint::VppDoneOk,
            Handler::Script {
                script: "x".into(),
                timeout: crate::spec::DEFAULT_SCRIPT_TIMEOUT,
            },
        )]);
        let s = select(DataplanePoint::VppDoneOk, &[], &off, &scripted).unwrap();
        assert!(matches!(handler(&s), Handler::Script { .. }));
    }

    #[test]
    fn cli_specs_are_checked() {
        assert!(CliHandler::parse("vpp-running").is_err());
        assert!(CliHandler::parse("vpp-runnin=none").is_err());
        assert_eq!(
            CliHandler::parse("link-added=none").unwrap_err().to_string(),
            "--handler \"link-added=none\": link-added is an event point: `nethook watch` runs it when the node's network changes; `run`, `plan` and `hook` take one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored"
        );
        let c = CliHandler::parse("vpp-running=script:").unwrap();
        assert!(c.handler(&Config::default()).is_err());
        let c = CliHandler::parse("vpp-running=wasm:/x/Hook.wasm").unwrap();
        let err = c.handler(&Config::default()).unwrap_err().to_string();
        assert!(err.contains("hook name \"Hook\""), "{err}");
    }
}
