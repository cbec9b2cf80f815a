//! Why a registry operation failed: each message names the reference (or
//! the file) and the reason.

use std::path::PathBuf;

use super::OciRef;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("{text:?} is not an OCI reference: {reason} (write oci://REGISTRY[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST])")]
    Reference { text: String, reason: String },

    #[error("{reference}: cannot reach registry {registry}: {cause}; nothing is cached for it")]
    Unreachable {
        reference: OciRef,
        registry: String,
        cause: String,
    },

    #[error("{reference}: registry {registry} did not answer over HTTPS ({cause}); plain HTTP is used only for loopback registries and those listed in [registries] insecure")]
    NotHttps {
        reference: OciRef,
        registry: String,
        cause: String,
    },

    #[error("{reference}: registry {registry}: {reason}")]
    Registry {
        reference: OciRef,
        registry: String,
        reason: String,
    },

    #[error("{reference}: no such manifest in the registry ({reason})")]
    ManifestNotFound { reference: OciRef, reason: String },

    #[error("{reference}: the registry sent a manifest whose sha256 is {actual}, not {expected}; refusing it")]
    ManifestDigestMismatch {
        reference: OciRef,
        expected: String,
        actual: String,
    },

    #[error(
        "{reference}: manifest {digest} is {found}, not an OCI image manifest with one wasm layer"
    )]
    NotAnImageManifest {
        reference: OciRef,
        digest: String,
        found: String,
    },

    #[error("{reference}: manifest {digest} has {count} layers; a hook artifact has exactly one, the component")]
    LayerCount {
        reference: OciRef,
        digest: String,
        count: usize,
    },

    #[error("{reference}: the layer of manifest {digest} has media type {found:?}; a hook's must be one of {}", super::WASM_LAYER_TYPES.join(", "))]
    MediaType {
        reference: OciRef,
        digest: String,
        found: String,
    },

    #[error(
        "{reference}: the component is sha256:{actual} but sha256 pins sha256:{pin}; refusing it"
    )]
    PinMismatch {
        reference: OciRef,
        actual: String,
        pin: String,
    },

    #[error("{reference}: blob {expected} was tampered with: its content hashes to {actual}; refusing it")]
    BlobTampered {
        reference: OciRef,
        expected: String,
        actual: String,
    },

    #[error("{reference}: no cosign signature found for manifest {digest} (looked for tag {tag})")]
    NoSignature {
        reference: OciRef,
        digest: String,
        tag: String,
    },

    #[error("{reference}: manifest {digest} is not signed by key {} (sha256:{key_sha256}): its signature was made by another key", key.display())]
    OtherKey {
        reference: OciRef,
        digest: String,
        key: PathBuf,
        key_sha256: String,
    },

    #[error("{reference}: the signature found for manifest {digest} signs {signed}, another manifest; refusing it")]
    OtherDigest {
        reference: OciRef,
        digest: String,
        signed: String,
    },

    #[error("key {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },

    #[error("[registries] auth {}: {reason}", path.display())]
    Auth { path: PathBuf, reason: String },

    #[error("{}: {reason}; nothing was pushed", path.display())]
    NotAComponent { path: PathBuf, reason: String },

    #[error("{reference}: {reason}")]
    Usage { reference: OciRef, reason: String },

    #[error("cache {}: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },

    /// Our own machinery: the async runtime, files we write.
    #[error("{0}")]
    Local(String),
}
