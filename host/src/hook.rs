//! A WASM hook as the config defines it: its component and where it comes
//! from, its limits, its own settings and its grants.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::caps::Grants;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_MEMORY: u64 = 64 << 20;

/// A WASM hook that points can select.
#[derive(Debug, Clone, PartialEq)]
pub struct HookConfig {
    pub name: String,
    /// Absolute, or relative to the current directory when the config came
    /// from the command line; paths in the file are relative to the file.
    /// For an `oci://` source, where the cached blob is (or will be, once
    /// `sources::fetch` has fetched it).
    pub component: PathBuf,
    /// Where `component` comes from.
    pub source: HookSource,
    /// `[hooks.<name>.verify] key`: the cosign public key that must have
    /// signed an `oci://` source.
    pub verify_key: Option<PathBuf>,
    /// What fetching an `oci://` source found (manifest, signature), once
    /// fetched.
    pub fetched: Option<Box<crate::oci::Fetched>>,
    pub sha256: Option<[u8; 32]>,
    pub timeout: Duration,
    pub memory: u64,
    pub config: Vec<(String, String)>,
    pub grants: Grants,
    pub on_failure: Option<OnFailure>,
}

/// A hook's component: a file, or an artifact in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookSource {
    File(PathBuf),
    Oci(crate::oci::OciRef),
}

impl std::fmt::Display for HookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookSource::File(path) => write!(f, "{}", path.display()),
            HookSource::Oci(reference) => write!(f, "{reference}"),
        }
    }
}

/// What a failed point leaves: `rollback` (default) undoes everything the
/// point changed; `keep` leaves it for someone to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    #[default]
    Rollback,
    Keep,
}
