//! Network namespaces other than nethook's own: a name under /run/netns
//! (iproute2's, CNI's) or a process's (`/proc/<pid>/ns/net`, the Ligato
//! agent's). A socket or a /proc/sys file opened by a thread inside a
//! namespace stays bound to it, so a short-lived thread enters the
//! namespace to open it and the caller's thread never leaves its own.

use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::{setns, CloneFlags};
use serde::{Deserialize, Serialize};

use super::{validate, CapError};
use crate::bindings::nethook::hooks::netlink::Netns;

/// A network namespace other than the hook's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetnsTarget {
    Named(String),
    Pid(u32),
}

impl NetnsTarget {
    /// Parsed from a hook's argument: a name must be one file under /run/netns.
    pub fn parse(ns: &Netns) -> Result<NetnsTarget, CapError> {
        match ns {
            Netns::Named(name) => {
                validate::netns_name(name)?;
                Ok(NetnsTarget::Named(name.clone()))
            }
            Netns::Pid(0) => Err(CapError::Invalid("pid 0 has no network namespace".into())),
            Netns::Pid(pid) => Ok(NetnsTarget::Pid(*pid)),
        }
    }

    pub fn parse_opt(ns: &Option<Netns>) -> Result<Option<NetnsTarget>, CapError> {
        ns.as_ref().map(NetnsTarget::parse).transpose()
    }

    pub fn to_wit(&self) -> Netns {
        match self {
            NetnsTarget::Named(n) => Netns::Named(n.clone()),
            NetnsTarget::Pid(p) => Netns::Pid(*p),
        }
    }

    pub fn path(&self) -> PathBuf {
        match self {
            NetnsTarget::Named(name) => {
                PathBuf::from(rtnetlink::NETNS_PATH.trim_end_matches('/')).join(name)
            }
            NetnsTarget::Pid(pid) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        }
    }

    pub fn open(&self) -> Result<File, CapError> {
        File::open(self.path())
            .map_err(|e| CapError::NotFound(format!("{self} ({}): {e}", self.path().display())))
    }
}

impl fmt::Display for NetnsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetnsTarget::Named(name) => write!(f, "netns {name}"),
            NetnsTarget::Pid(pid) => write!(f, "netns-of-pid {pid}"),
        }
    }
}

/// A namespace or, for `None`, the hook's own, as shown to people.
pub fn shown(ns: Option<&NetnsTarget>) -> String {
    ns.map_or_else(|| "own netns".to_string(), ToString::to_string)
}

/// The calling thread's own network namespace, to move a link back into.
pub fn own() -> Result<File, CapError> {
    File::open("/proc/thread-self/ns/net")
        .map_err(|e| CapError::Failed(format!("own network namespace: {e}")))
}

/// Run `f` on a thread inside `ns` (the caller's own for `None`) and
/// return its result; the thread ends with it.
pub fn within<T: Send>(
    ns: Option<&NetnsTarget>,
    f: impl FnOnce() -> Result<T, CapError> + Send,
) -> Result<T, CapError> {
    let Some(ns) = ns else { return f() };
    let target = ns.open()?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(&target, CloneFlags::CLONE_NEWNET)
                .map_err(|e| CapError::Failed(format!("entering {ns}: {e}")))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(CapError::Failed(format!("the thread inside {ns} died"))))
    })
}

/// A NETLINK_ROUTE socket bound to `ns`.
pub fn route_socket(ns: Option<&NetnsTarget>) -> Result<OwnedFd, CapError> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
    within(ns, || {
        socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .map_err(|e| CapError::Failed(format!("netlink socket in {}: {e}", shown(ns))))
    })
}
