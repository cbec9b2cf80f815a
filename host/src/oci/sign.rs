//! Cosign signatures with a key pair, in cosign's own formats, so a vendor
//! needs no other tool and cosign can check what nethook signed (and the
//! other way round): an encrypted private key PEM and a PKIX public key
//! PEM; a "simple signing" payload for the manifest digest, pushed as the
//! one layer of tag `sha256-<hex>.sig`.
//!
//! Key-based only: no Fulcio certificates, no Rekor transparency log, so
//! verification needs nothing but the registry and the public key.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use oci_client::manifest::OCI_IMAGE_MEDIA_TYPE;
use oci_client::secrets::RegistryAuth;
use sigstore::cosign::constraint::PrivateKeySigner;
use sigstore::cosign::verification_constraint::{PublicKeyVerifier, VerificationConstraint};
use sigstore::cosign::{Constraint, CosignCapabilities as _, SignatureLayer};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, OciReference};

use super::{registry, OciError, OciRef, RegistrySettings};

/// cosign's layer media type for a simple signing payload.
const SIMPLE_SIGNING_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";

/// Write `cosign.key` (encrypted with `password`, mode 0600) and
/// `cosign.pub` in `dir`; an existing key is never overwritten.
pub fn generate_key_pair(dir: &Path, password: &[u8]) -> Result<(PathBuf, PathBuf), OciError> {
    let private = dir.join("cosign.key");
    let public = dir.join("cosign.pub");
    let key_err = |path: &Path, reason: String| OciError::Key {
        path: path.to_path_buf(),
        reason,
    };
    for p in [&private, &public] {
        if p.exists() {
            return Err(key_err(
                p,
                "already exists; refusing to overwrite a key".into(),
            ));
        }
    }
    let pair = SigningScheme::ECDSA_P256_SHA256_ASN1
        .create_signer()
        .and_then(|s| s.to_sigstore_keypair())
        .map_err(|e| OciError::Local(format!("cannot generate a key pair: {e}")))?;
    let private_pem = pair
        .private_key_to_encrypted_pem(password)
        .map_err(|e| key_err(&private, format!("cannot encrypt: {e}")))?;
    let public_pem = pair
        .public_key_to_pem()
        .map_err(|e| key_err(&public, format!("cannot encode: {e}")))?;
    write_new(&private, private_pem.as_bytes(), 0o600)?;
    write_new(&public, public_pem.as_bytes(), 0o644)?;
    Ok((private, public))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), OciError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| OciError::Key {
            path: path.to_path_buf(),
            reason: format!("cannot write: {e}"),
        })
}

/// Sign the manifest `reference` pins by digest with the cosign private key
/// at `key`, and push the signature where cosign puts it. Returns the
/// signature's reference (`…:sha256-<hex>.sig`).
pub fn sign(
    reference: &OciRef,
    key: &Path,
    password: &[u8],
    settings: &RegistrySettings,
) -> Result<String, OciError> {
    let digest = reference.digest().ok_or_else(|| OciError::Usage {
        reference: reference.clone(),
        reason: "a signature is for one manifest: give the reference by digest (@sha256:…), as `nethook push` prints it".into(),
    })?;
    let key_err = |reason: String| OciError::Key {
        path: key.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(key).map_err(|e| key_err(format!("cannot read: {e}")))?;
    let pair = SigStoreKeyPair::from_encrypted_pem(&pem, password)
        .or_else(|e| SigStoreKeyPair::from_pem(&pem).map_err(|_| e))
        .map_err(|e| {
            key_err(format!(
                "cannot decrypt the private key ({e}); is COSIGN_PASSWORD its password?"
            ))
        })?;
    let signer = pair
        .to_sigstore_signer(&SigningScheme::ECDSA_P256_SHA256_ASN1)
        .map_err(|e| key_err(format!("not an ECDSA P-256 key (cosign's kind): {e}")))?;
    let auth = registry::auth(reference, settings)?;
    super::runtime()?.block_on(async {
        // The manifest must exist: its digest is what gets signed.
        registry::client(reference, settings)
            .pull_manifest_raw(&reference.to_client(), &auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| registry::explain(reference, settings, e))?;
        let mut client = cosign_client(reference, settings)?;
        let image = sigstore_ref(reference, digest);
        let (signature_ref, _) = client
            .triangulate(&image, &sigstore_auth(&auth))
            .await
            .map_err(|e| sigstore_error(reference, e))?;
        let mut layer = SignatureLayer::new_unsigned(&image, digest)
            .map_err(|e| sigstore_error(reference, e))?;
        let constraints: Vec<Box<dyn Constraint>> =
            vec![Box::new(PrivateKeySigner::new_with_signer(signer))];
        sigstore::cosign::apply_constraints(&mut layer, constraints.iter())
            .map_err(|e| OciError::Local(format!("cannot sign {reference}: {e}")))?;
        client
            .push_signature(None, &sigstore_auth(&auth), &signature_ref, vec![layer])
            .await
            .map_err(|e| sigstore_error(reference, e))?;
        Ok(signature_ref.to_string())
    })
}

/// Check that manifest `digest` carries a cosign signature made with the
/// public key at `key`; the sigstore crate decides, and when it refuses,
/// the `.sig` manifest is read again only to say why.
pub(super) async fn verify(
    reference: &OciRef,
    digest: &str,
    key: &Path,
    key_sha256: &str,
    settings: &RegistrySettings,
    auth: &RegistryAuth,
) -> Result<(), OciError> {
    let pem = std::fs::read(key).map_err(|e| OciError::Key {
        path: key.to_path_buf(),
        reason: format!("cannot read: {e}"),
    })?;
    let verifier = PublicKeyVerifier::try_from(&pem).map_err(|e| OciError::Key {
        path: key.to_path_buf(),
        reason: format!("not a public key PEM (cosign.pub): {e}"),
    })?;
    let mut client = cosign_client(reference, settings)?;
    let image = sigstore_ref(reference, digest);
    let layers = client
        .trusted_signature_layers(&sigstore_auth(auth), &image)
        .await
        .map_err(|e| sigstore_error(reference, e))?;
    let constraints: Vec<Box<dyn VerificationConstraint>> = vec![Box::new(verifier)];
    if !layers.is_empty() {
        if sigstore::cosign::verify_constraints(&layers, constraints.iter()).is_ok() {
            return Ok(());
        }
        return Err(OciError::OtherKey {
            reference: reference.clone(),
            digest: digest.to_string(),
            key: key.to_path_buf(),
            key_sha256: key_sha256.to_string(),
        });
    }
    Err(why_unsigned(reference, digest, settings, auth).await)
}

/// No signature layer for `digest`: none at all, or one that signs another
/// manifest (a `.sig` copied from elsewhere).
async fn why_unsigned(
    reference: &OciRef,
    digest: &str,
    settings: &RegistrySettings,
    auth: &RegistryAuth,
) -> OciError {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let no_signature = || OciError::NoSignature {
        reference: reference.clone(),
        digest: digest.to_string(),
        tag: tag.clone(),
    };
    let signature_ref = oci_client::Reference::with_tag(
        reference.registry().to_string(),
        reference.repository().to_string(),
        tag.clone(),
    );
    let client = registry::client(reference, settings);
    let Ok((manifest, _)) = client
        .pull_manifest_raw(&signature_ref, auth, &[OCI_IMAGE_MEDIA_TYPE])
        .await
    else {
        return no_signature();
    };
    let Ok(manifest) = serde_json::from_slice::<oci_client::manifest::OciImageManifest>(&manifest)
    else {
        return no_signature();
    };
    for layer in manifest
        .layers
        .iter()
        .filter(|l| l.media_type == SIMPLE_SIGNING_TYPE)
    {
        let mut payload = Vec::new();
        if client
            .pull_blob(&signature_ref, layer, &mut payload)
            .await
            .is_err()
        {
            continue;
        }
        let signed = serde_json::from_slice::<serde_json::Value>(&payload)
            .ok()
            .and_then(|v| {
                v["critical"]["image"]["docker-manifest-digest"]
                    .as_str()
                    .map(str::to_string)
            });
        if let Some(signed) = signed.filter(|s| s != digest) {
            return OciError::OtherDigest {
                reference: reference.clone(),
                digest: digest.to_string(),
                signed,
            };
        }
    }
    no_signature()
}

fn cosign_client(
    reference: &OciRef,
    settings: &RegistrySettings,
) -> Result<sigstore::cosign::Client, OciError> {
    sigstore::cosign::ClientBuilder::default()
        .with_oci_client_config(registry::sigstore_config(reference, settings))
        .build()
        .map_err(|e| OciError::Local(format!("cannot make a cosign client: {e}")))
}

fn sigstore_ref(reference: &OciRef, digest: &str) -> OciReference {
    OciReference::with_digest(
        reference.registry().to_string(),
        reference.repository().to_string(),
        digest.to_string(),
    )
}

fn sigstore_auth(auth: &RegistryAuth) -> Auth {
    match auth {
        RegistryAuth::Basic(user, password) => Auth::Basic(user.clone(), password.clone()),
        RegistryAuth::Bearer(token) => Auth::Bearer(token.clone()),
        _ => Auth::Anonymous,
    }
}

fn sigstore_error(reference: &OciRef, e: sigstore::errors::SigstoreError) -> OciError {
    OciError::Registry {
        reference: reference.clone(),
        registry: reference.registry().to_string(),
        reason: format!("cosign: {e}"),
    }
}
