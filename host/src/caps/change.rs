//! Changes as values: every mutating capability call is one [`Change`],
//! and what undoes it is more changes, captured from the node *before* the
//! call is made. Plan output, audit records and the journal are all
//! rendered from these values.
//!
//! Each capability owns its changes: `netlink::NetlinkChange`,
//! `host_fs::HostFsChange`, `systemd::SystemdChange`,
//! `network_manager::NetworkManagerChange`, `udev::UdevChange`,
//! `state::StateChange` and `l3::L3Change` (each in its module's
//! `change.rs`) hold the variants and implement [`CapabilityChange`]: the
//! grants each needs, how it is shown and how it is made again as an undo
//! step. [`Change`] wraps them (and
//! [`Change::InNetns`], a change made in another namespace) and delegates,
//! one arm per capability. The journal does not see the split: a change is
//! one flat object tagged `change`, as it always was.

use std::fmt;
use std::sync::LazyLock;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

pub use super::host_fs::{Expect, FileImage, HostFsChange};
pub use super::l3::L3Change;
pub use super::netlink::NetlinkChange;
pub use super::netns::NetnsTarget;
pub use super::network_manager::NetworkManagerChange;
pub use super::state::StateChange;
pub use super::systemd::SystemdChange;
pub use super::udev::UdevChange;
use super::{CapError, Grants};

/// What each capability says of its own changes: the contract [`Change`]
/// delegates to, one arm per capability. A new operation is a variant of
/// its capability's enum and an arm in each of these.
pub trait CapabilityChange: fmt::Display + Into<Change> {
    /// The WIT interface, as audited.
    const CAPABILITY: &'static str;
    /// Its `change` tags, as journaled: one per variant.
    const TAGS: &'static [&'static str];
    /// The grants it needs (see [`Change::grant`]).
    fn grant(&self, g: &Grants) -> Result<(), CapError>;
    /// The node object it changes (see [`Change::object`]).
    fn object(&self) -> Option<String>;
    /// The operation, as audited.
    fn operation(&self) -> &'static str;
    /// The arguments, as audited and planned.
    fn args(&self) -> String;
    /// Whether it survives a reboot (see [`Change::persistent`]).
    fn persistent(&self) -> bool;
    /// Whether it makes a service take configuration up again (see
    /// [`Change::reapplies`]).
    fn reapplies(&self) -> bool;
    /// Made again through the capability's view, as an undo step.
    fn apply(&self, h: &mut super::Host) -> Result<(), CapError>;
}

/// `Display` for a capability's change: `capability.operation args`, as
/// plans and rollbacks name it.
macro_rules! shown_as_a_call {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "{}.{} {}",
                    Self::CAPABILITY,
                    self.operation(),
                    self.args()
                )
            }
        }
    };
}
pub(crate) use shown_as_a_call;

/// One change to the node (or to nethook's state): the change of the
/// capability that makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Netlink(NetlinkChange),
    HostFs(HostFsChange),
    Systemd(SystemdChange),
    NetworkManager(NetworkManagerChange),
    Udev(UdevChange),
    State(StateChange),
    L3(L3Change),
    /// A netlink or sysctl change made inside another network namespace
    /// than the hook's own.
    InNetns {
        netns: NetnsTarget,
        inner: Box<Change>,
    },
}

/// `$own` with `$c` bound to the capability's change, whichever it is, or
/// `$in_netns` for a change made in another namespace.
macro_rules! by_capability {
    ($change:expr, $c:ident => $own:expr, $netns:pat => $in_netns:expr) => {
        match $change {
            Change::Netlink($c) => $own,
            Change::HostFs($c) => $own,
            Change::Systemd($c) => $own,
            Change::NetworkManager($c) => $own,
            Change::Udev($c) => $own,
            Change::State($c) => $own,
            Change::L3($c) => $own,
            $netns => $in_netns,
        }
    };
}

macro_rules! from_capability {
    ($($variant:ident($own:ty)),* $(,)?) => {
        $(impl From<$own> for Change {
            fn from(c: $own) -> Change {
                Change::$variant(c)
            }
        })*
    };
}

from_capability!(
    Netlink(NetlinkChange),
    HostFs(HostFsChange),
    Systemd(SystemdChange),
    NetworkManager(NetworkManagerChange),
    Udev(UdevChange),
    State(StateChange),
    L3(L3Change),
);

/// The tag of [`Change::InNetns`].
const IN_NETNS: &str = "in-netns";

/// Every `change` tag, capability by capability.
static TAGS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    [
        NetlinkChange::TAGS,
        HostFsChange::TAGS,
        SystemdChange::TAGS,
        NetworkManagerChange::TAGS,
        UdevChange::TAGS,
        StateChange::TAGS,
        &[IN_NETNS],
        L3Change::TAGS,
    ]
    .concat()
});

impl Change {
    /// The grants it needs, derived from the change itself: what
    /// [`Host::mutate`](super::Host) checks of every change it records,
    /// whatever the view that made it checked before. A view checks its
    /// arguments (and, in its own order, the same grants); a change can
    /// never be made without the grants it names.
    pub fn grant(&self, g: &Grants) -> Result<(), CapError> {
        by_capability!(self, c => c.grant(g),
            Change::InNetns { netns, inner } => g.netns(netns).and_then(|_| inner.grant(g)))
    }

    /// The node object it changes: what two handlers of one chain must not
    /// both change. None for what has no lasting object (a reload, a
    /// trigger, a wait) or is the hook's own (its state).
    pub fn object(&self) -> Option<String> {
        by_capability!(self, c => c.object(),
            Change::InNetns { netns, inner } => Some(format!("{} in netns {netns}", inner.object()?)))
    }

    /// The WIT interface it belongs to, as audited.
    pub fn capability(&self) -> &'static str {
        match self {
            Change::Netlink(_) => NetlinkChange::CAPABILITY,
            Change::HostFs(_) => HostFsChange::CAPABILITY,
            Change::Systemd(_) => SystemdChange::CAPABILITY,
            Change::NetworkManager(_) => NetworkManagerChange::CAPABILITY,
            Change::Udev(_) => UdevChange::CAPABILITY,
            Change::State(_) => StateChange::CAPABILITY,
            Change::L3(_) => L3Change::CAPABILITY,
            Change::InNetns { inner, .. } => inner.capability(),
        }
    }

    /// The operation, as audited.
    pub fn operation(&self) -> &'static str {
        by_capability!(self, c => c.operation(),
            Change::InNetns { inner, .. } => inner.operation())
    }

    /// The arguments, as audited and planned.
    pub fn args(&self) -> String {
        by_capability!(self, c => c.args(),
            Change::InNetns { netns, inner } => format!("{} in {netns}", inner.args()))
    }

    /// Survives a reboot: files, NetworkManager profiles, nethook's state.
    /// Kernel and unit state does not, so after a reboot it is not undone.
    pub fn persistent(&self) -> bool {
        by_capability!(self, c => c.persistent(), Change::InNetns { .. } => false)
    }

    /// Changes that make a service take up configuration put back by an
    /// undo: at a rollback they run once each, after everything else.
    pub fn reapplies(&self) -> bool {
        by_capability!(self, c => c.reapplies(), Change::InNetns { .. } => false)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{} {}",
            self.capability(),
            self.operation(),
            self.args()
        )
    }
}

/// [`Change::InNetns`] as journaled, tagged like every other change.
#[derive(Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
enum InNetnsRef<'a> {
    InNetns {
        netns: &'a NetnsTarget,
        inner: &'a Change,
    },
}

#[derive(Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
enum InNetnsOwned {
    InNetns {
        netns: NetnsTarget,
        inner: Box<Change>,
    },
}

/// A change as journaled: one flat object, its capability's variant under
/// the `change` tag, e.g. `{"change":"link-set-up","link":"eth0","up":true}`.
impl Serialize for Change {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        by_capability!(self, c => c.serialize(s),
            Change::InNetns { netns, inner } => InNetnsRef::InNetns { netns, inner }.serialize(s))
    }
}

/// Read back by its tag: the capability that owns the tag reads the
/// object (the tag first, then its other fields as they come), so a bad
/// field is reported as that capability's variant sees it, and a tag no
/// capability owns is named.
impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ByTag)
    }
}

struct ByTag;

impl<'de> de::Visitor<'de> for ByTag {
    type Value = Change;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a change")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Change, A::Error> {
        // nethook writes the tag first; fields before it are kept for the
        // owner, read as JSON values.
        let mut before = Vec::new();
        let tag = loop {
            match map.next_key::<String>()? {
                Some(k) if k == TAG => break map.next_value_seed(TagSeed)?,
                Some(k) => before.push((k, map.next_value::<serde_json::Value>()?)),
                None => return Err(de::Error::missing_field(TAG)),
            }
        };
        let owns = |tags: &[&str]| tags.contains(&tag.as_str());
        let rest = de::value::MapAccessDeserializer::new(Rest {
            tag: Some(tag.clone()),
            tag_value: None,
            before: before.into_iter(),
            value: None,
            map,
        });
        if owns(NetlinkChange::TAGS) {
            NetlinkChange::deserialize(rest).map(Change::Netlink)
        } else if owns(HostFsChange::TAGS) {
            HostFsChange::deserialize(rest).map(Change::HostFs)
        } else if owns(SystemdChange::TAGS) {
            SystemdChange::deserialize(rest).map(Change::Systemd)
        } else if owns(NetworkManagerChange::TAGS) {
            NetworkManagerChange::deserialize(rest).map(Change::NetworkManager)
        } else if owns(UdevChange::TAGS) {
            UdevChange::deserialize(rest).map(Change::Udev)
        } else if owns(StateChange::TAGS) {
            StateChange::deserialize(rest).map(Change::State)
        } else if owns(L3Change::TAGS) {
            L3Change::deserialize(rest).map(Change::L3)
        } else if tag == IN_NETNS {
            InNetnsOwned::deserialize(rest)
                .map(|InNetnsOwned::InNetns { netns, inner }| Change::InNetns { netns, inner })
        } else {
            Err(de::Error::unknown_variant(&tag, TAGS.as_slice()))
        }
    }
}

/// The field that names a change's variant.
const TAG: &str = "change";

/// A tag's value: a variant's name.
struct TagSeed;

impl<'de> de::DeserializeSeed<'de> for TagSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl de::Visitor<'_> for TagSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A change's object as its owner reads it: the tag again, the fields
/// read before the tag, then the rest of the object.
struct Rest<A> {
    tag: Option<String>,
    tag_value: Option<String>,
    before: std::vec::IntoIter<(String, serde_json::Value)>,
    value: Option<serde_json::Value>,
    map: A,
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some(tag) = self.tag.take() {
            self.tag_value = Some(tag);
            return seed
                .deserialize(de::value::StrDeserializer::new(TAG))
                .map(Some);
        }
        if let Some((k, v)) = self.before.next() {
            self.value = Some(v);
            return seed
                .deserialize(de::value::StringDeserializer::new(k))
                .map(Some);
        }
        self.map.next_key_seed(seed)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        if let Some(tag) = self.tag_value.take() {
            return seed.deserialize(de::value::StringDeserializer::new(tag));
        }
        if let Some(v) = self.value.take() {
            return seed.deserialize(Buffered(v, std::marker::PhantomData));
        }
        self.map.next_value_seed(seed)
    }
}

/// A field read before the tag, given to the owner with the error type of
/// the object it came from.
struct Buffered<E>(serde_json::Value, std::marker::PhantomData<E>);

impl<'de, E: de::Error> Deserializer<'de> for Buffered<E> {
    type Error = E;

    fn deserialize_any<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, E> {
        self.0.deserialize_any(v).map_err(E::custom)
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, v: V) -> Result<V::Value, E> {
        self.0.deserialize_option(v).map_err(E::custom)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, E> {
        self.0
            .deserialize_enum(name, variants, v)
            .map_err(E::custom)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// How a change is undone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "undo", rename_all = "kebab-case")]
pub enum Inverse {
    /// These changes, in order.
    Changes { changes: Vec<Change> },
    /// Nothing: the change found the node already so (or only waited).
    Nothing,
    /// It cannot be undone from here; rollback reports it as left.
    Irreversible { why: String },
}

impl Inverse {
    /// Undone by `changes` (none: nothing to undo).
    pub fn of<C: Into<Change>>(changes: Vec<C>) -> Inverse {
        if changes.is_empty() {
            Inverse::Nothing
        } else {
            Inverse::Changes {
                changes: changes.into_iter().map(Into::into).collect(),
            }
        }
    }
}

impl fmt::Display for Inverse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Inverse::Changes { changes } => {
                let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
                f.write_str(&shown.join("; "))
            }
            Inverse::Nothing => f.write_str("(nothing to undo)"),
            Inverse::Irreversible { why } => write!(f, "(irreversible: {why})"),
        }
    }
}

/// One change a hook made (or would make, in plan mode), with its undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effect {
    pub change: Change,
    pub inverse: Inverse,
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.change.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::nethook::hooks::netlink::{Family, RouteSpec, Rule};

    #[test]
    fn changes_round_trip_through_json_and_render_as_audited() {
        let c = Change::from(HostFsChange::FileRestore {
            path: "/etc/x".into(),
            previous: Some(FileImage {
                bytes: b"a\n".to_vec(),
                mode: 0o644,
            }),
            expect: Expect::Sha256("ab".into()),
        });
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"change":"file-restore","path":"/etc/x","previous":{"bytes":"610a","mode":420},"expect":{"sha256":"ab"}}"#
        );
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        assert_eq!(c.to_string(), "host-fs.restore /etc/x (2 bytes, mode 0644)");
        let r = Change::from(NetlinkChange::RouteAdd {
            route: RouteSpec {
                family: Family::Ipv4,
                destination: Some("10.0.0.0".into()),
                prefix_len: 8,
                gateway: Some("10.1.0.1".into()),
                output_link: Some("eth0".into()),
                table: 254,
                metric: Some(5),
                protocol: 4,
                scope: 0,
            },
        });
        assert_eq!(
            r.to_string(),
            "netlink.add-route ipv4 10.0.0.0/8 via 10.1.0.1 dev eth0 table 254 metric 5 proto 4 scope 0"
        );
        assert!(!r.persistent() && c.persistent());
    }

    #[test]
    fn the_lease_changes_render_and_reapply_as_they_should() {
        let load = Change::from(NetworkManagerChange::NmLoad {
            path: "/run/NetworkManager/system-connections/nethook-ens3.nmconnection".into(),
        });
        assert_eq!(
            load.to_string(),
            "network-manager.load /run/NetworkManager/system-connections/nethook-ens3.nmconnection"
        );
        let up = Change::from(NetworkManagerChange::NmActivate {
            uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
            ifname: "ens3".into(),
        });
        assert_eq!(
            up.to_string(),
            "network-manager.activate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 on ens3"
        );
        assert_eq!(
            up.object().as_deref(),
            Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
        );
        let keep = Change::from(NetlinkChange::AddressLifetime {
            link: "ens3".into(),
            address: "10.97.0.117".into(),
            prefix_len: 24,
            valid: None,
            preferred: Some(30),
        });
        assert_eq!(
            keep.to_string(),
            "netlink.set-address-lifetime ens3 10.97.0.117/24 valid forever preferred 30s"
        );
        // Reloads, reconfigures and triggers make a service take up what an
        // undo put back: run last; activations and lifetimes are undone.
        for c in [
            load,
            Change::from(NetworkManagerChange::NmReloadConf),
            Change::from(SystemdChange::NetworkdReload),
            Change::from(SystemdChange::NetworkdReconfigure {
                link: "ens3".into(),
            }),
            Change::from(UdevChange::UdevTriggerDevice {
                link: "ens3".into(),
                action: "change".into(),
            }),
        ] {
            assert!(c.reapplies() && !c.persistent(), "{c}");
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        }
        assert!(!up.reapplies() && !keep.reapplies());
    }

    /// One of every change, as journaled: the journal's format, which
    /// files already on disk are read back in.
    fn one_of_every_change() -> Vec<Change> {
        use crate::bindings::nethook::hooks::l3::{ConfSetting, L3Config, Neighbour};
        let route = RouteSpec {
            family: Family::Ipv6,
            destination: None,
            prefix_len: 0,
            gateway: Some("fe80::1".into()),
            output_link: None,
            table: 100,
            metric: None,
            protocol: 3,
            scope: 0,
        };
        let rule = Rule {
            family: Family::Ipv4,
            priority: Some(100),
            table: 100,
            source: Some("10.0.0.0".into()),
            source_len: 8,
            destination: None,
            destination_len: 0,
            input_link: Some("eth1".into()),
            fwmark: None,
        };
        let neighbour = Neighbour {
            family: Family::Ipv4,
            link: "eth0".into(),
            address: "10.0.0.2".into(),
            mac: Some("aa:bb:cc:dd:ee:ff".into()),
            state: 0x80,
        };
        let config = L3Config {
            link: "eth0".into(),
            mtu: 9000,
            up: true,
            addresses: Vec::new(),
            routes: Vec::new(),
            rules: vec![rule.clone()],
            neighbours: vec![neighbour.clone()],
            settings: vec![ConfSetting {
                family: Family::Ipv6,
                name: "accept_ra".into(),
                value: "2".into(),
            }],
            captured_at: 1_700_000_000,
            left_out: vec!["a route of table 7".into()],
        };
        let ns = NetnsTarget::Named("blue".into());
        let (l, u) = (|| "eth0".to_string(), || "x.service".to_string());
        use Change::InNetns;
        use HostFsChange::*;
        use L3Change::*;
        use NetlinkChange::*;
        use NetworkManagerChange::*;
        use StateChange::*;
        use SystemdChange::*;
        use UdevChange::*;
        /// Each a change of its capability's, as one [`Change`].
        macro_rules! changes {
            ($($c:expr),* $(,)?) => {
                vec![$(Change::from($c)),*]
            };
        }
        changes![
            LinkSetUp {
                link: l(),
                up: true,
            },
            LinkSetUp {
                link: l(),
                up: false,
            },
            LinkSetMtu {
                link: l(),
                mtu: 1500,
            },
            LinkRename {
                link: l(),
                to: "wan".into(),
            },
            LinkAltNameAdd {
                link: l(),
                name: "uplink".into(),
            },
            LinkAltNameDel {
                link: l(),
                name: "uplink".into(),
            },
            LinkMoveNetns {
                link: l(),
                target: ns.clone(),
            },
            LinkMoveNetns {
                link: l(),
                target: NetnsTarget::Pid(42),
            },
            AddressAdd {
                link: l(),
                address: "10.0.0.1".into(),
                prefix_len: 24,
            },
            AddressDel {
                link: l(),
                address: "fe80::1".into(),
                prefix_len: 64,
            },
            AddressLifetime {
                link: l(),
                address: "10.0.0.1".into(),
                prefix_len: 24,
                valid: None,
                preferred: Some(30),
            },
            RouteAdd {
                route: route.clone(),
            },
            RouteDel { route },
            RuleAdd { rule: rule.clone() },
            RuleDel { rule },
            FileWrite {
                path: "/etc/x".into(),
                size: 3,
                mode: Some(0o600),
                sha256: "ab".into(),
            },
            FileWrite {
                path: "/etc/x".into(),
                size: 3,
                mode: None,
                sha256: "ab".into(),
            },
            FileRemove {
                path: "/etc/x".into(),
            },
            FileRestore {
                path: "/etc/x".into(),
                previous: Some(FileImage {
                    bytes: b"a\n".to_vec(),
                    mode: 0o644,
                }),
                expect: Expect::Sha256("ab".into()),
            },
            FileRestore {
                path: "/etc/x".into(),
                previous: None,
                expect: Expect::Absent,
            },
            UnitStart { unit: u() },
            UnitStop { unit: u() },
            UnitRestart { unit: u() },
            UnitReload { unit: u() },
            UnitResetFailed { unit: u() },
            DaemonReload,
            NmModify {
                id: "Wired 1".into(),
                settings: vec![("ipv4.method".into(), "manual".into())],
            },
            NmUp {
                id: "Wired 1".into(),
            },
            NmDown {
                id: "Wired 1".into(),
            },
            NmReload,
            NmReloadConf,
            NmLoad {
                path: "/run/NetworkManager/system-connections/nethook-eth0.nmconnection".into(),
            },
            NmActivate {
                uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
                ifname: l(),
            },
            NmDeactivate {
                uuid: "5b5a80c5-8599-8e26-92a5-43d32bea4db6".into(),
            },
            NetworkdReload,
            NetworkdReconfigure { link: l() },
            UdevReloadRules,
            UdevTrigger {
                subsystem: "net".into(),
                action: "add".into(),
            },
            UdevTriggerDevice {
                link: l(),
                action: "change".into(),
            },
            UnitWaitActive {
                unit: u(),
                within: "5s".into(),
            },
            UdevSettle {
                within: "10s".into(),
            },
            StateSet {
                key: "k".into(),
                value: "v".into(),
            },
            StateDelete { key: "k".into() },
            InNetns {
                netns: NetnsTarget::Pid(7),
                inner: Box::new(InNetns {
                    netns: ns.clone(),
                    inner: Box::new(
                        SysctlSet {
                            key: "net.ipv4.conf.eth0.forwarding".into(),
                            value: "1".into(),
                        }
                        .into(),
                    ),
                }),
            },
            LinkMove {
                link: l(),
                from: None,
                to: Some(ns.clone()),
            },
            L3Apply {
                link: l(),
                netns: Some(ns),
                config,
            },
            NeighAdd {
                neighbour: neighbour.clone(),
            },
            NeighDel { neighbour },
            SysctlSet {
                key: "net.ipv4.conf.eth0.rp_filter".into(),
                value: "2".into(),
            },
        ]
    }

    /// Every variant is in [`one_of_every_change`]: a new one fails to
    /// compile here until it is.
    fn variant(c: &Change) -> &'static str {
        match c {
            Change::Netlink(c) => match c {
                NetlinkChange::LinkSetUp { .. } => "LinkSetUp",
                NetlinkChange::LinkSetMtu { .. } => "LinkSetMtu",
                NetlinkChange::LinkRename { .. } => "LinkRename",
                NetlinkChange::LinkAltNameAdd { .. } => "LinkAltNameAdd",
                NetlinkChange::LinkAltNameDel { .. } => "LinkAltNameDel",
                NetlinkChange::LinkMoveNetns { .. } => "LinkMoveNetns",
                NetlinkChange::AddressAdd { .. } => "AddressAdd",
                NetlinkChange::AddressDel { .. } => "AddressDel",
                NetlinkChange::AddressLifetime { .. } => "AddressLifetime",
                NetlinkChange::RouteAdd { .. } => "RouteAdd",
                NetlinkChange::RouteDel { .. } => "RouteDel",
                NetlinkChange::RuleAdd { .. } => "RuleAdd",
                NetlinkChange::RuleDel { .. } => "RuleDel",
            },
            Change::HostFs(c) => match c {
                HostFsChange::FileWrite { .. } => "FileWrite",
                HostFsChange::FileRemove { .. } => "FileRemove",
                HostFsChange::FileRestore { .. } => "FileRestore",
            },
            Change::Systemd(c) => match c {
                SystemdChange::UnitStart { .. } => "UnitStart",
                SystemdChange::UnitStop { .. } => "UnitStop",
                SystemdChange::UnitRestart { .. } => "UnitRestart",
                SystemdChange::UnitReload { .. } => "UnitReload",
                SystemdChange::UnitResetFailed { .. } => "UnitResetFailed",
                SystemdChange::DaemonReload => "DaemonReload",
                SystemdChange::NetworkdReload => "NetworkdReload",
                SystemdChange::NetworkdReconfigure { .. } => "NetworkdReconfigure",
                SystemdChange::UnitWaitActive { .. } => "UnitWaitActive",
            },
            Change::NetworkManager(c) => match c {
                NetworkManagerChange::NmModify { .. } => "NmModify",
                NetworkManagerChange::NmUp { .. } => "NmUp",
                NetworkManagerChange::NmDown { .. } => "NmDown",
                NetworkManagerChange::NmReload => "NmReload",
                NetworkManagerChange::NmReloadConf => "NmReloadConf",
                NetworkManagerChange::NmLoad { .. } => "NmLoad",
                NetworkManagerChange::NmActivate { .. } => "NmActivate",
                NetworkManagerChange::NmDeactivate { .. } => "NmDeactivate",
            },
            Change::Udev(c) => match c {
                UdevChange::UdevReloadRules => "UdevReloadRules",
                UdevChange::UdevTrigger { .. } => "UdevTrigger",
                UdevChange::UdevTriggerDevice { .. } => "UdevTriggerDevice",
                UdevChange::UdevSettle { .. } => "UdevSettle",
            },
            Change::State(c) => match c {
                StateChange::StateSet { .. } => "StateSet",
                StateChange::StateDelete { .. } => "StateDelete",
            },
            Change::L3(c) => match c {
                L3Change::LinkMove { .. } => "LinkMove",
                L3Change::L3Apply { .. } => "L3Apply",
                L3Change::NeighAdd { .. } => "NeighAdd",
                L3Change::NeighDel { .. } => "NeighDel",
                L3Change::SysctlSet { .. } => "SysctlSet",
            },
            Change::InNetns { .. } => "InNetns",
        }
    }

    #[test]
    fn every_change_journals_as_it_always_has() {
        let all = one_of_every_change();
        let kinds: std::collections::BTreeSet<_> = all.iter().map(variant).collect();
        assert_eq!(kinds.len(), 45, "one of every variant");
        let json: Vec<String> = all
            .iter()
            .map(|c| serde_json::to_string(c).unwrap())
            .collect();
        let want: Vec<&str> = EVERY_CHANGE_JSON.lines().collect();
        assert_eq!(json, want);
        for (c, j) in all.iter().zip(&json) {
            assert_eq!(&serde_json::from_str::<Change>(j).unwrap(), c);
        }
        let shown: Vec<String> = all
            .iter()
            .map(|c| format!("{c} | {:?}", c.object()))
            .collect();
        let want: Vec<&str> = EVERY_CHANGE_SHOWN.lines().collect();
        assert_eq!(shown, want);
    }

    #[test]
    fn every_change_names_the_grants_it_needs() {
        use super::super::grants::{Glob, NetlinkAccess};
        let globs = |v: &[&str]| v.iter().map(|p| Glob::new(p).unwrap()).collect::<Vec<_>>();
        let wide = Grants {
            netlink: NetlinkAccess::Write,
            links: globs(&["*"]),
            tables: vec![100],
            write_paths: globs(&["/**"]),
            units: globs(&["*"]),
            daemon_reload: true,
            connections: globs(&["*"]),
            nm_reload: true,
            udev: true,
            netns: globs(&["*"]),
            netns_by_pid: true,
            sysctls: globs(&["*"]),
            ..Grants::default()
        };
        for c in one_of_every_change() {
            let own = matches!(c, Change::State(_));
            assert_eq!(c.grant(&Grants::default()).is_ok(), own, "{c}");
            assert_eq!(c.grant(&wide), Ok(()), "{c}");
        }
        let every_link = Change::from(NetlinkChange::RuleAdd {
            rule: Rule {
                family: Family::Ipv4,
                priority: None,
                table: 254,
                source: None,
                source_len: 0,
                destination: None,
                destination_len: 0,
                input_link: None,
                fwmark: None,
            },
        });
        let main = Grants {
            tables: vec![254],
            ..wide
        };
        assert!(matches!(every_link.grant(&main), Err(CapError::Denied(_))));
    }

    /// Each tag is owned by one capability (the one whose change it
    /// reads back as), and every variant's tag is listed by its owner.
    #[test]
    fn each_change_tag_has_one_owner() {
        let owners: [(&str, &[&str]); 8] = [
            ("netlink", NetlinkChange::TAGS),
            ("host-fs", HostFsChange::TAGS),
            ("systemd", SystemdChange::TAGS),
            ("network-manager", NetworkManagerChange::TAGS),
            ("udev", UdevChange::TAGS),
            ("state", StateChange::TAGS),
            ("l3", L3Change::TAGS),
            ("in-netns", &[IN_NETNS]),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for c in one_of_every_change() {
            let json = serde_json::to_value(&c).unwrap();
            let tag = json["change"].as_str().unwrap().to_string();
            let owning: Vec<&str> = owners
                .iter()
                .filter(|(_, tags)| tags.contains(&tag.as_str()))
                .map(|(owner, _)| *owner)
                .collect();
            let want = match &c {
                Change::InNetns { .. } => "in-netns",
                own => own.capability(),
            };
            assert_eq!(owning, [want], "{tag}");
            seen.insert(tag);
        }
        let all: std::collections::BTreeSet<String> = TAGS.iter().map(|t| t.to_string()).collect();
        assert_eq!((TAGS.len(), seen), (45, all));
    }

    /// A journal line whose change has a tag no capability owns names the
    /// tag; one whose change has a known tag and a bad field gets that
    /// variant's own error. Read back on their own, the position is said.
    #[test]
    fn a_corrupt_journal_line_says_what_is_wrong_with_its_change() {
        use super::super::journal::Record;
        let journaled = |change: &str| {
            let line =
                r#"{"record":"change","seq":1,"hook":"h","change":CHANGE,"inverse":{"undo":"nothing"}}"#
                    .replace("CHANGE", change);
            serde_json::from_str::<Record>(&line)
                .unwrap_err()
                .to_string()
        };
        let alone = |change: &str| {
            serde_json::from_str::<Change>(change)
                .unwrap_err()
                .to_string()
        };
        let unknown = r#"{"change":"link-set-sideways","link":"eth0"}"#;
        let expected = "unknown variant `link-set-sideways`, expected one of `link-set-up`, `link-set-mtu`, `link-rename`, `link-alt-name-add`, `link-alt-name-del`, `link-move-netns`, `address-add`, `address-del`, `address-lifetime`, `route-add`, `route-del`, `rule-add`, `rule-del`, `file-write`, `file-remove`, `file-restore`, `unit-start`, `unit-stop`, `unit-restart`, `unit-reload`, `unit-reset-failed`, `daemon-reload`, `networkd-reload`, `networkd-reconfigure`, `unit-wait-active`, `nm-modify`, `nm-up`, `nm-down`, `nm-reload`, `nm-reload-conf`, `nm-load`, `nm-activate`, `nm-deactivate`, `udev-reload-rules`, `udev-trigger`, `udev-trigger-device`, `udev-settle`, `state-set`, `state-delete`, `in-netns`, `link-move`, `l3-apply`, `neigh-add`, `neigh-del`, `sysctl-set`";
        assert_eq!(journaled(unknown), expected);
        assert_eq!(alone(unknown), format!("{expected} at line 1 column 29"));
        let bad = r#"{"change":"link-set-mtu","link":"eth0","mtu":"big"}"#;
        assert_eq!(
            journaled(bad),
            r#"invalid type: string "big", expected u32"#
        );
        assert_eq!(
            alone(bad),
            r#"invalid type: string "big", expected u32 at line 1 column 51"#
        );
        let missing = r#"{"change":"in-netns","netns":{"pid":7},"inner":{"change":"unit-start"}}"#;
        assert_eq!(journaled(missing), "missing field `unit`");
        assert_eq!(
            alone(r#"{"link":"eth0"}"#),
            "missing field `change` at line 1 column 15"
        );
        assert_eq!(
            alone(r#"{"change":"link-set-mtu","link":"eth0","mtu":1,"mtu":2}"#),
            "duplicate field `mtu` at line 1 column 55"
        );
        // The tag need not come first (nethook writes it first).
        assert_eq!(
            serde_json::from_str::<Change>(
                r#"{"link":"eth0","target":{"pid":3},"change":"link-move-netns"}"#
            )
            .unwrap(),
            Change::from(NetlinkChange::LinkMoveNetns {
                link: "eth0".into(),
                target: NetnsTarget::Pid(3),
            })
        );
    }

    /// Captured before the change enum was split by capability.
    const EVERY_CHANGE_JSON: &str = r#"{"change":"link-set-up","link":"eth0","up":true}
{"change":"link-set-up","link":"eth0","up":false}
{"change":"link-set-mtu","link":"eth0","mtu":1500}
{"change":"link-rename","link":"eth0","to":"wan"}
{"change":"link-alt-name-add","link":"eth0","name":"uplink"}
{"change":"link-alt-name-del","link":"eth0","name":"uplink"}
{"change":"link-move-netns","link":"eth0","target":{"named":"blue"}}
{"change":"link-move-netns","link":"eth0","target":{"pid":42}}
{"change":"address-add","link":"eth0","address":"10.0.0.1","prefix_len":24}
{"change":"address-del","link":"eth0","address":"fe80::1","prefix_len":64}
{"change":"address-lifetime","link":"eth0","address":"10.0.0.1","prefix_len":24,"valid":null,"preferred":30}
{"change":"route-add","route":{"family":"Ipv6","destination":null,"prefix_len":0,"gateway":"fe80::1","output_link":null,"table":100,"metric":null,"protocol":3,"scope":0}}
{"change":"route-del","route":{"family":"Ipv6","destination":null,"prefix_len":0,"gateway":"fe80::1","output_link":null,"table":100,"metric":null,"protocol":3,"scope":0}}
{"change":"rule-add","rule":{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}}
{"change":"rule-del","rule":{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}}
{"change":"file-write","path":"/etc/x","size":3,"mode":384,"sha256":"ab"}
{"change":"file-write","path":"/etc/x","size":3,"mode":null,"sha256":"ab"}
{"change":"file-remove","path":"/etc/x"}
{"change":"file-restore","path":"/etc/x","previous":{"bytes":"610a","mode":420},"expect":{"sha256":"ab"}}
{"change":"file-restore","path":"/etc/x","previous":null,"expect":"absent"}
{"change":"unit-start","unit":"x.service"}
{"change":"unit-stop","unit":"x.service"}
{"change":"unit-restart","unit":"x.service"}
{"change":"unit-reload","unit":"x.service"}
{"change":"unit-reset-failed","unit":"x.service"}
{"change":"daemon-reload"}
{"change":"nm-modify","id":"Wired 1","settings":[["ipv4.method","manual"]]}
{"change":"nm-up","id":"Wired 1"}
{"change":"nm-down","id":"Wired 1"}
{"change":"nm-reload"}
{"change":"nm-reload-conf"}
{"change":"nm-load","path":"/run/NetworkManager/system-connections/nethook-eth0.nmconnection"}
{"change":"nm-activate","uuid":"5b5a80c5-8599-8e26-92a5-43d32bea4db6","ifname":"eth0"}
{"change":"nm-deactivate","uuid":"5b5a80c5-8599-8e26-92a5-43d32bea4db6"}
{"change":"networkd-reload"}
{"change":"networkd-reconfigure","link":"eth0"}
{"change":"udev-reload-rules"}
{"change":"udev-trigger","subsystem":"net","action":"add"}
{"change":"udev-trigger-device","link":"eth0","action":"change"}
{"change":"unit-wait-active","unit":"x.service","within":"5s"}
{"change":"udev-settle","within":"10s"}
{"change":"state-set","key":"k","value":"v"}
{"change":"state-delete","key":"k"}
{"change":"in-netns","netns":{"pid":7},"inner":{"change":"in-netns","netns":{"named":"blue"},"inner":{"change":"sysctl-set","key":"net.ipv4.conf.eth0.forwarding","value":"1"}}}
{"change":"link-move","link":"eth0","from":null,"to":{"named":"blue"}}
{"change":"l3-apply","link":"eth0","netns":{"named":"blue"},"config":{"link":"eth0","mtu":9000,"up":true,"addresses":[],"routes":[],"rules":[{"family":"Ipv4","priority":100,"table":100,"source":"10.0.0.0","source_len":8,"destination":null,"destination_len":0,"input_link":"eth1","fwmark":null}],"neighbours":[{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}],"settings":[{"family":"Ipv6","name":"accept_ra","value":"2"}],"captured_at":1700000000,"left_out":["a route of table 7"]}}
{"change":"neigh-add","neighbour":{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}}
{"change":"neigh-del","neighbour":{"family":"Ipv4","link":"eth0","address":"10.0.0.2","mac":"aa:bb:cc:dd:ee:ff","state":128}}
{"change":"sysctl-set","key":"net.ipv4.conf.eth0.rp_filter","value":"2"}"#;
    const EVERY_CHANGE_SHOWN: &str = r#"netlink.set-up eth0 | Some("link eth0 up/down")
netlink.set-down eth0 | Some("link eth0 up/down")
netlink.set-mtu eth0 1500 | Some("link eth0 mtu")
netlink.rename eth0 wan | Some("link eth0 name")
netlink.add-alt-name eth0 uplink | Some("link name uplink")
netlink.del-alt-name eth0 uplink | Some("link name uplink")
netlink.move-to-netns eth0 netns blue | Some("link eth0 namespace")
netlink.move-to-netns eth0 netns-of-pid 42 | Some("link eth0 namespace")
netlink.add-address eth0 10.0.0.1/24 | Some("address eth0 10.0.0.1/24")
netlink.del-address eth0 fe80::1/64 | Some("address eth0 fe80::1/64")
netlink.set-address-lifetime eth0 10.0.0.1/24 valid forever preferred 30s | Some("address eth0 10.0.0.1/24")
netlink.add-route ipv6 default/0 via fe80::1 table 100 proto 3 scope 0 | Some("netlink ipv6 default/0 via fe80::1 table 100 proto 3 scope 0")
netlink.del-route ipv6 default/0 via fe80::1 table 100 proto 3 scope 0 | Some("netlink ipv6 default/0 via fe80::1 table 100 proto 3 scope 0")
netlink.add-rule ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100 | Some("netlink ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100")
netlink.del-rule ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100 | Some("netlink ipv4 priority 100 from 10.0.0.0/8 iif eth1 table 100")
host-fs.write /etc/x (3 bytes, mode 0600) | Some("file /etc/x")
host-fs.write /etc/x (3 bytes) | Some("file /etc/x")
host-fs.remove /etc/x | Some("file /etc/x")
host-fs.restore /etc/x (2 bytes, mode 0644) | Some("file /etc/x")
host-fs.restore /etc/x (absent) | Some("file /etc/x")
systemd.start x.service | Some("unit x.service")
systemd.stop x.service | Some("unit x.service")
systemd.restart x.service | Some("unit x.service")
systemd.reload x.service | Some("unit x.service")
systemd.reset-failed x.service | Some("unit x.service")
systemd.daemon-reload  | None
network-manager.connection-modify Wired 1 ipv4.method=manual | Some("connection Wired 1")
network-manager.connection-up Wired 1 | Some("connection Wired 1")
network-manager.connection-down Wired 1 | Some("connection Wired 1")
network-manager.reload  | None
network-manager.reload-conf  | None
network-manager.load /run/NetworkManager/system-connections/nethook-eth0.nmconnection | None
network-manager.activate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 on eth0 | Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
network-manager.deactivate 5b5a80c5-8599-8e26-92a5-43d32bea4db6 | Some("connection 5b5a80c5-8599-8e26-92a5-43d32bea4db6")
systemd.networkd-reload  | None
systemd.networkd-reconfigure eth0 | None
udev.reload-rules  | None
udev.trigger subsystem=net action=add | None
udev.trigger-device eth0 action=change | None
systemd.wait-active x.service within 5s | None
udev.settle 10s | None
state.set k (1 bytes) | None
state.delete k | None
l3.sysctl-set net.ipv4.conf.eth0.forwarding=1 in netns blue in netns-of-pid 7 | Some("sysctl net.ipv4.conf.eth0.forwarding in netns netns blue in netns netns-of-pid 7")
l3.move-link eth0 from own netns to netns blue | Some("link eth0 namespace")
l3.apply eth0 in netns blue: mtu 9000, 0 addresses, 0 routes, 1 rules, 1 neighbours, 1 settings | Some("link eth0 layer 3")
l3.add-neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80 | Some("neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80")
l3.del-neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80 | Some("neighbour eth0 10.0.0.2 lladdr aa:bb:cc:dd:ee:ff state 0x80")
l3.sysctl-set net.ipv4.conf.eth0.rp_filter=2 | Some("sysctl net.ipv4.conf.eth0.rp_filter")"#;
}
