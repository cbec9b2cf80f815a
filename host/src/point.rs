//! The points at which hooks run: the five of the dataplane's life, which
//! it calls nethook at, and the node's own network events, at which
//! `nethook watch` runs hooks. Two types, since nothing runs at both: a
//! function that runs a dataplane point takes a [`DataplanePoint`], one
//! that handles an event an [`EventPoint`]; [`HookPoint`] is either, for
//! what names a point without running it (logs, the journal, reports).

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::bindings::{WitEventPoint, WitPoint};

/// A point of the dataplane's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataplanePoint {
    BeforeIfRead,
    BeforeVppRun,
    VppRunning,
    VppDoneOk,
    VppErrored,
}

/// One of the node's own network events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventPoint {
    LinkAdded,
    LinkRemoved,
    LinkDown,
    LinkUp,
    AddressLost,
}

/// Either kind of point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    Dataplane(DataplanePoint),
    Event(EventPoint),
}

impl DataplanePoint {
    /// In the order the dataplane reaches them.
    pub const ALL: [DataplanePoint; 5] = [
        DataplanePoint::BeforeIfRead,
        DataplanePoint::BeforeVppRun,
        DataplanePoint::VppRunning,
        DataplanePoint::VppDoneOk,
        DataplanePoint::VppErrored,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DataplanePoint::BeforeIfRead => "before-if-read",
            DataplanePoint::BeforeVppRun => "before-vpp-run",
            DataplanePoint::VppRunning => "vpp-running",
            DataplanePoint::VppDoneOk => "vpp-done-ok",
            DataplanePoint::VppErrored => "vpp-errored",
        }
    }

    /// The dataplane's spelling, which it passes as `$0`: `VPP_RUNNING`.
    pub fn dataplane_name(self) -> &'static str {
        match self {
            DataplanePoint::BeforeIfRead => "BEFORE_IF_READ",
            DataplanePoint::BeforeVppRun => "BEFORE_VPP_RUN",
            DataplanePoint::VppRunning => "VPP_RUNNING",
            DataplanePoint::VppDoneOk => "VPP_DONE_OK",
            DataplanePoint::VppErrored => "VPP_ERRORED",
        }
    }

    /// The dataplane's variable for this point, e.g.
    /// `CALICOVPP_HOOK_VPP_RUNNING`: the command it runs there.
    pub fn env_var(self) -> String {
        format!("CALICOVPP_HOOK_{}", self.dataplane_name())
    }

    /// vpp-done-ok and vpp-errored: the dataplane has stopped.
    pub fn is_undo(self) -> bool {
        matches!(self, DataplanePoint::VppDoneOk | DataplanePoint::VppErrored)
    }

    /// The WIT spelling, which a hook is called with.
    pub fn wit(self) -> WitPoint {
        match self {
            DataplanePoint::BeforeIfRead => WitPoint::BeforeIfRead,
            DataplanePoint::BeforeVppRun => WitPoint::BeforeVppRun,
            DataplanePoint::VppRunning => WitPoint::VppRunning,
            DataplanePoint::VppDoneOk => WitPoint::VppDoneOk,
            DataplanePoint::VppErrored => WitPoint::VppErrored,
        }
    }
}

impl EventPoint {
    pub const ALL: [EventPoint; 5] = [
        EventPoint::LinkAdded,
        EventPoint::LinkRemoved,
        EventPoint::LinkDown,
        EventPoint::LinkUp,
        EventPoint::AddressLost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventPoint::LinkAdded => "link-added",
            EventPoint::LinkRemoved => "link-removed",
            EventPoint::LinkDown => "link-down",
            EventPoint::LinkUp => "link-up",
            EventPoint::AddressLost => "address-lost",
        }
    }

    /// The dataplane's shape of name, which a script gets as `$0`.
    pub fn dataplane_name(self) -> &'static str {
        match self {
            EventPoint::LinkAdded => "LINK_ADDED",
            EventPoint::LinkRemoved => "LINK_REMOVED",
            EventPoint::LinkDown => "LINK_DOWN",
            EventPoint::LinkUp => "LINK_UP",
            EventPoint::AddressLost => "ADDRESS_LOST",
        }
    }

    /// The WIT spelling, which an event hook is called with.
    pub fn wit(self) -> WitEventPoint {
        match self {
            EventPoint::LinkAdded => WitEventPoint::LinkAdded,
            EventPoint::LinkRemoved => WitEventPoint::LinkRemoved,
            EventPoint::LinkDown => WitEventPoint::LinkDown,
            EventPoint::LinkUp => WitEventPoint::LinkUp,
            EventPoint::AddressLost => WitEventPoint::AddressLost,
        }
    }
}

impl HookPoint {
    pub fn name(self) -> &'static str {
        match self {
            HookPoint::Dataplane(p) => p.name(),
            HookPoint::Event(p) => p.name(),
        }
    }

    /// `$0` of a script run at this point.
    pub fn dataplane_name(self) -> &'static str {
        match self {
            HookPoint::Dataplane(p) => p.dataplane_name(),
            HookPoint::Event(p) => p.dataplane_name(),
        }
    }
}

impl From<DataplanePoint> for HookPoint {
    fn from(p: DataplanePoint) -> HookPoint {
        HookPoint::Dataplane(p)
    }
}

impl From<EventPoint> for HookPoint {
    fn from(p: EventPoint) -> HookPoint {
        HookPoint::Event(p)
    }
}

impl fmt::Display for DataplanePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for EventPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for HookPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! serialize_by_name {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    )*};
}
serialize_by_name!(DataplanePoint, EventPoint, HookPoint);

/// A name that is not a point of the kind asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownPoint {
    #[error("unknown hook point {0:?}; expected one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored (or the dataplane's BEFORE_IF_READ, BEFORE_VPP_RUN, VPP_RUNNING, VPP_DONE_OK, VPP_ERRORED)")]
    Unknown(String),
    /// An event point named where only the dataplane's points make sense.
    #[error("{0} is an event point: `nethook watch` runs it when the node's network changes; `run`, `plan` and `hook` take one of before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored")]
    Event(EventPoint),
}

impl FromStr for DataplanePoint {
    type Err = UnknownPoint;

    /// Its name or the dataplane's spelling.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.parse::<HookPoint>()? {
            HookPoint::Dataplane(p) => Ok(p),
            HookPoint::Event(e) => Err(UnknownPoint::Event(e)),
        }
    }
}

impl FromStr for HookPoint {
    type Err = UnknownPoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataplanePoint::ALL
            .into_iter()
            .map(HookPoint::from)
            .chain(EventPoint::ALL.into_iter().map(HookPoint::from))
            .find(|p| p.name() == s || p.dataplane_name() == s)
            .ok_or_else(|| UnknownPoint::Unknown(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_env_vars_match_the_dataplane() {
        for p in DataplanePoint::ALL {
            assert_eq!(p.name().parse::<DataplanePoint>().unwrap(), p);
            assert_eq!(p.dataplane_name().parse::<DataplanePoint>().unwrap(), p);
        }
        for e in EventPoint::ALL {
            assert_eq!(e.name().parse::<HookPoint>().unwrap(), HookPoint::Event(e));
            assert_eq!(
                e.name().parse::<DataplanePoint>(),
                Err(UnknownPoint::Event(e))
            );
        }
        assert_eq!(
            DataplanePoint::VppRunning.env_var(),
            "CALICOVPP_HOOK_VPP_RUNNING"
        );
        assert_eq!(
            DataplanePoint::BeforeIfRead.env_var(),
            "CALICOVPP_HOOK_BEFORE_IF_READ"
        );
        for bad in ["vpp_running", "Vpp-Running", "VPP-RUNNING", ""] {
            assert!(bad.parse::<HookPoint>().is_err(), "{bad:?}");
        }
    }
}
