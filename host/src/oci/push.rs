//! Publishing one component as an OCI artifact in the CNCF wasm layout:
//! config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer.

use std::path::Path;

use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;

use super::store::sha256_digest;
use super::{registry, OciError, OciRef, RegistrySettings, WASM_CONFIG_TYPE};

/// The header of a component: `\0asm`, then version 0x0d and layer 1
/// (a core module has version 1, layer 0).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// Push the component at `wasm` to `reference` (which must name a tag) and
/// return the manifest's digest, `sha256:<hex>`.
///
/// Nothing time-dependent goes into the artifact, so pushing the same
/// component twice gives the same digest.
pub fn push(
    wasm: &Path,
    reference: &OciRef,
    settings: &RegistrySettings,
) -> Result<String, OciError> {
    if reference.tag().is_none() || reference.digest().is_some() {
        return Err(OciError::Usage {
            reference: reference.clone(),
            reason: "push to a tag (oci://REGISTRY/REPOSITORY:TAG); the digest is what push prints"
                .into(),
        });
    }
    let not_component = |reason: String| OciError::NotAComponent {
        path: wasm.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(wasm).map_err(|e| not_component(format!("cannot read: {e}")))?;
    check_component(&bytes).map_err(not_component)?;

    let layer_digest = sha256_digest(&bytes);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    }))
    .map_err(|e| OciError::Local(format!("cannot encode the artifact config: {e}")))?;
    let config_digest = sha256_digest(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_IMAGE_MEDIA_TYPE,
        "config": {
            "mediaType": WASM_CONFIG_TYPE,
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": layer_digest,
            "size": bytes.len(),
        }],
    }))
    .map_err(|e| OciError::Local(format!("cannot encode the manifest: {e}")))?;
    let manifest_digest = sha256_digest(&manifest);

    let client = registry::client(reference, settings);
    let auth = registry::auth(reference, settings)?;
    let image = reference.to_client();
    let explain = |e| registry::explain(reference, settings, e);
    super::runtime()?.block_on(async {
        client
            .store_auth_if_needed(image.resolve_registry(), &auth)
            .await;
        client
            .push_blob(&image, config, &config_digest)
            .await
            .map_err(explain)?;
        client
            .push_blob(&image, bytes, &layer_digest)
            .await
            .map_err(explain)?;
        let content_type = OCI_IMAGE_MEDIA_TYPE
            .parse()
            .map_err(|_| OciError::Local("bad manifest content type".into()))?;
        client
            .push_manifest_raw(&image, manifest, content_type)
            .await
            .map_err(explain)?;
        Ok(manifest_digest)
    })
}

fn check_component(bytes: &[u8]) -> Result<(), String> {
    match bytes.get(..8) {
        Some(h) if h == COMPONENT_HEADER => Ok(()),
        Some(h) if h[..4] == COMPONENT_HEADER[..4] && h[4..] == [1, 0, 0, 0] => Err(
            "is a core WebAssembly module, not a component; wrap it with `nethook componentize`"
                .into(),
        ),
        Some(h) if h[..4] == COMPONENT_HEADER[..4] => Err(format!(
            "is WebAssembly of an unknown version/layer {:02x?}, not a component",
            &h[4..]
        )),
        _ => Err("not a WebAssembly component (no \\0asm header)".into()),
    }
}
