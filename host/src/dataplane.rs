//! What the dataplane tells nethook through its environment: the hook
//! values it runs (`CALICOVPP_HOOK_<POINT>`), its uplinks
//! (`CALICOVPP_INTERFACE(S)`), its switches for the built-in behaviour,
//! and whether this nethook was started by a script another one runs.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::names::IfName;
use crate::point::DataplanePoint;

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
/// What the dataplane put in our environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Environment {
    /// `CALICOVPP_HOOK_<POINT>` values that are scripts of their own.
    pub scripts: BTreeMap<DataplanePoint, String>,
    /// `CALICOVPP_HOOK_<POINT>` values that run nethook: how the dataplane
    /// calls us, never a handler choice (that would call us again).
    pub invocations: BTreeMap<DataplanePoint, String>,
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
        for p in DataplanePoint::ALL {
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
    fn the_builtin_switch_is_a_boolean_as_go_reads_it() {
        let off = env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "False")]);
        assert!(!off.builtin_enabled);
        assert_eq!(
            off.compat_setting().as_deref(),
            Some("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=False")
        );
        assert!(env(&[("CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK", "1")]).builtin_enabled);
        assert!(Environment::from_vars(|_| Some("nope".into())).is_err());
    }
}
