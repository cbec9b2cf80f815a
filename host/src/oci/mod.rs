//! Hooks from an OCI registry: `component = "oci://…"` references, pulled
//! into a content-addressed cache, optionally checked against a cosign
//! signature; and the vendor side (`push`, `sign`, `generate_key_pair`).
//!
//! nethook's API stays synchronous: each call runs its registry requests on
//! a current-thread tokio runtime of its own.

mod error;
mod pull;
mod push;
mod reference;
mod registry;
mod sign;
mod store;

use std::fmt;
use std::path::PathBuf;

pub use error::OciError;
pub use pull::{fetch, wasm_layer, Fetched, SignatureStatus};
pub use push::push;
pub use reference::OciRef;
pub use sign::{generate_key_pair, sign};

/// The layer media types a hook artifact may carry: the CNCF wasm artifact
/// layout's and those of older tools (wkg, wasm-to-oci).
pub const WASM_LAYER_TYPES: [&str; 3] = [
    "application/wasm",
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

/// The config media type of the CNCF wasm OCI artifact layout.
pub const WASM_CONFIG_TYPE: &str = "application/vnd.wasm.config.v0+json";

/// `[registries]`: how registries are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// A docker-style `config.json` (`"auths": {host: {"auth": base64(user:pass)}}`).
    pub auth: Option<PathBuf>,
    /// `host[:port]` of registries reached over plain HTTP; loopback
    /// registries always are.
    pub insecure: Vec<String>,
    /// How long one hook's fetch may take in all (manifest, signature,
    /// blob): a registry that trickles bytes cannot hold a point longer.
    pub timeout: std::time::Duration,
}

/// `[registries] timeout` when not set.
pub const DEFAULT_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The largest component a registry may send: its descriptor's size is
/// checked before the download, and the download stops at it.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            auth: None,
            insecure: Vec::new(),
            timeout: DEFAULT_FETCH_TIMEOUT,
        }
    }
}

impl fmt::Display for SignatureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureStatus::NotRequired => f.write_str("not required"),
            SignatureStatus::Verified { key_sha256 } => {
                write!(f, "verified (key sha256:{key_sha256})")
            }
        }
    }
}

/// A current-thread runtime for one call's registry requests.
fn runtime() -> Result<tokio::runtime::Runtime, OciError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| OciError::Local(format!("cannot start the async runtime: {e}")))
}
