//! Trust in nethook's own files (state, journal, compiled code) comes from
//! where they are and who made them, never from what they say about
//! themselves: a directory nethook keeps records in must be a real
//! directory owned by the user nethook runs as and writable by no one
//! else, and a record must be a regular file of that user's, not a link,
//! a FIFO or a device, of a bounded size. Files are opened without
//! following links and without blocking on what is not a regular file.
//! A leaf: it imports nothing of nethook's.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// `O_NOFOLLOW | O_NONBLOCK`: a link is refused, and a FIFO or a device
/// never blocks the open.
pub const NOFOLLOW_NONBLOCK: i32 = nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// The mode of `dir`, a directory (not a link to one) of ours; why not
/// otherwise.
fn own_dir(dir: &Path) -> Result<u32, String> {
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("cannot inspect {}: {e}", dir.display()))?;
    if !meta.file_type().is_dir() {
        return Err(format!(
            "{} is not a directory (a link or a file is not trusted with nethook's records)",
            dir.display()
        ));
    }
    if meta.uid() != euid() {
        return Err(format!(
            "{} belongs to uid {}, not to the user nethook runs as (uid {})",
            dir.display(),
            meta.uid(),
            euid()
        ));
    }
    Ok(meta.permissions().mode() & 0o7777)
}

/// `dir` is a directory (not a link to one) of ours that no one else can
/// write. Group or other write permission on it is taken away, with a
/// warning (each record in it is checked on its own); another owner is
/// refused.
pub fn trusted_dir(dir: &Path) -> Result<(), String> {
    let mode = own_dir(dir)?;
    if mode & 0o022 != 0 {
        let fixed = mode & !0o022;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(fixed))
            .map_err(|e| format!("cannot restrict {}: {e}", dir.display()))?;
        tracing::warn!(
            dir = %dir.display(),
            "others could write nethook's records here (mode {mode:o}); now {fixed:o}"
        );
    }
    Ok(())
}

/// `dir` is a directory (not a link) of ours that no one else can write;
/// unlike `trusted_dir`, nothing is repaired: for a store of native code,
/// a directory others could write may hold anything.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    let mode = own_dir(dir)?;
    if mode & 0o022 != 0 {
        return Err(format!(
            "others may write {} (mode {mode:o})",
            dir.display()
        ));
    }
    Ok(())
}

/// `path` is a regular file of ours, writable by no one else, of at most
/// `max` bytes; the reason otherwise.
pub fn own_regular_file(path: &Path, max: u64) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot inspect it: {e}"))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_symlink() {
            "a symbolic link"
        } else if kind.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, a socket or a device)"
        };
        return Err(format!("it is {what}"));
    }
    if meta.uid() != euid() {
        return Err(format!(
            "it belongs to uid {}, not to the user nethook runs as",
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "others may write it (mode {:o})",
            meta.permissions().mode() & 0o7777
        ));
    }
    if meta.len() > max {
        return Err(format!(
            "it holds {} bytes, more than such a file can ({max})",
            meta.len()
        ));
    }
    Ok(())
}

/// Open (creating it 0600 if missing) a file of ours to write or lock,
/// never through a link. Something other than a regular file of ours
/// under that name is an `InvalidData` error, for the caller to move aside.
pub fn open_own_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(NOFOLLOW_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // A link (ELOOP), or a FIFO without a reader (ENXIO).
            Some(nix::libc::ELOOP) | Some(nix::libc::ENXIO) | Some(nix::libc::EISDIR) => {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.uid() != euid() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a regular file of nethook's", path.display()),
        ));
    }
    Ok(file)
}

/// Move `path` into the directory `into` (made 0700 if missing) under a
/// name that starts with the time, keeping the newest `keep` there; the
/// new path. Nothing at `path` is read, followed or deleted.
pub fn quarantine(path: &Path, into: &Path, keep: usize) -> io::Result<std::path::PathBuf> {
    match std::fs::DirBuilder::new().mode(0o700).create(into) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let to = into.join(format!("{nanos:020}-{name}"));
    std::fs::rename(path, &to)?;
    let mut kept: Vec<std::path::PathBuf> = std::fs::read_dir(into)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    kept.sort();
    let excess = kept.len().saturating_sub(keep);
    for old in &kept[..excess] {
        let _ = std::fs::remove_file(old).or_else(|_| std::fs::remove_dir_all(old));
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_fifos_and_directories_are_not_records() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ok"), "x").unwrap();
        assert_eq!(own_regular_file(&d.join("ok"), 10), Ok(()));
        assert!(own_regular_file(&d.join("ok"), 0)
            .unwrap_err()
            .contains("more than"));
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        assert_eq!(
            own_regular_file(&d.join("link"), 10),
            Err("it is a symbolic link".into())
        );
        nix::unistd::mkfifo(&d.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        assert!(own_regular_file(&d.join("fifo"), 10)
            .unwrap_err()
            .contains("FIFO"));
        // Opening a FIFO named like a lock neither blocks nor succeeds.
        assert_eq!(
            open_own_file(&d.join("fifo")).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(
            open_own_file(&d.join("link")).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        std::fs::create_dir(d.join("sub")).unwrap();
        assert_eq!(
            own_regular_file(&d.join("sub"), 10),
            Err("it is a directory".into())
        );
        std::fs::set_permissions(d.join("sub"), std::fs::Permissions::from_mode(0o777)).unwrap();
        trusted_dir(&d.join("sub")).unwrap();
        let mode = std::fs::metadata(d.join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(trusted_dir(&d.join("link")).is_err());
    }
}
