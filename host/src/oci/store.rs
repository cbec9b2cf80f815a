//! The content-addressed cache of pulled artifacts under `<cache_dir>/oci`:
//!
//! - `blobs/sha256/<hex>`: components, named by their digest;
//! - `manifests/sha256/<hex>`: manifests, named by their digest;
//! - `tags/<sha256 of "registry/repository:tag">`: the manifest digest a tag
//!   had when last pulled, for running offline;
//! - `verified/sha256/<manifest hex>/<key hex>`: that manifest's signature
//!   was verified with the key whose file hashes to `<key hex>`.
//!
//! Every file is written to a temporary name and renamed into place, so a
//! reader never sees half a file.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::OciError;

pub(super) struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    /// Where the blob with digest `sha256:<hex>` lives (or would).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    fn manifest_path(&self, digest: &str) -> PathBuf {
        self.root.join("manifests/sha256").join(hex_of(digest))
    }

    fn tag_path(&self, registry: &str, repository: &str, tag: &str) -> PathBuf {
        let key = Sha256::digest(format!("{registry}/{repository}:{tag}"));
        self.root.join("tags").join(hex::encode(key))
    }

    fn verified_path(&self, manifest: &str, key_sha256: &str) -> PathBuf {
        self.root
            .join("verified/sha256")
            .join(hex_of(manifest))
            .join(key_sha256)
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A cached manifest, only if its bytes still hash to its name.
    pub fn manifest(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.manifest_path(digest)).ok()?;
        (sha256_digest(&bytes) == digest).then_some(bytes)
    }

    pub fn tag(&self, registry: &str, repository: &str, tag: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.tag_path(registry, repository, tag)).ok()?;
        let digest = text.lines().next()?.trim().to_string();
        digest.starts_with("sha256:").then_some(digest)
    }

    pub fn is_verified(&self, manifest: &str, key_sha256: &str) -> bool {
        self.verified_path(manifest, key_sha256).is_file()
    }

    pub fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<PathBuf, OciError> {
        let path = self.blob_path(digest);
        write_atomic(&path, bytes)?;
        Ok(path)
    }

    pub fn put_manifest(&self, digest: &str, bytes: &[u8]) -> Result<(), OciError> {
        write_atomic(&self.manifest_path(digest), bytes)
    }

    pub fn put_tag(
        &self,
        registry: &str,
        repository: &str,
        tag: &str,
        digest: &str,
    ) -> Result<(), OciError> {
        let text = format!("{digest}\n{registry}/{repository}:{tag}\n");
        write_atomic(&self.tag_path(registry, repository, tag), text.as_bytes())
    }

    pub fn put_verified(
        &self,
        manifest: &str,
        key_sha256: &str,
        key: &Path,
    ) -> Result<(), OciError> {
        let text = format!("{manifest} verified with {}\n", key.display());
        write_atomic(&self.verified_path(manifest, key_sha256), text.as_bytes())
    }
}

pub(super) fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OciError> {
    let fail = |reason: String| OciError::Cache {
        path: path.to_path_buf(),
        reason,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create directory: {e}")))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .map_err(|e| fail(format!("cannot create a temporary file: {e}")))?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| fail(format!("cannot write: {e}")))?;
    tmp.persist(path)
        .map_err(|e| fail(format!("cannot rename into place: {}", e.error)))?;
    Ok(())
}
