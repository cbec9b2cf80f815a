//! Everything a run is decided from: the config, the command line, the
//! dataplane's environment, the uplinks; and the capabilities each actor of
//! a run gets (`Host`s for a hook, for the built-in module, for undoing,
//! for nethook's own reads).

use std::fmt;
use std::time::Duration;

use crate::caps::{Audit, Caller, Grants, Host, Mode, Session};
use crate::config::Config;
use crate::dataplane::Environment;
use crate::error::Result;
use crate::hook::DEFAULT_TIMEOUT;
use crate::names::IfName;
use crate::point::{DataplanePoint, HookPoint};
use crate::select::{self, CliHandler, Selection};

/// Everything a run is decided from.
pub struct Options {
    pub config: Config,
    pub cli: Vec<CliHandler>,
    pub env: Environment,
    /// Uplinks from the command line (`--uplink`).
    pub uplinks: Vec<IfName>,
    /// The dataplane's `$1`, its first uplink (`nethook hook POINT UPLINK0`).
    pub uplink_arg: Option<IfName>,
    pub mode: Mode,
    pub audit: Audit,
}

/// Where the uplinks came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UplinkSource {
    Cli,
    Config(String),
    /// The dataplane's variables that named them.
    Env(Vec<&'static str>),
    /// The dataplane's `$1`.
    Arg,
    None,
}

impl fmt::Display for UplinkSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UplinkSource::Cli => f.write_str("command line --uplink"),
            UplinkSource::Config(file) => write!(f, "config {file}"),
            UplinkSource::Env(vars) => write!(f, "environment {}", vars.join(" then ")),
            UplinkSource::Arg => f.write_str("the dataplane's $1"),
            UplinkSource::None => f.write_str("nowhere"),
        }
    }
}

/// The uplinks of a run, in the dataplane's order, and their source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uplinks {
    pub names: Vec<IfName>,
    pub source: UplinkSource,
}

impl fmt::Display for Uplinks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.names.is_empty() {
            true => f.write_str("none"),
            false => {
                let names: Vec<&str> = self.names.iter().map(|n| n.as_ref()).collect();
                write!(f, "{} (from {})", names.join(", "), self.source)
            }
        }
    }
}

/// Warned about at before-if-read and in `check`: nothing can be captured.
pub const NO_UPLINKS: &str = "no uplinks: nothing is captured at before-if-read and no udev rule \
is written; name them in CALICOVPP_INTERFACES, `uplinks` in the config or --uplink";

impl Options {
    /// The first source that names any: the command line, the config, the
    /// dataplane's variables, then its `$1`.
    pub fn uplinks(&self) -> Uplinks {
        let (names, source) = if !self.uplinks.is_empty() {
            (self.uplinks.clone(), UplinkSource::Cli)
        } else if !self.config.uplinks.is_empty() {
            (
                self.config.uplinks.clone(),
                UplinkSource::Config(self.config.source()),
            )
        } else if !self.env.uplinks.is_empty() {
            (
                self.env.uplinks.clone(),
                UplinkSource::Env(self.env.uplink_vars.clone()),
            )
        } else if let Some(arg) = &self.uplink_arg {
            (vec![arg.clone()], UplinkSource::Arg)
        } else {
            (Vec::new(), UplinkSource::None)
        };
        Uplinks { names, source }
    }

    /// What the hooks of one run share, in `mode`, with a fresh effect list.
    pub fn session(&self, mode: Mode) -> Session {
        Session {
            state_dir: self.config.state_dir.clone(),
            node: self.config.node.clone(),
            mode,
            audit: self.audit.clone(),
            effects: Default::default(),
            txn: None,
        }
    }

    /// The grants a hook named `hook` has under this config: what undoing
    /// its journaled changes is checked against.
    fn grants_of(&self, hook: &str) -> Grants {
        match hook {
            crate::names::BUILTIN_HOOK => self.builtin_grants(),
            name => self
                .config
                .hooks
                .get(name)
                .map(|h| h.grants.clone())
                .unwrap_or_default(),
        }
    }

    /// Capabilities for `hook` at `point`, with a deadline.
    pub fn host(
        &self,
        session: &Session,
        hook: &str,
        point: HookPoint,
        grants: Grants,
        timeout: Duration,
    ) -> Host {
        let caller = Caller {
            hook: hook.to_string(),
            point,
        };
        let mut host = Host::new(caller, grants, session.clone());
        host.set_deadline(timeout);
        host
    }

    /// nethook's own capabilities at `point` (reads: uplinks, udev records),
    /// audited as hook `nethook`.
    pub fn own(&self, point: HookPoint) -> Host {
        let session = self.session(Mode::Apply);
        self.host(
            &session,
            "nethook",
            point,
            Grants::verifier(),
            DEFAULT_TIMEOUT,
        )
    }

    /// Capabilities for undoing what `hook` journaled at `point`, checked
    /// against the grants it has.
    pub fn undoer(&self, hook: &str, point: HookPoint) -> Host {
        let grants = self.grants_of(hook);
        let session = self.session(Mode::Apply);
        self.host(&session, hook, point, grants, DEFAULT_TIMEOUT)
    }

    /// `[builtin]`, with the dataplane's knobs applied:
    /// `CALICOVPP_ENABLE_NETWORK_MANAGER_HOOK=false` selects what the
    /// dataplane then runs itself (its default_hook.sh): `dns=none` edited
    /// into NetworkManager.conf, the network service restarted at every undo.
    pub fn builtin_grants(&self) -> Grants {
        match self.builtin_settings().restore_l3 {
            true => Grants::builtin_restoring_l3(),
            false => Grants::builtin(),
        }
    }

    pub fn builtin_settings(&self) -> crate::builtin::Settings {
        let mut s = self.config.builtin.clone();
        if let Some(v) = self.env.udev_net_name_rules {
            s.udev_net_name_rules = v;
        }
        if !self.env.builtin_enabled {
            s.dataplane_compatible();
        }
        s
    }

    pub fn select(&self, point: DataplanePoint) -> Result<Selection> {
        select::select(point, &self.cli, &self.env, &self.config)
    }
}
