//! On-disk cache of compiled components.
//!
//! Entries are keyed by the component's sha256 and the engine's
//! compatibility hash, and carry a digest of their own bytes. Loading
//! precompiled code is `unsafe` in wasmtime because it is trusted as native
//! code, so an entry is used only when the directory is ours alone and the
//! digest matches; otherwise it is ignored and the component recompiled.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

const MAGIC: &[u8; 8] = b"NHCWASM1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the cache; nothing compiled.
    Hit(PathBuf),
    /// Compiled, and stored for next time.
    Stored(PathBuf),
    /// Compiled; the cache could not be used (the reason is logged).
    Bypassed,
}

pub struct Cache {
    dir: PathBuf,
    engine_key: String,
}

impl Cache {
    pub fn new(dir: &Path, engine: &Engine) -> Cache {
        Cache {
            dir: dir.to_path_buf(),
            engine_key: engine_key(engine),
        }
    }

    pub fn entry_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.dir
            .join(format!("{}-{}.cwasm", hex::encode(sha256), self.engine_key))
    }

    pub fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &[u8; 32],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(sha256);
        let usable = self.prepare_dir();
        if let Err(why) = &usable {
            tracing::warn!(cache = %self.dir.display(), "compiled cache not used: {why}");
        } else if let Some(component) = self.read(engine, &path) {
            tracing::info!(entry = %path.display(), "compiled cache hit");
            return Ok((component, CacheOutcome::Hit(path)));
        }
        let started = std::time::Instant::now();
        let component = Component::new(engine, bytes)?;
        tracing::info!(elapsed = ?started.elapsed(), "compiled component (cache miss)");
        if usable.is_err() {
            return Ok((component, CacheOutcome::Bypassed));
        }
        match self.write(&component, &path) {
            Ok(()) => Ok((component, CacheOutcome::Stored(path))),
            Err(e) => {
                tracing::warn!(entry = %path.display(), "could not store compiled component: {e}");
                Ok((component, CacheOutcome::Bypassed))
            }
        }
    }

    /// Create the directory private to us, or check that it is.
    fn prepare_dir(&self) -> Result<(), String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        // lstat: a symlink could be re-pointed after the check.
        let meta = fs::symlink_metadata(&self.dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("it is not a directory (a symlink?)".into());
        }
        private(&meta)
            .map_err(|why| format!("it is {why}; precompiled code from it would run as ours"))
    }

    fn read(&self, engine: &Engine, path: &Path) -> Option<Component> {
        let meta = fs::symlink_metadata(path).ok()?;
        let usable = private(&meta).and_then(|()| {
            if meta.is_file() {
                Ok(())
            } else {
                Err("not a regular file")
            }
        });
        if let Err(why) = usable {
            tracing::warn!(entry = %path.display(), "ignoring compiled cache entry: it is {why}");
            return None;
        }
        let data = fs::read(path).ok()?;
        let payload = match verify(&data) {
            Ok(p) => p,
            Err(why) => {
                tracing::warn!(entry = %path.display(), "ignoring compiled cache entry: {why}");
                return None;
            }
        };
        // SAFETY: the payload is what `write` stored in a directory only we
        // can write, and its digest matches; wasmtime additionally refuses
        // code from another engine version or configuration.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(entry = %path.display(), "ignoring compiled cache entry: {e}");
                None
            }
        }
    }

    fn write(&self, component: &Component, path: &Path) -> Result<(), String> {
        let payload = component.serialize().map_err(|e| e.to_string())?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".cwasm.")
            .tempfile_in(&self.dir)
            .map_err(|e| e.to_string())?;
        tmp.write_all(MAGIC)
            .and_then(|_| tmp.write_all(&Sha256::digest(&payload)))
            .and_then(|_| tmp.write_all(&payload))
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(|e| e.to_string())?;
        tmp.persist(path).map_err(|e| e.error.to_string())?;
        tracing::debug!(entry = %path.display(), "stored compiled component");
        Ok(())
    }
}

/// Ours alone: owned by our user and writable by no one else.
fn private(meta: &fs::Metadata) -> Result<(), &'static str> {
    if meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err("owned by another user");
    }
    if meta.mode() & 0o022 != 0 {
        return Err("writable by another user");
    }
    Ok(())
}

fn verify(data: &[u8]) -> Result<&[u8], &'static str> {
    let header = MAGIC.len() + 32;
    if data.len() < header || &data[..MAGIC.len()] != MAGIC {
        return Err("not a nethook cache entry");
    }
    let (digest, payload) = data[MAGIC.len()..].split_at(32);
    if Sha256::digest(payload).as_slice() != digest {
        return Err("digest mismatch (corrupt)");
    }
    Ok(payload)
}

/// A stable digest of everything that makes compiled code engine-specific.
fn engine_key(engine: &Engine) -> String {
    struct ShaHasher(Sha256);
    impl Hasher for ShaHasher {
        fn finish(&self) -> u64 {
            unreachable!("only the digest is read")
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(&h.0.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_a_bad_digest_or_header_are_refused() {
        let mut data = MAGIC.to_vec();
        data.extend_from_slice(&Sha256::digest(b"payload"));
        data.extend_from_slice(b"payload");
        assert_eq!(verify(&data), Ok(&b"payload"[..]));
        let last = data.len() - 1;
        data[last] ^= 1;
        assert_eq!(verify(&data), Err("digest mismatch (corrupt)"));
        assert_eq!(verify(b"garbage"), Err("not a nethook cache entry"));
    }
}
