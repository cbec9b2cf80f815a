//! Which handler runs at a hook point, and why.
//!
//! Precedence, highest first: a command-line flag, the environment the
//! dataplane sets, the config file, the default built-in profile.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, HookConfig, PointConfig, DEFAULT_MEMORY, DEFAULT_TIMEOUT};
use crate::error::{Error, Result};
use crate::point::HookPoint;

/// Turns the built-in module off when `false`.
pub const ENV_BUILTIN_ENABLED: &str = "CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK";
/// The dataplane's debug knobs, a JSON object; `enableUdevNetNameRules`
/// overrides `[builtin] udev_net_name_rules`.
pub const ENV_DEBUG: &str = "CALICOVPP_DEBUG";
/// Timeout of scripts that come from the environment.
pub const ENV_SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    Builtin,
    Wasm(Box<HookConfig>),
    Script { script: String, timeout: Duration },
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// `--handler POINT=SPEC` on the command line.
    Cli(String),
    /// `CALICOVPP_HOOK_<POINT>` was set.
    EnvScript(String),
    /// `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` turned the built-in module off.
    BuiltinDisabled(String),
    /// `[points.<point>]` in this file.
    Config(String),
    /// Nothing chose otherwise.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub point: HookPoint,
    pub handler: Handler,
    pub reason: Reason,
}

/// A handler named on the command line: `builtin`, `none`, `script:CMD`,
/// `wasm:HOOK` (a hook of the config) or `wasm:PATH.wasm`.
#[derive(Debug, Clone, PartialEq)]
pub struct CliHandler {
    pub point: HookPoint,
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
                timeout: ENV_SCRIPT_TIMEOUT,
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
        sha256: None,
        timeout: DEFAULT_TIMEOUT,
        memory: DEFAULT_MEMORY,
        config: Vec::new(),
        grants: crate::caps::Grants::default(),
    })
}

/// What the dataplane put in our environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    pub scripts: BTreeMap<HookPoint, String>,
    /// False when `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK` is false.
    pub builtin_enabled: bool,
    /// The variable's raw value, for `check` to quote.
    builtin_setting: Option<String>,
    /// `enableUdevNetNameRules` from `CALICOVPP_DEBUG`, when present.
    pub udev_net_name_rules: Option<bool>,
}

impl Environment {
    pub fn from_process() -> Result<Environment> {
        Environment::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Environment> {
        let scripts = HookPoint::ALL
            .into_iter()
            .filter_map(|p| {
                get(&p.env_var())
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (p, s))
            })
            .collect();
        let setting = get(ENV_BUILTIN_ENABLED).filter(|s| !s.is_empty());
        let builtin_enabled = match setting.as_deref() {
            None => true,
            // Go's strconv.ParseBool, which the dataplane uses.
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => true,
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => false,
            Some(other) => {
                return Err(Error::Setting(format!(
                    "environment {ENV_BUILTIN_ENABLED}={other:?} is not a boolean (true or false)"
                )))
            }
        };
        let udev_net_name_rules = match get(ENV_DEBUG).filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(json) => {
                let bad = |why: String| Error::Setting(format!("environment {ENV_DEBUG}: {why}"));
                let v: serde_json::Value =
                    serde_json::from_str(&json).map_err(|e| bad(format!("not JSON: {e}")))?;
                match v.get("enableUdevNetNameRules") {
                    None | Some(serde_json::Value::Null) => None,
                    Some(serde_json::Value::Bool(b)) => Some(*b),
                    Some(other) => {
                        return Err(bad(format!(
                            "enableUdevNetNameRules is {other}, not a boolean"
                        )))
                    }
                }
            }
        };
        Ok(Environment {
            scripts,
            builtin_enabled,
            builtin_setting: setting,
            udev_net_name_rules,
        })
    }
}

/// Decide the handler for `point`.
pub fn select(
    point: HookPoint,
    cli: &[CliHandler],
    env: &Environment,
    config: &Config,
) -> Result<Selection> {
    let chosen = |handler, reason| {
        Ok(Selection {
            point,
            handler,
            reason,
        })
    };
    if let Some(c) = cli.iter().rev().find(|c| c.point == point) {
        return chosen(
            c.handler(config)?,
            Reason::Cli(format!("--handler {point}={}", c.spec)),
        );
    }
    if let Some(script) = env.scripts.get(&point) {
        return chosen(
            Handler::Script {
                script: script.clone(),
                timeout: ENV_SCRIPT_TIMEOUT,
            },
            Reason::EnvScript(point.env_var()),
        );
    }
    let (handler, reason) = match config.points.get(&point) {
        Some(pc) => {
            let handler = match pc {
                PointConfig::Builtin => Handler::Builtin,
                PointConfig::None => Handler::None,
                PointConfig::Script { script, timeout } => Handler::Script {
                    script: script.clone(),
                    timeout: *timeout,
                },
                PointConfig::Wasm { hook } => Handler::Wasm(Box::new(config.hooks[hook].clone())),
            };
            (handler, Reason::Config(config.source()))
        }
        None => (Handler::Builtin, Reason::Default),
    };
    if handler == Handler::Builtin && !env.builtin_enabled {
        let value = env.builtin_setting.clone().unwrap_or_default();
        return chosen(
            Handler::None,
            Reason::BuiltinDisabled(format!("{ENV_BUILTIN_ENABLED}={value}")),
        );
    }
    chosen(handler, reason)
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Builtin => f.write_str("builtin"),
            Handler::Wasm(h) => write!(f, "wasm {} ({})", h.name, h.component.display()),
            Handler::Script { script, .. } => write!(f, "script {script:?}"),
            Handler::None => f.write_str("none"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Cli(flag) => write!(f, "cli: {flag}"),
            Reason::EnvScript(var) => write!(f, "env: {var} is set"),
            Reason::BuiltinDisabled(setting) => {
                write!(f, "env: {setting} turns the built-in module off")
            }
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

    fn config(points: &[(HookPoint, PointConfig)]) -> Config {
        Config {
            points: points.iter().cloned().collect(),
            ..Config::default()
        }
    }

    #[test]
    fn each_level_overrides_the_ones_below_it() {
        let p = HookPoint::VppRunning;
        let none = config(&[(p, PointConfig::None)]);
        let script_env = env(&[("CALICOVPP_HOOK_VPP_RUNNING", "echo hi")]);
        let cli = vec![CliHandler::parse("vpp-running=builtin").unwrap()];

        let s = select(p, &[], &env(&[]), &Config::default()).unwrap();
        assert_eq!((s.handler, s.reason), (Handler::Builtin, Reason::Default));
        let s = select(p, &[], &env(&[]), &none).unwrap();
        assert_eq!(
            (s.handler, s.reason),
            (Handler::None, Reason::Config("the embedded default".into()))
        );
        let s = select(p, &[], &script_env, &none).unwrap();
        assert_eq!(
            s.reason,
            Reason::EnvScript("CALICOVPP_HOOK_VPP_RUNNING".into())
        );
        let s = select(p, &cli, &script_env, &none).unwrap();
        assert_eq!(
            (s.handler, s.reason),
            (
                Handler::Builtin,
                Reason::Cli("--handler vpp-running=builtin".into())
            )
        );
    }

    #[test]
    fn the_builtin_switch_only_affects_the_builtin_module() {
        let off = env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "False")]);
        let s = select(HookPoint::VppDoneOk, &[], &off, &Config::default()).unwrap();
        assert_eq!(s.handler, Handler::None);
        let scripted = config(&[(
            HookPoint::VppDoneOk,
            PointConfig::Script {
                script: "x".into(),
                timeout: ENV_SCRIPT_TIMEOUT,
            },
        )]);
        let s = select(HookPoint::VppDoneOk, &[], &off, &scripted).unwrap();
        assert!(matches!(s.handler, Handler::Script { .. }));
        assert!(env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "1")]).builtin_enabled);
        assert!(Environment::from_vars(|_| Some("nope".into())).is_err());
    }

    #[test]
    fn cli_specs_are_checked() {
        assert!(CliHandler::parse("vpp-running").is_err());
        assert!(CliHandler::parse("vpp-runnin=none").is_err());
        let c = CliHandler::parse("vpp-running=script:").unwrap();
        assert!(c.handler(&Config::default()).is_err());
        let c = CliHandler::parse("vpp-running=wasm:/x/Hook.wasm").unwrap();
        let err = c.handler(&Config::default()).unwrap_err().to_string();
        assert!(err.contains("hook name \"Hook\""), "{err}");
    }
}
