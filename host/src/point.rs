//! The five hook points of the dataplane's life.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPoint {
    BeforeIfRead,
    BeforeVppRun,
    VppRunning,
    VppDoneOk,
    VppErrored,
}

impl HookPoint {
    /// In the order the dataplane reaches them.
    pub const ALL: [HookPoint; 5] = [
        HookPoint::BeforeIfRead,
        HookPoint::BeforeVppRun,
        HookPoint::VppRunning,
        HookPoint::VppDoneOk,
        HookPoint::VppErrored,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookPoint::BeforeIfRead => "before-if-read",
            HookPoint::BeforeVppRun => "before-vpp-run",
            HookPoint::VppRunning => "vpp-running",
            HookPoint::VppDoneOk => "vpp-done-ok",
            HookPoint::VppErrored => "vpp-errored",
        }
    }

    /// The dataplane's variable naming a legacy script for this point,
    /// e.g. `CALICOVPP_HOOK_VPP_RUNNING`.
    pub fn env_var(self) -> String {
        format!(
            "CALICOVPP_HOOK_{}",
            self.name().replace('-', "_").to_uppercase()
        )
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hook point {0:?}; expected one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored")]
pub struct UnknownPoint(pub String);

impl FromStr for HookPoint {
    type Err = UnknownPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookPoint::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownPoint(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_env_vars_match_the_dataplane() {
        for p in HookPoint::ALL {
            assert_eq!(p.name().parse::<HookPoint>().unwrap(), p);
        }
        assert_eq!(
            HookPoint::VppRunning.env_var(),
            "CALICOVPP_HOOK_VPP_RUNNING"
        );
        assert_eq!(
            HookPoint::BeforeIfRead.env_var(),
            "CALICOVPP_HOOK_BEFORE_IF_READ"
        );
        assert!("vpp_running".parse::<HookPoint>().is_err());
    }
}
