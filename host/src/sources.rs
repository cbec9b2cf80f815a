//! Where hooks' components come from: `oci://` components fetched into the
//! cache (or found there), above both the config and the registry client.
//! The config is a value: fetching makes a new one, whose hooks point at
//! the fetched files.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::hook::HookSource;
use crate::oci::{fetch, Fetched};

/// Fetch the `oci://` components of the hooks `wanted` names (a point
/// fetches only what it runs, so another hook's registry being down cannot
/// stop it); the config with those hooks pointing at their cached blobs
/// (`component` the blob, `sha256` its digest, so loading checks exactly
/// the bytes that were verified), and what was fetched.
pub fn fetch_of(
    config: Config,
    wanted: impl Fn(&str) -> bool,
) -> Result<(Config, Vec<(String, Fetched)>)> {
    let cache_root = config.cache_dir.join("oci");
    let mut fetched = Vec::new();
    let mut resolved = Vec::new();
    for (name, hook) in &config.hooks {
        let HookSource::Oci(reference) = &hook.source else {
            continue;
        };
        if !wanted(name) {
            continue;
        }
        let f = fetch(
            reference,
            hook.sha256,
            hook.verify_key.as_deref(),
            &config.registries,
            &cache_root,
        )
        .map_err(|reason| Error::Source {
            hook: name.clone(),
            reason: Box::new(reason),
        })?;
        tracing::debug!(
            hook = name,
            manifest = f.manifest_digest,
            from_cache = f.from_cache,
            signature = %f.signature,
            "component fetched"
        );
        let mut hook = hook.clone();
        hook.component = f.path.clone();
        hook.sha256 = Some(f.blob_sha256);
        hook.fetched = Some(Box::new(f.clone()));
        resolved.push(hook);
        fetched.push((name.clone(), f));
    }
    let config = resolved.into_iter().fold(config, Config::with_hook);
    Ok((config, fetched))
}

/// `fetch_of` every hook.
pub fn fetch_all(config: Config) -> Result<(Config, Vec<(String, Fetched)>)> {
    fetch_of(config, |_| true)
}
