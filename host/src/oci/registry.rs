//! Talking to one registry: which protocol, which credentials, and what a
//! failed request means for the reference asked for.

use std::time::Duration;

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;

use super::{OciError, OciRef, RegistrySettings};

/// A registry that accepts the connection but never answers must not hold a
/// dataplane point for long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Plain HTTP for loopback registries and those listed in `insecure`;
/// HTTPS for everything else.
pub(super) fn plain_http(reference: &OciRef, settings: &RegistrySettings) -> bool {
    reference.is_loopback()
        || settings
            .insecure
            .iter()
            .any(|i| i == reference.registry() || i == reference.host())
}

pub(super) fn client(reference: &OciRef, settings: &RegistrySettings) -> oci_client::Client {
    oci_client::Client::new(ClientConfig {
        protocol: protocol(reference, settings),
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        ..Default::default()
    })
}

fn protocol(reference: &OciRef, settings: &RegistrySettings) -> ClientProtocol {
    if plain_http(reference, settings) {
        ClientProtocol::Http
    } else {
        ClientProtocol::Https
    }
}

/// The same choice for the sigstore crate's own registry client.
pub(super) fn sigstore_config(
    reference: &OciRef,
    settings: &RegistrySettings,
) -> sigstore::registry::ClientConfig {
    sigstore::registry::ClientConfig {
        protocol: if plain_http(reference, settings) {
            sigstore::registry::ClientProtocol::Http
        } else {
            sigstore::registry::ClientProtocol::Https
        },
        ..Default::default()
    }
}

/// Credentials for the reference's registry from the docker-style
/// `config.json`, else anonymous.
pub(super) fn auth(
    reference: &OciRef,
    settings: &RegistrySettings,
) -> Result<RegistryAuth, OciError> {
    let Some(path) = &settings.auth else {
        return Ok(RegistryAuth::Anonymous);
    };
    let bad = |reason: String| OciError::Auth {
        path: path.clone(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let auths = doc.get("auths").and_then(|a| a.as_object());
    // Docker writes some keys as URLs (https://index.docker.io/v1/).
    let entry = auths.and_then(|a| {
        a.iter().find_map(|(k, v)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            (host == reference.registry()).then_some(v)
        })
    });
    let Some(entry) = entry else {
        return Ok(RegistryAuth::Anonymous);
    };
    let key = format!("auths.{:?}.auth", reference.registry());
    let encoded = entry
        .get("auth")
        .and_then(|a| a.as_str())
        .ok_or_else(|| bad(format!("{key} is missing")))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|d| String::from_utf8(d).ok())
        .ok_or_else(|| bad(format!("{key} is not base64 of user:password")))?;
    let (user, password) = decoded
        .split_once(':')
        .ok_or_else(|| bad(format!("{key} is not base64 of user:password")))?;
    Ok(RegistryAuth::Basic(user.to_string(), password.to_string()))
}

/// What a failed request means, for `reference`.
pub(super) fn explain(
    reference: &OciRef,
    settings: &RegistrySettings,
    e: OciDistributionError,
) -> OciError {
    let registry = reference.registry().to_string();
    match e {
        OciDistributionError::RequestError(e) if e.is_connect() || e.is_timeout() => {
            let cause = innermost(&e);
            if !plain_http(reference, settings) && speaks_plain_http(&e) {
                OciError::NotHttps {
                    reference: reference.clone(),
                    registry,
                    cause,
                }
            } else {
                OciError::Unreachable {
                    reference: reference.clone(),
                    registry,
                    cause,
                }
            }
        }
        OciDistributionError::ImageManifestNotFoundError(m) => OciError::ManifestNotFound {
            reference: reference.clone(),
            reason: m,
        },
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown
                )
            }) =>
        {
            OciError::ManifestNotFound {
                reference: reference.clone(),
                reason: envelope
                    .errors
                    .iter()
                    .map(|e| crate::text::bounded(&e.message, 1024))
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => OciError::ManifestNotFound {
            reference: reference.clone(),
            reason: "404 not found".into(),
        },
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => OciError::Registry {
            reference: reference.clone(),
            registry,
            reason: format!(
                "not authorized; give credentials for {} in [registries] auth ({})",
                reference.registry(),
                match &settings.auth {
                    Some(p) => format!("{} has none that work", p.display()),
                    None => "none is set".into(),
                }
            ),
        },
        other => OciError::Registry {
            reference: reference.clone(),
            registry,
            // The registry's words: one line, bounded.
            reason: crate::text::bounded(&other.to_string(), 4096),
        },
    }
}

/// The deepest cause: "Connection refused (os error 111)" rather than
/// "error sending request for url …".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// rustls' complaint when the other side answers a TLS hello in plain HTTP.
fn speaks_plain_http(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        let text = c.to_string();
        if text.contains("InvalidContentType") || text.contains("corrupt message") {
            return true;
        }
        cur = c.source();
    }
    false
}
