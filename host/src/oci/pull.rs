//! Fetching a hook's component: from the cache when everything asked for is
//! there, else from the registry, checked at every step, then cached.

use std::path::{Path, PathBuf};

use oci_client::errors::{DigestError, OciDistributionError};
use oci_client::manifest::{
    OciDescriptor, OciImageManifest, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use sha2::{Digest as _, Sha256};

use super::store::{sha256_digest, Store};
use super::{
    registry, sign, OciError, OciRef, RegistrySettings, MAX_COMPONENT_BYTES, WASM_LAYER_TYPES,
};

/// A component ready to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The cached blob: the component's bytes.
    pub path: PathBuf,
    /// `sha256:<hex>` of the manifest.
    pub manifest_digest: String,
    pub blob_sha256: [u8; 32],
    pub signature: SignatureStatus,
    /// Nothing was asked of the registry.
    pub from_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No `[hooks.<name>.verify]`.
    NotRequired,
    /// The manifest's cosign signature verified with the key whose file
    /// hashes to `key_sha256` (hex).
    Verified { key_sha256: String },
}

/// Fetch the component `reference` names into the cache under `cache_root`.
///
/// `pin` is the component's sha256; with it a tag reference can be served
/// from the cache. With `key` (a cosign public key PEM), the manifest's
/// signature must verify before the component is downloaded.
pub fn fetch(
    reference: &OciRef,
    pin: Option<[u8; 32]>,
    key: Option<&Path>,
    settings: &RegistrySettings,
    cache_root: &Path,
) -> Result<Fetched, OciError> {
    let store = Store::new(cache_root);
    let key = key
        .map(|path| key_sha256(path).map(|id| (path, id)))
        .transpose()?;
    // A hook runs at every dataplane point: what is cached never waits on
    // a registry, so a registry that went away after the first pull is
    // harmless.
    if let Some(f) = from_cache(&store, reference, pin, key.as_ref().map(|k| k.1.as_str())) {
        return Ok(f);
    }
    let deadline = settings.timeout;
    super::runtime()?.block_on(async {
        tokio::time::timeout(
            deadline,
            from_registry(&store, reference, pin, key, settings),
        )
        .await
        .unwrap_or_else(|_| {
            Err(OciError::Unreachable {
                reference: reference.clone(),
                registry: reference.registry().to_string(),
                cause: format!(
                    "no complete answer within {} ([registries] timeout)",
                    humantime::format_duration(deadline)
                ),
            })
        })
    })
}

/// The sha256 (hex) of a key file: what a verification record names.
fn key_sha256(path: &Path) -> Result<String, OciError> {
    let bytes = std::fs::read(path).map_err(|e| OciError::Key {
        path: path.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

fn from_cache(
    store: &Store,
    reference: &OciRef,
    pin: Option<[u8; 32]>,
    key_sha256: Option<&str>,
) -> Option<Fetched> {
    let manifest_digest = match reference.digest() {
        Some(d) => d.to_string(),
        // A tag moves; only the pin says which bytes are wanted.
        None => {
            pin?;
            store.tag(
                reference.registry(),
                reference.repository(),
                reference.tag()?,
            )?
        }
    };
    let manifest = store.manifest(&manifest_digest)?;
    let layer = wasm_layer(reference, &manifest_digest, &manifest).ok()?;
    let blob_sha256 = digest_bytes(&layer.digest)?;
    if pin.is_some_and(|p| p != blob_sha256) || !store.has_blob(&layer.digest) {
        return None;
    }
    let signature = match key_sha256 {
        None => SignatureStatus::NotRequired,
        Some(k) if store.is_verified(&manifest_digest, k) => SignatureStatus::Verified {
            key_sha256: k.to_string(),
        },
        Some(_) => return None,
    };
    Some(Fetched {
        path: store.blob_path(&layer.digest),
        manifest_digest,
        blob_sha256,
        signature,
        from_cache: true,
    })
}

async fn from_registry(
    store: &Store,
    reference: &OciRef,
    pin: Option<[u8; 32]>,
    key: Option<(&Path, String)>,
    settings: &RegistrySettings,
) -> Result<Fetched, OciError> {
    let client = registry::client(reference, settings);
    let auth = registry::auth(reference, settings)?;
    let accepted = [
        OCI_IMAGE_MEDIA_TYPE,
        OCI_IMAGE_INDEX_MEDIA_TYPE,
        IMAGE_MANIFEST_MEDIA_TYPE,
    ];
    let (manifest, _) = client
        .pull_manifest_raw(&reference.to_client(), &auth, &accepted)
        .await
        .map_err(|e| {
            explain(reference, settings, e, |expected, actual| {
                OciError::ManifestDigestMismatch {
                    reference: reference.clone(),
                    expected,
                    actual,
                }
            })
        })?;
    // The bytes decide the digest, whatever the registry's headers said.
    let manifest_digest = sha256_digest(&manifest);
    if let Some(expected) = reference.digest() {
        if expected != manifest_digest {
            return Err(OciError::ManifestDigestMismatch {
                reference: reference.clone(),
                expected: expected.to_string(),
                actual: manifest_digest,
            });
        }
    }
    // From here on only by digest: a tag moved after this point changes nothing.
    let pinned = reference.with_digest(&manifest_digest);
    let signature = match &key {
        None => SignatureStatus::NotRequired,
        Some((path, key_sha256)) => {
            sign::verify(
                reference,
                &manifest_digest,
                path,
                key_sha256,
                settings,
                &auth,
            )
            .await?;
            SignatureStatus::Verified {
                key_sha256: key_sha256.clone(),
            }
        }
    };
    let layer = wasm_layer(reference, &manifest_digest, &manifest)?;
    let blob_sha256 = digest_bytes(&layer.digest).ok_or_else(|| OciError::Registry {
        reference: reference.clone(),
        registry: reference.registry().to_string(),
        reason: format!("layer digest {:?} is not sha256:<64 hex>", layer.digest),
    })?;
    if let Some(p) = pin {
        if p != blob_sha256 {
            return Err(OciError::PinMismatch {
                reference: reference.clone(),
                actual: hex::encode(blob_sha256),
                pin: hex::encode(p),
            });
        }
    }
    // Bounded by what the manifest declares, before and during the
    // download: a registry cannot fill the node's memory or disk.
    let declared = u64::try_from(layer.size).unwrap_or(u64::MAX);
    if declared > MAX_COMPONENT_BYTES {
        return Err(OciError::Registry {
            reference: reference.clone(),
            registry: reference.registry().to_string(),
            reason: format!(
                "the component's layer declares {declared} bytes; at most {MAX_COMPONENT_BYTES} are accepted"
            ),
        });
    }
    let mut blob = Bounded {
        bytes: Vec::new(),
        limit: declared,
    };
    client
        .pull_blob(&pinned.to_client(), &layer, &mut blob)
        .await
        .map_err(|e| {
            explain(reference, settings, e, |expected, actual| {
                OciError::BlobTampered {
                    reference: reference.clone(),
                    expected,
                    actual,
                }
            })
        })?;
    let blob = blob.bytes;
    let actual = sha256_digest(&blob);
    if actual != layer.digest {
        return Err(OciError::BlobTampered {
            reference: reference.clone(),
            expected: layer.digest,
            actual,
        });
    }
    // The blob before the records that lead to it.
    let path = store.put_blob(&layer.digest, &blob)?;
    store.put_manifest(&manifest_digest, &manifest)?;
    if let Some((path, key_sha256)) = &key {
        store.put_verified(&manifest_digest, key_sha256, path)?;
    }
    if let Some(tag) = reference.tag() {
        store.put_tag(
            reference.registry(),
            reference.repository(),
            tag,
            &manifest_digest,
        )?;
    }
    Ok(Fetched {
        path,
        manifest_digest,
        blob_sha256,
        signature,
        from_cache: false,
    })
}

/// A download's bytes, refused past the size its descriptor declared.
struct Bounded {
    bytes: Vec<u8>,
    limit: u64,
}

impl tokio::io::AsyncWrite for Bounded {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.bytes.len() as u64 + buf.len() as u64 > self.limit {
            let limit = self.limit;
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the registry sent more than the {limit} bytes the layer declares"
            ))));
        }
        self.bytes.extend_from_slice(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// The one wasm layer of an OCI image manifest.
pub fn wasm_layer(
    reference: &OciRef,
    digest: &str,
    bytes: &[u8],
) -> Result<OciDescriptor, OciError> {
    let not_image = |found: String| OciError::NotAnImageManifest {
        reference: reference.clone(),
        digest: digest.to_string(),
        found,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| not_image(format!("not JSON ({e})")))?;
    match doc.get("mediaType").and_then(|m| m.as_str()) {
        Some(OCI_IMAGE_MEDIA_TYPE) => {}
        Some(other) => return Err(not_image(format!("a {other}"))),
        None if doc.get("manifests").is_some() => return Err(not_image("an image index".into())),
        // The media type is optional in an image manifest.
        None => {}
    }
    let manifest: OciImageManifest = serde_json::from_value(doc)
        .map_err(|e| not_image(format!("not a valid image manifest ({e})")))?;
    let [layer] =
        <[OciDescriptor; 1]>::try_from(manifest.layers).map_err(|layers| OciError::LayerCount {
            reference: reference.clone(),
            digest: digest.to_string(),
            count: layers.len(),
        })?;
    if !WASM_LAYER_TYPES.contains(&layer.media_type.as_str()) {
        return Err(OciError::MediaType {
            reference: reference.clone(),
            digest: digest.to_string(),
            found: layer.media_type,
        });
    }
    Ok(layer)
}

/// A registry error; a digest the client found wrong becomes `mismatch`
/// of what was expected and what arrived.
fn explain(
    reference: &OciRef,
    settings: &RegistrySettings,
    e: OciDistributionError,
    mismatch: impl FnOnce(String, String) -> OciError,
) -> OciError {
    match e {
        OciDistributionError::DigestError(DigestError::VerificationError { expected, actual }) => {
            mismatch(expected, actual)
        }
        e => registry::explain(reference, settings, e),
    }
}

fn digest_bytes(digest: &str) -> Option<[u8; 32]> {
    crate::units::parse_sha256(digest.strip_prefix("sha256:")?).ok()
}
