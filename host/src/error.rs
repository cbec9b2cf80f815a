//! The library's error type and the process exit code each kind maps to.

use std::path::PathBuf;
use std::time::Duration;

use crate::config::ConfigError;
use crate::point::{DataplanePoint, HookPoint};

/// Exit codes of the `nethook` binary (documented in README.md).
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    pub const COMPONENT: u8 = 4;
    pub const HOOK_FAILED: u8 = 5;
    pub const HOOK_TRAPPED: u8 = 6;
    pub const HOOK_TIMED_OUT: u8 = 7;
    pub const VERIFY_FAILED: u8 = 8;
    pub const ROLLBACK_INCOMPLETE: u8 = 9;
    /// An `oci://` component could not be fetched or verified.
    pub const SOURCE: u8 = 10;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A setting outside the file: a command-line flag or an environment variable.
    #[error("{0}")]
    Setting(String),

    /// A component that cannot be run: unreadable, not a component, the
    /// wrong world or version, or not the pinned bytes.
    #[error("component {}: {reason}", path.display())]
    Component { path: PathBuf, reason: String },

    /// A hook's `oci://` component that could not be fetched, or was
    /// refused: unreachable and not cached, tampered, unsigned, ...
    #[error("hook {hook:?}: {reason}")]
    Source {
        hook: String,
        reason: Box<crate::oci::OciError>,
    },

    #[error("{hook} at {point}: hook returned an error: {message}")]
    HookFailed {
        hook: String,
        point: HookPoint,
        message: String,
    },

    #[error("{hook} at {point}: hook trapped: {message}")]
    HookTrapped {
        hook: String,
        point: HookPoint,
        message: String,
    },

    #[error("{hook} at {point}: hook timed out after {}", humantime::format_duration(*timeout))]
    HookTimedOut {
        hook: String,
        point: HookPoint,
        timeout: Duration,
    },

    #[error("{0}: a legacy script cannot be planned: it is not sandboxed, so its effects are unknown until it runs")]
    NotPlannable(DataplanePoint),

    /// A check of `[points.<point>.verify]` did not hold after the handler ran.
    #[error("{point}: verification failed: {why}")]
    VerifyFailed { point: HookPoint, why: String },

    /// A failed point whose rollback could not undo everything.
    #[error("{cause}; the rollback left {} change(s) as they are: {}", left.len(), left.join("; "))]
    RollbackIncomplete {
        cause: Box<Error>,
        left: Vec<String>,
    },

    /// Started, however indirectly, by a script another nethook ran.
    #[error("refusing to run a handler: this nethook was started by a script that nethook (pid {0}) is running, and running a handler again would re-enter it; make the dataplane's CALICOVPP_HOOK_<POINT> call nethook directly, and do not call nethook from a script handler")]
    Nested(String),

    /// The journal could not do its part (`txn`).
    #[error(transparent)]
    Txn(#[from] crate::txn::error::TxnError),

    /// Anything else: I/O on our own files, the runtime, netlink.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Setting(_) | Error::Nested(_) => exit::CONFIG,
            Error::Component { .. } => exit::COMPONENT,
            Error::Source { .. } => exit::SOURCE,
            Error::HookFailed { .. } => exit::HOOK_FAILED,
            Error::HookTrapped { .. } => exit::HOOK_TRAPPED,
            Error::HookTimedOut { .. } => exit::HOOK_TIMED_OUT,
            Error::NotPlannable(_) | Error::Txn(_) | Error::Other(_) => exit::FAILURE,
            Error::RollbackIncomplete { .. } => exit::ROLLBACK_INCOMPLETE,
            Error::VerifyFailed { .. } => exit::VERIFY_FAILED,
        }
    }

    /// Whether a point that failed so is rolled back (unless it keeps what
    /// it did): a handler that ran and failed, or a verification that did
    /// not hold. Decided here for every kind, so a new one must be too.
    pub fn rolls_back(&self) -> bool {
        match self {
            Error::HookFailed { .. }
            | Error::HookTrapped { .. }
            | Error::HookTimedOut { .. }
            | Error::VerifyFailed { .. } => true,
            // Nothing ran, or what ran is already dealt with.
            Error::Config(_)
            | Error::Setting(_)
            | Error::Component { .. }
            | Error::Source { .. }
            | Error::NotPlannable(_)
            | Error::RollbackIncomplete { .. }
            | Error::Nested(_)
            | Error::Txn(_)
            | Error::Other(_) => false,
        }
    }

    pub fn component(path: impl Into<PathBuf>, reason: impl Into<String>) -> Error {
        Error::Component {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
