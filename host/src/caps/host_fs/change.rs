//! The changes the `host-fs` capability makes (files written, removed,
//! put back), what each needs granted, how it is shown, and how one is
//! made again as an undo step.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::caps::change::{shown_as_a_call, CapabilityChange};
use crate::caps::grants::Grants;
use crate::caps::{CapError, Host};

/// A file's bytes and mode, as found before a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileImage {
    #[serde(with = "hex_bytes")]
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// What a file must hold for an undo to touch it: what the change left.
/// Anything else means someone edited it since, and their edit is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    Absent,
    /// sha256 of the bytes, hex.
    Sha256(String),
}

impl Expect {
    /// What a file holds now (None: no file), as an undo expects it.
    pub fn of(image: &Option<FileImage>) -> Expect {
        match image {
            Some(img) => Expect::Sha256(hex::encode(sha2::Sha256::digest(&img.bytes))),
            None => Expect::Absent,
        }
    }
}

/// One change a `host-fs` call makes, journaled flat under its `change` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum HostFsChange {
    /// Write `bytes` (None: shown by size only) with `mode`.
    FileWrite {
        path: String,
        size: usize,
        mode: Option<u32>,
        sha256: String,
    },
    FileRemove {
        path: String,
    },
    /// Put a file back as it was (None: remove it), unless it no longer
    /// holds what `expect` says: an undo, never asked for by a hook.
    FileRestore {
        path: String,
        previous: Option<FileImage>,
        expect: Expect,
    },
}

impl CapabilityChange for HostFsChange {
    const CAPABILITY: &'static str = "host-fs";

    const TAGS: &'static [&'static str] = &["file-write", "file-remove", "file-restore"];

    fn grant(&self, g: &Grants) -> Result<(), CapError> {
        use HostFsChange::*;
        match self {
            FileWrite { path, .. } | FileRemove { path } | FileRestore { path, .. } => {
                g.write_path(path)
            }
        }
    }

    /// The node object it changes.
    fn object(&self) -> Option<String> {
        use HostFsChange::*;
        match self {
            FileWrite { path, .. } | FileRemove { path } | FileRestore { path, .. } => {
                Some(format!("file {path}"))
            }
        }
    }

    fn operation(&self) -> &'static str {
        use HostFsChange::*;
        match self {
            FileWrite { .. } => "write",
            FileRemove { .. } => "remove",
            FileRestore { .. } => "restore",
        }
    }

    fn args(&self) -> String {
        use HostFsChange::*;
        match self {
            FileWrite {
                path,
                size,
                mode: Some(m),
                ..
            } => {
                format!("{path} ({size} bytes, mode {m:04o})")
            }
            FileWrite {
                path,
                size,
                mode: None,
                ..
            } => format!("{path} ({size} bytes)"),
            FileRemove { path } => path.clone(),
            FileRestore {
                path,
                previous: Some(p),
                ..
            } => {
                format!("{path} ({} bytes, mode {:04o})", p.bytes.len(), p.mode)
            }
            FileRestore {
                path,
                previous: None,
                ..
            } => format!("{path} (absent)"),
        }
    }

    /// Files survive a reboot.
    fn persistent(&self) -> bool {
        true
    }

    /// None makes a service take up configuration again.
    fn reapplies(&self) -> bool {
        false
    }

    /// Made again through the view, as an undo step: only a restore is one.
    fn apply(&self, h: &mut Host) -> Result<(), CapError> {
        use HostFsChange::*;
        match self {
            FileRestore {
                path,
                previous,
                expect,
            } => h.host_fs().restore(path, previous, expect).map(drop),
            FileWrite { .. } | FileRemove { .. } => {
                Err(CapError::Invalid(format!("{self} is not an undo step")))
            }
        }
    }
}

shown_as_a_call!(HostFsChange);

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
