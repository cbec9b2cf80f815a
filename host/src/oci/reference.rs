//! `oci://registry[:port]/repo/path[:tag][@sha256:<64 hex>]`, parsed once
//! into its parts so nothing downstream re-checks the text.

use std::fmt;
use std::net::IpAddr;

use super::OciError;

/// A reference to one artifact in a registry; it has a tag, a digest or both.
/// Boxed: every registry error carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciRef(Box<Parts>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    registry: String,
    repository: String,
    tag: Option<String>,
    /// `sha256:<64 lowercase hex>`.
    digest: Option<String>,
}

impl OciRef {
    pub fn parse(text: &str) -> Result<OciRef, OciError> {
        let bad = |reason: &str| OciError::Reference {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("it must start with oci://"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| bad("the digest must be sha256:<64 hex digits>"))?;
                if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad("the digest must be sha256:<64 hex digits>"));
                }
                (r, Some(format!("sha256:{}", hex.to_ascii_lowercase())))
            }
            None => (rest, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no repository after the registry"))?;
        check_registry(registry).map_err(|m| bad(&m))?;
        // A tag is after the last ':' of the last path segment.
        let last = path.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match path[last..].rfind(':') {
            Some(i) => (&path[..last + i], Some(&path[last + i + 1..])),
            None => (path, None),
        };
        check_repository(repository).map_err(|m| bad(&m))?;
        if let Some(t) = tag {
            check_tag(t).map_err(|m| bad(&m))?;
        }
        if tag.is_none() && digest.is_none() {
            return Err(bad("it needs a tag (:TAG) or a digest (@sha256:…)"));
        }
        Ok(OciRef(Box::new(Parts {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })))
    }

    /// `host[:port]`.
    pub fn registry(&self) -> &str {
        &self.0.registry
    }

    pub fn repository(&self) -> &str {
        &self.0.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.0.tag.as_deref()
    }

    /// `sha256:<hex>`, when the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.0.digest.as_deref()
    }

    /// The same artifact, by `digest` and without a tag.
    pub fn with_digest(&self, digest: &str) -> OciRef {
        OciRef(Box::new(Parts {
            registry: self.0.registry.clone(),
            repository: self.0.repository.clone(),
            tag: None,
            digest: Some(digest.to_string()),
        }))
    }

    /// The host without its port (and without IPv6 brackets).
    pub fn host(&self) -> &str {
        host_of(&self.0.registry)
    }

    /// 127.0.0.0/8, ::1 or localhost: reached over plain HTTP, since there is
    /// no network between us and it to protect.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// For oci-client: by digest when there is one, so a tag cannot move
    /// under us.
    pub(crate) fn to_client(&self) -> oci_client::Reference {
        match (&self.0.digest, &self.0.tag) {
            (Some(d), _) => oci_client::Reference::with_digest(
                self.0.registry.clone(),
                self.0.repository.clone(),
                d.clone(),
            ),
            // parse() guarantees a tag when there is no digest.
            (None, t) => oci_client::Reference::with_tag(
                self.0.registry.clone(),
                self.0.repository.clone(),
                t.clone().unwrap_or_default(),
            ),
        }
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.0.registry, self.0.repository)?;
        if let Some(t) = &self.0.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.0.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// A DNS name or IPv4 address, or a bracketed IPv6 address; an optional port.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (ip, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {registry:?}: unclosed ["))?;
        ip.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("registry {registry:?}: {ip:?} is not an IPv6 address"))?;
        match after {
            "" => (None, None),
            p => (
                None,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("registry {registry:?}: junk after ]"))?,
                ),
            ),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if host.is_empty() {
            return Err("the registry is empty".into());
        }
        if !host.split('.').all(label_ok) {
            return Err(format!("registry {registry:?} is not a host name"));
        }
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |n| n == 0) {
            return Err(format!("registry {registry:?}: port {p:?} is not 1-65535"));
        }
    }
    Ok(())
}

/// The distribution spec's path components: lowercase alphanumerics joined
/// by `.`, `_`, `__` or `-` runs, separated by `/`.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository is empty".into());
    }
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
            && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
            && b.iter()
                .all(|&x| x.is_ascii_lowercase() || x.is_ascii_digit() || b"._-".contains(&x))
    };
    if !repository.split('/').all(component_ok) {
        return Err(format!(
            "repository {repository:?} must be lowercase letters, digits and . _ - between /"
        ));
    }
    Ok(())
}

fn check_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|&x| x.is_ascii_alphanumeric() || b"._-".contains(&x));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "tag {tag:?} must be 1-128 letters, digits, _ . - (not starting with . or -)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn good_references_parse_into_their_parts() {
        let r = OciRef::parse("oci://127.0.0.1:5000/vendor/hooks/eks:1.2").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("127.0.0.1:5000", "vendor/hooks/eks", Some("1.2"), None)
        );
        assert!(r.is_loopback());
        let r = OciRef::parse(&format!("oci://ghcr.io/acme/eks@{D}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(D)));
        assert!(!r.is_loopback());
        let upper = D.to_ascii_uppercase().replace("SHA256", "sha256");
        let r = OciRef::parse(&format!("oci://localhost/a:v1@{upper}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("v1"), Some(D)));
        assert_eq!(r.to_string(), format!("oci://localhost/a:v1@{D}"));
        let r = OciRef::parse("oci://[::1]:5000/a:t").unwrap();
        assert_eq!((r.host(), r.is_loopback()), ("::1", true));
        assert_eq!(
            r.with_digest(D).to_string(),
            format!("oci://[::1]:5000/a@{D}")
        );
    }

    #[test]
    fn bad_references_say_what_is_wrong() {
        let reason = |t: &str| match OciRef::parse(t) {
            Err(OciError::Reference { reason, .. }) => reason,
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(reason("ghcr.io/a:1"), "it must start with oci://");
        assert_eq!(
            reason("oci://ghcr.io/a"),
            "it needs a tag (:TAG) or a digest (@sha256:…)"
        );
        assert_eq!(reason("oci://ghcr.io"), "no repository after the registry");
        assert_eq!(
            reason("oci://ghcr.io/a@sha256:12"),
            "the digest must be sha256:<64 hex digits>"
        );
        assert_eq!(
            reason("oci://ghcr.io/a@md5:12"),
            "the digest must be sha256:<64 hex digits>"
        );
        assert_eq!(
            reason("oci://ghcr.io/Acme:1"),
            "repository \"Acme\" must be lowercase letters, digits and . _ - between /"
        );
        assert!(reason("oci://ghcr.io/a//b:1").contains("repository"));
        assert_eq!(
            reason("oci://ghcr.io/a:-x"),
            "tag \"-x\" must be 1-128 letters, digits, _ . - (not starting with . or -)"
        );
        assert_eq!(
            reason("oci://reg:0/a:1"),
            "registry \"reg:0\": port \"0\" is not 1-65535"
        );
        assert_eq!(
            reason("oci://re_g/a:1"),
            "registry \"re_g\" is not a host name"
        );
        assert_eq!(reason("oci://../a:1"), "registry \"..\" is not a host name");
        assert_eq!(reason("oci:///a:1"), "the registry is empty");
        let e = OciRef::parse("oci://ghcr.io/a").unwrap_err().to_string();
        assert_eq!(e, "\"oci://ghcr.io/a\" is not an OCI reference: it needs a tag (:TAG) or a digest (@sha256:…) (write oci://REGISTRY[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST])");
    }
}
