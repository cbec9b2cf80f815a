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
use crate::names::IfName;
use crate::point::HookPoint;

/// `false` selects the built-in module's dataplane-compatible mode: what
/// the dataplane itself runs then (its default_hook.sh).
pub const ENV_BUILTIN_ENABLED: &str = "CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK";
/// The dataplane's debug knobs, a JSON object; `enableUdevNetNameRules`
/// overrides `[builtin] udev_net_name_rules`.
pub const ENV_DEBUG: &str = "CALICOVPP_DEBUG";
/// The deprecated single uplink; comes before `CALICOVPP_INTERFACES`.
pub const ENV_INTERFACE: &str = "CALICOVPP_INTERFACE";
/// `{"uplinkInterfaces":[{"interfaceName":"eth1", ...}, ...]}`.
pub const ENV_INTERFACES: &str = "CALICOVPP_INTERFACES";
/// Set by nethook on every process it starts that inherits its
/// environment (legacy scripts): a nethook that finds it was started,
/// however indirectly, by another and refuses to run a handler.
pub const ENV_PARENT: &str = "NETHOOK_PARENT";
/// Timeout of legacy scripts unless the config says otherwise: longer than
/// the slowest shipped case (the dataplane's default_hook.sh on a node
/// whose NetworkManager takes its full 90 s stop timeout to restart), but
/// a hung script still cannot hold the node forever.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq)]
pub enum Handler {
    Builtin,
    Wasm(Box<HookConfig>),
    Script {
        script: String,
        timeout: Duration,
    },
    None,
    /// Handlers run in order: `[[points.<point>.handlers]]`.
    Chain(Vec<Step>),
}

/// One handler of a chain, with its deadline already applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub handler: Handler,
    pub required: bool,
    /// The built-in module's deadline (a hook's or a script's is in its
    /// handler).
    pub timeout: Duration,
}

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
        source: crate::config::HookSource::File(path.clone()),
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

/// What the dataplane put in our environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    /// `CALICOVPP_HOOK_<POINT>` values that are scripts of their own.
    pub scripts: BTreeMap<HookPoint, String>,
    /// `CALICOVPP_HOOK_<POINT>` values that run nethook: how the dataplane
    /// calls us, never a handler choice (that would call us again).
    pub invocations: BTreeMap<HookPoint, String>,
    /// False when `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK` is false.
    pub builtin_enabled: bool,
    /// The variable's raw value, for `check` to quote.
    builtin_setting: Option<String>,
    /// `enableUdevNetNameRules` from `CALICOVPP_DEBUG`, when present.
    pub udev_net_name_rules: Option<bool>,
    /// Uplinks from `CALICOVPP_INTERFACE` then `CALICOVPP_INTERFACES`.
    pub uplinks: Vec<IfName>,
    /// Which of those variables were set, for `check`.
    pub uplink_vars: Vec<&'static str>,
    /// `NETHOOK_PARENT`: the nethook whose script started this one.
    pub parent: Option<String>,
}

impl Environment {
    pub fn from_process() -> Result<Environment> {
        Environment::from_vars(|k| std::env::var(k).ok())
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Environment> {
        let mut scripts = BTreeMap::new();
        let mut invocations = BTreeMap::new();
        for p in HookPoint::ALL {
            let Some(value) = get(&p.env_var()).filter(|s| !s.trim().is_empty()) else {
                continue;
            };
            if names_nethook(&value) {
                invocations.insert(p, value);
            } else {
                scripts.insert(p, value);
            }
        }
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
        let mut uplinks = Vec::new();
        let mut uplink_vars = Vec::new();
        if let Some(name) = get(ENV_INTERFACE).filter(|s| !s.trim().is_empty()) {
            let name = IfName::parse(&name)
                .map_err(|m| Error::Setting(format!("environment {ENV_INTERFACE}: {m}")))?;
            uplinks.push(name);
            uplink_vars.push(ENV_INTERFACE);
        }
        if let Some(json) = get(ENV_INTERFACES).filter(|s| !s.trim().is_empty()) {
            for name in interfaces(&json)? {
                if !uplinks.contains(&name) {
                    uplinks.push(name);
                }
            }
            uplink_vars.push(ENV_INTERFACES);
        }
        Ok(Environment {
            scripts,
            invocations,
            builtin_enabled,
            builtin_setting: setting,
            udev_net_name_rules,
            uplinks,
            uplink_vars,
            parent: get(ENV_PARENT).filter(|s| !s.is_empty()),
        })
    }

    /// How `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK` was set, when it
    /// selects the dataplane-compatible mode.
    pub fn compat_setting(&self) -> Option<String> {
        (!self.builtin_enabled).then(|| {
            format!(
                "{ENV_BUILTIN_ENABLED}={}",
                self.builtin_setting.clone().unwrap_or_default()
            )
        })
    }
}

/// Whether a dataplane hook value runs nethook: any word of it whose file
/// name is `nethook`, or that is this very executable. Such a value is how
/// the dataplane calls us, so running it as a script would call us again.
pub fn names_nethook(value: &str) -> bool {
    let me = std::env::current_exe().ok();
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "_./-+".contains(c)))
        .filter(|w| !w.is_empty())
        .any(|w| {
            w.rsplit('/').next() == Some("nethook")
                || (w.starts_with('/') && me.as_deref() == Some(std::path::Path::new(w)))
        })
}

/// The uplink names of `CALICOVPP_INTERFACES`, in order.
fn interfaces(json: &str) -> Result<Vec<IfName>> {
    let bad = |why: String| Error::Setting(format!("environment {ENV_INTERFACES}: {why}"));
    // The dataplane's interfaces fit in far less; bounded before parsing.
    const MAX: usize = 64 << 10;
    if json.len() > MAX {
        return Err(bad(format!("{} bytes; at most {MAX}", json.len())));
    }
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let list = match v.get("uplinkInterfaces") {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Array(a)) => a,
        Some(other) => return Err(bad(format!("uplinkInterfaces is {other}, not an array"))),
    };
    list.iter()
        .enumerate()
        .map(|(i, u)| {
            let name = u
                .get("interfaceName")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| bad(format!("uplinkInterfaces[{i}] has no interfaceName string")))?;
            IfName::parse(name)
                .map_err(|m| bad(format!("uplinkInterfaces[{i}].interfaceName: {m}")))
        })
        .collect()
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
                timeout: config.script_timeout,
            },
            Reason::EnvScript(point.env_var()),
        );
    }
    let (handler, reason) = match config.points.get(&point) {
        Some(pc) => (Handler::of(pc, config), Reason::Config(config.source())),
        None => (Handler::Builtin, Reason::Default),
    };
    chosen(handler, reason)
}

impl Handler {
    /// What a point's table in `config` selects.
    pub fn of(pc: &PointConfig, config: &Config) -> Handler {
        match pc {
            PointConfig::Builtin => Handler::Builtin,
            PointConfig::None => Handler::None,
            PointConfig::Script { script, timeout } => Handler::Script {
                script: script.clone(),
                timeout: *timeout,
            },
            // The config refuses a point naming a hook it does not define.
            PointConfig::Wasm { hook } => match config.hooks.get(hook) {
                Some(h) => Handler::Wasm(Box::new(h.clone())),
                None => Handler::None,
            },
            PointConfig::Chain(steps) => Handler::Chain(
                steps
                    .iter()
                    .map(|s| {
                        let mut handler = Handler::of(&s.handler, config);
                        if let (Handler::Wasm(h), Some(t)) = (&mut handler, s.timeout) {
                            h.timeout = t;
                        }
                        Step {
                            handler,
                            required: s.required,
                            timeout: s.timeout.unwrap_or(DEFAULT_TIMEOUT),
                        }
                    })
                    .collect(),
            ),
        }
    }

    /// The wasm hooks it runs, by name.
    pub fn hooks(&self) -> Vec<&str> {
        match self {
            Handler::Wasm(h) => vec![h.name.as_str()],
            Handler::Chain(steps) => steps.iter().flat_map(|s| s.handler.hooks()).collect(),
            _ => Vec::new(),
        }
    }

    /// What runs, in order: a chain's handlers, or this one, required.
    pub fn steps(&self) -> Vec<Step> {
        match self {
            Handler::Chain(steps) => steps.clone(),
            one => vec![Step {
                handler: one.clone(),
                required: true,
                timeout: DEFAULT_TIMEOUT,
            }],
        }
    }

    /// The name its capability calls, state and journal go under.
    pub fn hook_name(&self) -> &str {
        match self {
            Handler::Builtin => crate::builtin::HOOK_NAME,
            Handler::Wasm(h) => &h.name,
            Handler::Script { .. } => crate::script::HOOK_NAME,
            Handler::None => "none",
            Handler::Chain(_) => "chain",
        }
    }
}

impl fmt::Display for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handler::Builtin => f.write_str("builtin"),
            Handler::Wasm(h) => write!(f, "wasm {} ({})", h.name, h.component.display()),
            Handler::Script { script, .. } => write!(f, "script {script:?}"),
            Handler::None => f.write_str("none"),
            Handler::Chain(steps) => {
                f.write_str("chain: ")?;
                for (i, s) in steps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" -> ")?;
                    }
                    write!(f, "{}", s.handler)?;
                    if !s.required {
                        f.write_str(" (optional)")?;
                    }
                }
                Ok(())
            }
        }
    }
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
        let called = env(&[(
            "CALICOVPP_HOOK_VPP_RUNNING",
            "exec /usr/local/bin/nethook hook \"$0\" \"$1\"",
        )]);
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
        // A variable that calls nethook is how we are called, not a choice.
        let s = select(p, &[], &called, &none).unwrap();
        assert_eq!(
            (s.handler, s.reason),
            (Handler::None, Reason::Config("the embedded default".into()))
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
    fn the_builtin_switch_selects_the_compatible_mode() {
        let off = env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "False")]);
        let s = select(HookPoint::VppDoneOk, &[], &off, &Config::default()).unwrap();
        assert_eq!(s.handler, Handler::Builtin);
        assert_eq!(
            off.compat_setting().as_deref(),
            Some("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=False")
        );
        let scripted = config(&[(
            HookPoint::VppDoneOk,
            PointConfig::Script {
                script: "x".into(),
                timeout: DEFAULT_SCRIPT_TIMEOUT,
            },
        )]);
        let s = select(HookPoint::VppDoneOk, &[], &off, &scripted).unwrap();
        assert!(matches!(s.handler, Handler::Script { .. }));
        assert!(env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "1")]).builtin_enabled);
        assert!(Environment::from_vars(|_| Some("nope".into())).is_err());
    }

    #[test]
    fn values_that_call_nethook_are_recognised() {
        for v in [
            "nethook hook \"$0\" \"$1\"",
            "exec /usr/local/bin/nethook hook \"$0\" \"$1\"",
            "NETHOOK_CONFIG=/etc/x.toml nethook run before-vpp-run",
            "/opt/bin/nethook hook $0 $1 && echo done",
            "chroot /host /usr/bin/nethook hook VPP_RUNNING eth0",
        ] {
            assert!(names_nethook(v), "{v}");
        }
        for v in [
            "/usr/local/bin/my-hook.sh",
            "echo nethooked",
            "nethook.sh",
            "xnethook",
        ] {
            assert!(!names_nethook(v), "{v}");
        }
    }

    #[test]
    fn uplinks_come_from_the_dataplanes_variables_in_order() {
        let e = env(&[
            ("CALICOVPP_INTERFACE", "eth0"),
            (
                "CALICOVPP_INTERFACES",
                r#"{"uplinkInterfaces":[{"interfaceName":"eth1","vppDriver":"af_packet"},{"interfaceName":"eth0"},{"interfaceName":"eth2"}]}"#,
            ),
        ]);
        assert_eq!(e.uplinks, ["eth0", "eth1", "eth2"]);
        assert_eq!(
            e.uplink_vars,
            ["CALICOVPP_INTERFACE", "CALICOVPP_INTERFACES"]
        );
        assert!(env(&[("CALICOVPP_INTERFACES", "{}")]).uplinks.is_empty());
        let err = |json: &str| {
            Environment::from_vars(|k| (k == "CALICOVPP_INTERFACES").then(|| json.to_string()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(r#"{"uplinkInterfaces":[{"interfaceName":"eth1"},]}"#),
            "environment CALICOVPP_INTERFACES: invalid JSON: trailing comma at line 1 column 47"
        );
        assert_eq!(
            err(r#"{"uplinkInterfaces":[{"vppDriver":"af_xdp"}]}"#),
            "environment CALICOVPP_INTERFACES: uplinkInterfaces[0] has no interfaceName string"
        );
        assert_eq!(
            err(r#"{"uplinkInterfaces":[{"interfaceName":"-x/y"}]}"#),
            "environment CALICOVPP_INTERFACES: uplinkInterfaces[0].interfaceName: \"-x/y\" is not a valid interface name (1-15 bytes, no '/', ':' or whitespace, not starting with '-')"
        );
        assert_eq!(
            err(r#"{"uplinkInterfaces":{"interfaceName":"eth1"}}"#),
            "environment CALICOVPP_INTERFACES: uplinkInterfaces is {\"interfaceName\":\"eth1\"}, not an array"
        );
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
