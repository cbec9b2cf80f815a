//! The compiled store: native code compiled from components, and what the
//! store knows of the component files it compiled.
//!
//! Loading precompiled code is `unsafe` in wasmtime because the bytes run
//! as native code, so what is loaded is trusted by where it lives and who
//! wrote it, never by what it says of itself (see README, "Trust in files
//! on disk"):
//!
//! - the store is a directory of ours (the user nethook runs as) that no
//!   one else can write (`trust::trusted_dir`); otherwise it is not used
//!   at all and every component is compiled in memory;
//! - an entry is `<component sha256>-<engine>.cwasm`, the artifact exactly
//!   as wasmtime wrote it, and beside it `<same>.bind`, the binding made
//!   when it was stored: the sha256 of the component it was compiled from,
//!   the engine, and the artifact file's identity (device, inode, size,
//!   mtime, ctime). An entry is used only when its binding names the
//!   component asked for and the artifact file is still the one stored
//!   (a copy, a swap or any write changes its inode or ctime); anything
//!   else is refused with a warning and the component compiled again;
//! - the artifact is mapped from the file descriptor that was checked
//!   (`/proc/self/fd`), not read: code and linear-memory images are paged
//!   in as used and shared copy-on-write, so a warm run does no work in
//!   proportion to the component's size;
//! - `sources/`: for each component file, its identity when it was last
//!   hashed and the sha256 it had then. A file with the same identity has
//!   the same bytes (its ctime would differ otherwise), so a warm run need
//!   not read and hash a multi-megabyte component again.

use std::fs::{self, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use crate::trust;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded from the store; nothing compiled.
    Hit(PathBuf),
    /// Compiled, and stored for next time.
    Stored(PathBuf),
    /// Compiled; the store could not be used (the reason is logged).
    Bypassed,
}

/// A file's identity: what changes when its bytes could have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl FileId {
    pub fn of(meta: &fs::Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
            ctime_ns: meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
        }
    }
}

/// `<entry>.bind`: what an artifact was compiled from and which file it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Binding {
    component_sha256: String,
    engine: String,
    artifact: FileId,
}

/// `sources/<sha256 of the path>.json`: a component file as last hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Source {
    path: PathBuf,
    file: FileId,
    sha256: String,
}

/// Sidecar records are small; anything larger was not written by us.
const MAX_RECORD: u64 = 4096;
/// The largest artifact the store accepts (a Python interpreter's is ~40 MB).
const MAX_ARTIFACT: u64 = 1 << 30;

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

    fn binding_path(&self, sha256: &[u8; 32]) -> PathBuf {
        self.entry_path(sha256).with_extension("bind")
    }

    fn source_path(&self, component: &Path) -> PathBuf {
        let key = Sha256::digest(component.as_os_str().as_encoded_bytes());
        self.dir
            .join("sources")
            .join(format!("{}.json", hex::encode(&key[..16])))
    }

    /// The store is ours alone (created so if missing); why not otherwise.
    fn usable(&self) -> Result<(), String> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| format!("cannot create it: {e}"))?;
        // Native code: a directory someone else could have written is not
        // made ours again, it is not used.
        trust::private_dir(&self.dir)
    }

    /// The sha256 the store recorded for the component file `path` (open as
    /// `file`), if the file is still the one it hashed.
    pub fn known_sha256(&self, path: &Path, file: &File) -> Option<[u8; 32]> {
        self.usable().ok()?;
        let meta = file.metadata().ok()?;
        let record = self.source_path(path);
        trust::own_regular_file(&record, MAX_RECORD).ok()?;
        let source: Source = serde_json::from_slice(&fs::read(&record).ok()?).ok()?;
        if source.path != path || source.file != FileId::of(&meta) {
            return None;
        }
        crate::units::parse_sha256(&source.sha256).ok()
    }

    /// Remember that the component file `path` (open as `file`) has `sha256`.
    pub fn remember_sha256(&self, path: &Path, file: &File, sha256: &[u8; 32]) {
        if self.usable().is_err() {
            return;
        }
        let Ok(meta) = file.metadata() else { return };
        let source = Source {
            path: path.to_path_buf(),
            file: FileId::of(&meta),
            sha256: hex::encode(sha256),
        };
        let record = self.source_path(path);
        let dir = record.parent().expect("in sources/");
        let stored = fs::DirBuilder::new()
            .mode(0o700)
            .create(dir)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Ok(()),
                _ => Err(e),
            })
            .map_err(|e| e.to_string())
            .and_then(|()| {
                let bytes = serde_json::to_vec(&source).expect("serialises");
                atomic_write(dir, &record, &bytes)
            });
        if let Err(e) = stored {
            tracing::debug!(record = %record.display(), "could not record the component's digest: {e}");
        }
    }

    pub fn load(
        &self,
        engine: &Engine,
        bytes: impl FnOnce() -> Result<Vec<u8>, String>,
        sha256: &[u8; 32],
    ) -> wasmtime::Result<(Component, CacheOutcome)> {
        let path = self.entry_path(sha256);
        let usable = self.usable();
        if let Err(why) = &usable {
            tracing::warn!(cache = %self.dir.display(), "compiled cache not used: {why}; precompiled code from it would run as ours");
        } else if let Some(component) = self.read(engine, sha256) {
            tracing::info!(entry = %path.display(), "compiled cache hit");
            return Ok((component, CacheOutcome::Hit(path)));
        }
        let bytes = bytes().map_err(wasmtime::Error::msg)?;
        let started = std::time::Instant::now();
        let component = Component::new(engine, &bytes)?;
        tracing::info!(elapsed = ?started.elapsed(), "compiled component (cache miss)");
        if usable.is_err() {
            return Ok((component, CacheOutcome::Bypassed));
        }
        match self.write(&component, sha256) {
            Ok(()) => Ok((component, CacheOutcome::Stored(path))),
            Err(e) => {
                tracing::warn!(entry = %path.display(), "could not store the compiled component: {e}");
                Ok((component, CacheOutcome::Bypassed))
            }
        }
    }

    /// The stored artifact for `sha256`, if its binding holds.
    fn read(&self, engine: &Engine, sha256: &[u8; 32]) -> Option<Component> {
        let path = self.entry_path(sha256);
        let binding_path = self.binding_path(sha256);
        if fs::symlink_metadata(&path).is_err() {
            return None;
        }
        let refuse = |why: String| {
            tracing::warn!(entry = %path.display(), "ignoring compiled cache entry: {why}");
            None
        };
        if let Err(why) = trust::own_regular_file(&path, MAX_ARTIFACT) {
            return refuse(why);
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(trust::NOFOLLOW_NONBLOCK)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) => return refuse(format!("cannot open it: {e}")),
        };
        let binding = trust::own_regular_file(&binding_path, MAX_RECORD)
            .and_then(|()| fs::read(&binding_path).map_err(|e| e.to_string()))
            .and_then(|b| serde_json::from_slice::<Binding>(&b).map_err(|e| e.to_string()));
        let binding = match binding {
            Ok(b) => b,
            Err(why) => return refuse(format!("its binding {}: {why}", binding_path.display())),
        };
        let meta = match file.metadata() {
            Ok(m) => m,
            Err(e) => return refuse(format!("cannot inspect it: {e}")),
        };
        if binding.component_sha256 != hex::encode(sha256) {
            return refuse(format!(
                "it was compiled from component sha256 {}, not {}",
                binding.component_sha256,
                hex::encode(sha256)
            ));
        }
        if binding.engine != self.engine_key {
            return refuse(format!("it is for engine {}", binding.engine));
        }
        if binding.artifact != FileId::of(&meta) {
            return refuse(
                "it is not the file that was stored (copied, moved or written since)".into(),
            );
        }
        // The descriptor that was checked, by its /proc path: no other file
        // can take its place between the check and the mapping.
        let fd_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        // SAFETY: the file is the artifact this store wrote for this
        // component (its binding, made when it was written, names both
        // and the file's identity), in a directory only we can write;
        // wasmtime also refuses code from another engine or configuration.
        match unsafe { Component::deserialize_file(engine, &fd_path) } {
            Ok(c) => Some(c),
            // wasmtime's reason, without the descriptor's path.
            Err(e) => refuse(e.root_cause().to_string()),
        }
    }

    fn write(&self, component: &Component, sha256: &[u8; 32]) -> Result<(), String> {
        let payload = component.serialize().map_err(|e| e.to_string())?;
        let path = self.entry_path(sha256);
        atomic_write(&self.dir, &path, &payload)?;
        let meta = fs::symlink_metadata(&path).map_err(|e| e.to_string())?;
        let binding = Binding {
            component_sha256: hex::encode(sha256),
            engine: self.engine_key.clone(),
            artifact: FileId::of(&meta),
        };
        let bytes = serde_json::to_vec(&binding).expect("serialises");
        atomic_write(&self.dir, &self.binding_path(sha256), &bytes)?;
        tracing::debug!(entry = %path.display(), "stored compiled component");
        Ok(())
    }
}

/// `bytes` into `path` through a temporary file in `dir`, synced, renamed,
/// and the directory synced.
fn atomic_write(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".store.")
        .tempfile_in(dir)
        .map_err(|e| e.to_string())?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| e.to_string())?;
    tmp.persist(path).map_err(|e| e.error.to_string())?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| e.to_string())
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
