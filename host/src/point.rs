//! The five hook points of the dataplane's life, and the node's own network
//! events at which `nethook watch` runs hooks.

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
    LinkAdded,
    LinkRemoved,
    LinkDown,
    LinkUp,
    AddressLost,
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

    /// The event points, run by `nethook watch`, never by the dataplane.
    pub const EVENTS: [HookPoint; 5] = [
        HookPoint::LinkAdded,
        HookPoint::LinkRemoved,
        HookPoint::LinkDown,
        HookPoint::LinkUp,
        HookPoint::AddressLost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookPoint::LinkAdded => "link-added",
            HookPoint::LinkRemoved => "link-removed",
            HookPoint::LinkDown => "link-down",
            HookPoint::LinkUp => "link-up",
            HookPoint::AddressLost => "address-lost",
            HookPoint::BeforeIfRead => "before-if-read",
            HookPoint::BeforeVppRun => "before-vpp-run",
            HookPoint::VppRunning => "vpp-running",
            HookPoint::VppDoneOk => "vpp-done-ok",
            HookPoint::VppErrored => "vpp-errored",
        }
    }

    /// The dataplane's spelling, which it passes as `$0`: `VPP_RUNNING`
    /// (for an event point, the same shape: `LINK_ADDED`).
    pub fn dataplane_name(self) -> &'static str {
        match self {
            HookPoint::BeforeIfRead => "BEFORE_IF_READ",
            HookPoint::BeforeVppRun => "BEFORE_VPP_RUN",
            HookPoint::VppRunning => "VPP_RUNNING",
            HookPoint::VppDoneOk => "VPP_DONE_OK",
            HookPoint::VppErrored => "VPP_ERRORED",
            HookPoint::LinkAdded => "LINK_ADDED",
            HookPoint::LinkRemoved => "LINK_REMOVED",
            HookPoint::LinkDown => "LINK_DOWN",
            HookPoint::LinkUp => "LINK_UP",
            HookPoint::AddressLost => "ADDRESS_LOST",
        }
    }

    /// The dataplane's variable for this point, e.g.
    /// `CALICOVPP_HOOK_VPP_RUNNING`: the command it runs there.
    pub fn env_var(self) -> String {
        format!("CALICOVPP_HOOK_{}", self.dataplane_name())
    }

    /// vpp-done-ok and vpp-errored: the dataplane has stopped.
    pub fn is_undo(self) -> bool {
        matches!(self, HookPoint::VppDoneOk | HookPoint::VppErrored)
    }

    /// One of the node's own events, not a dataplane point.
    pub fn is_event(self) -> bool {
        HookPoint::EVENTS.contains(&self)
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hook point {0:?}; expected one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored (or the dataplane's BEFORE_IF_READ, BEFORE_VPP_RUN, VPP_RUNNING, VPP_DONE_OK, VPP_ERRORED)")]
pub struct UnknownPoint(pub String);

impl FromStr for HookPoint {
    type Err = UnknownPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HookPoint::ALL
            .into_iter()
            .chain(HookPoint::EVENTS)
            .find(|p| p.name() == s || p.dataplane_name() == s)
            .ok_or_else(|| UnknownPoint(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_env_vars_match_the_dataplane() {
        for p in HookPoint::ALL.into_iter().chain(HookPoint::EVENTS) {
            assert_eq!(p.name().parse::<HookPoint>().unwrap(), p);
            assert_eq!(p.dataplane_name().parse::<HookPoint>().unwrap(), p);
        }
        assert_eq!(
            HookPoint::VppRunning.env_var(),
            "CALICOVPP_HOOK_VPP_RUNNING"
        );
        assert_eq!(
            HookPoint::BeforeIfRead.env_var(),
            "CALICOVPP_HOOK_BEFORE_IF_READ"
        );
        for bad in ["vpp_running", "Vpp-Running", "VPP-RUNNING", ""] {
            assert!(bad.parse::<HookPoint>().is_err(), "{bad:?}");
        }
    }
}
