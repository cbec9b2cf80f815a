//! File access confined to a node's root directory.
//!
//! This is the sandbox boundary for untrusted hooks that write as root, so every
//! path is resolved by the kernel (`openat2` with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`) relative to an fd of the root,
//! at the moment of use.
//! No decision is ever based on an earlier look at a path string, so a component
//! swapped for a symlink between calls is still caught.

mod change;
mod undo;

use std::fs::File;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};

use sha2::{Digest, Sha256};

use super::CapError::{self, Denied, Failed, Invalid, NotFound};
use super::{Host, Inverse, Planned};
pub use change::{Expect, FileImage, HostFsChange};

const MAX_PATH: usize = 4096;
const MAX_READ: u64 = 16 * 1024 * 1024;
/// Permission bits a write may set: no setuid, setgid or sticky bit, and
/// not world-writable, since the file is created by root on the node.
const MODE_BITS: u32 = 0o777;
const FORBIDDEN_MODE: u32 = 0o7002;
const DEFAULT_MODE: u32 = 0o644;
/// RESOLVE_BENEATH lookups fail with EAGAIN if a rename or mount raced with a
/// `..` step anywhere on the system; retrying is the documented remedy.
const EAGAIN_RETRIES: usize = 16;
const TEMP_ATTEMPTS: usize = 16;

/// Normalizes an absolute in-root path: repeated '/' and '.' components are
/// collapsed, a trailing '/' is dropped, and "/" stays "/".
/// Bad syntax is `Invalid`; any `..` is `Denied`, since it can only mean an
/// attempt to climb (we never resolve `..` lexically).
pub fn normalize(path: &str) -> Result<String, CapError> {
    if path.len() > MAX_PATH {
        let head: String = path.chars().take(64).collect();
        return Err(Invalid(format!(
            "path {head:?}... exceeds {MAX_PATH} bytes"
        )));
    }
    if !path.starts_with('/') {
        return Err(Invalid(format!("path {path:?} is not absolute")));
    }
    if path.chars().any(char::is_control) {
        return Err(Invalid(format!("path {path:?} has control characters")));
    }
    let mut parts = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(Denied(format!("path {path:?} contains '..'"))),
            c => parts.push(c),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// `openat2` wants a path relative to the root fd.
fn relative(norm: &str) -> &str {
    match norm.trim_start_matches('/') {
        "" => ".",
        rel => rel,
    }
}

/// lstat of one entry of an already-resolved directory; absent is `None`.
fn lstat_at(dir: &OwnedFd, name: &str) -> Result<Option<FileStat>, Errno> {
    match stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_type(st: &FileStat, kind: SFlag) -> bool {
    st.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

/// A directory tree that hooks may touch, addressed by absolute in-root paths.
pub(super) struct RootFs {
    fd: OwnedFd,
    root: PathBuf,
}

impl RootFs {
    /// Opens the root once; everything later is resolved against this fd, so a
    /// rename of the root path itself does not redirect us.
    pub fn open(root: &Path) -> Result<RootFs, CapError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = fcntl::open(root, flags, Mode::empty())
            .map_err(|e| Failed(format!("host root {root:?}: {}", e.desc())))?;
        let root = root.to_path_buf();
        Ok(RootFs { fd, root })
    }

    pub fn read(&self, path: &str) -> Result<Vec<u8>, CapError> {
        self.read_with_mode(path).map(|(bytes, _)| bytes)
    }

    /// A file as it is now, for the inverse of a change to it; None when
    /// there is no file.
    pub fn image(&self, path: &str) -> Result<Option<FileImage>, CapError> {
        match self.read_with_mode(path) {
            Ok((bytes, mode)) => Ok(Some(FileImage { bytes, mode })),
            Err(NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The bytes and permission bits of a regular file.
    fn read_with_mode(&self, path: &str) -> Result<(Vec<u8>, u32), CapError> {
        let norm = normalize(path)?;
        // O_NONBLOCK so a FIFO planted in the root cannot hang us at open; it
        // does nothing for the regular files we accept. O_NOCTTY for ttys.
        let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        let fd = self
            .open_beneath(&norm, flags)
            .map_err(|e| self.fail(&norm, e))?;
        let st = stat::fstat(&fd).map_err(|e| self.fail(&norm, e))?;
        if !is_type(&st, SFlag::S_IFREG) {
            return Err(Invalid(format!("{norm:?} is not a regular file")));
        }
        let too_big = || Invalid(format!("{norm:?} is larger than {MAX_READ} bytes"));
        if st.st_size as u64 > MAX_READ {
            return Err(too_big());
        }
        // The file may grow after fstat, so the cap is enforced on the read too.
        let mut buf = Vec::with_capacity(st.st_size as usize);
        File::from(fd)
            .take(MAX_READ + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.io_fail(&norm, &e))?;
        if buf.len() as u64 > MAX_READ {
            return Err(too_big());
        }
        Ok((buf, st.st_mode & MODE_BITS))
    }

    /// Atomically replaces (or creates) a regular file. Never follows a symlink
    /// in the final component and never writes through an existing inode, so
    /// hard links to outside files are not modified either.
    pub fn write(&self, path: &str, contents: &[u8], mode: Option<u32>) -> Result<(), CapError> {
        let norm = normalize(path)?;
        if let Some(m) =
            mode.filter(|m| m & !MODE_BITS & !FORBIDDEN_MODE != 0 || m & FORBIDDEN_MODE != 0)
        {
            return Err(Invalid(format!(
                "mode {m:#o} for {norm:?}: only permission bits, not setuid/setgid/sticky or world-writable"
            )));
        }
        let (dir, name) = self.open_parent(&norm)?;
        let old = lstat_at(&dir, name).map_err(|e| self.fail(&norm, e))?;
        if let Some(st) = &old {
            if is_type(st, SFlag::S_IFLNK) {
                let msg = format!("{norm:?} is a symlink; refusing to replace it");
                return Err(Denied(msg));
            }
            if !is_type(st, SFlag::S_IFREG) {
                return Err(Invalid(format!("{norm:?} is not a regular file")));
            }
        }
        let mode = mode
            // An existing file keeps its permissions, but never a setuid,
            // setgid or sticky bit over contents a hook wrote.
            .or(old.map(|st| st.st_mode & MODE_BITS))
            .unwrap_or(DEFAULT_MODE);
        let owner = old.map(|st| (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid)));
        let mut tmp = TempFile::create(&dir, name).map_err(|e| self.fail(&norm, e))?;
        tmp.fill(contents, mode, owner)
            .and_then(|()| tmp.persist(name))
            .map_err(|e| self.io_fail(&norm, &e))?;
        unistd::fsync(&dir).map_err(|e| self.fail(&norm, e))
    }

    /// Whether `remove` would find something to remove (a symlink counts).
    pub fn lexists(&self, path: &str) -> Result<bool, CapError> {
        let norm = normalize(path)?;
        let (dir, name) = match self.open_parent(&norm) {
            Err(NotFound(_)) => return Ok(false),
            other => other?,
        };
        Ok(lstat_at(&dir, name)
            .map_err(|e| self.fail(&norm, e))?
            .is_some())
    }

    /// Removes a file or symlink (never its target). `false` if it was absent,
    /// including when its parent directory is absent.
    pub fn remove(&self, path: &str) -> Result<bool, CapError> {
        let norm = normalize(path)?;
        let (dir, name) = match self.open_parent(&norm) {
            Err(NotFound(_)) => return Ok(false),
            other => other?,
        };
        let Some(st) = lstat_at(&dir, name).map_err(|e| self.fail(&norm, e))? else {
            return Ok(false);
        };
        if is_type(&st, SFlag::S_IFDIR) {
            return Err(Invalid(format!("{norm:?} is a directory")));
        }
        match unistd::unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir) {
            Err(Errno::ENOENT) => return Ok(false),
            other => other.map_err(|e| self.fail(&norm, e))?,
        }
        unistd::fsync(&dir).map_err(|e| self.fail(&norm, e))?;
        Ok(true)
    }

    /// An escaping symlink is `Denied`, not `false`: the caller asked about
    /// something that is not inside the root at all.
    pub fn exists(&self, path: &str) -> Result<bool, CapError> {
        let norm = normalize(path)?;
        match self.open_beneath(&norm, OFlag::O_PATH) {
            Ok(_) => Ok(true),
            Err(Errno::ENOENT | Errno::ENOTDIR) => Ok(false),
            Err(e) => Err(self.fail(&norm, e)),
        }
    }

    /// Sorted entry names. Non-UTF-8 names are converted lossily; such a name
    /// then simply fails to resolve if passed back.
    pub fn list(&self, path: &str) -> Result<Vec<String>, CapError> {
        let norm = normalize(path)?;
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
        let fd = self.open_beneath(&norm, flags).map_err(|e| match e {
            Errno::ENOTDIR => Invalid(format!("{norm:?} is not a directory")),
            e => self.fail(&norm, e),
        })?;
        let dir = nix::dir::Dir::from_fd(fd).map_err(|e| self.fail(&norm, e))?;
        let mut names = Vec::new();
        for entry in dir {
            let entry = entry.map_err(|e| self.fail(&norm, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens a normalized path, resolved by the kernel strictly beneath the root.
    fn open_beneath(&self, norm: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
        let rel = relative(norm);
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            // No symlink at all, even one that stays inside the root: grants
            // name paths, and a link would make a granted path another one.
            .resolve(
                ResolveFlag::RESOLVE_BENEATH
                    | ResolveFlag::RESOLVE_NO_SYMLINKS
                    | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
        let mut result = fcntl::openat2(&self.fd, rel, how);
        for _ in 0..EAGAIN_RETRIES {
            if !matches!(result, Err(Errno::EAGAIN)) {
                break;
            }
            result = fcntl::openat2(&self.fd, rel, how);
        }
        result
    }

    /// Opens the parent directory (resolved beneath the root) and returns it
    /// with the final component, which callers only ever use via *at calls.
    fn open_parent<'p>(&self, norm: &'p str) -> Result<(OwnedFd, &'p str), CapError> {
        let (parent, name) = match norm.rsplit_once('/') {
            Some((parent, name)) if !name.is_empty() => (parent, name),
            _ => return Err(Invalid(format!("{norm:?} is the host root itself"))),
        };
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
        let dir = self
            .open_beneath(parent, flags)
            .map_err(|e| self.fail(norm, e))?;
        Ok((dir, name))
    }

    fn fail(&self, norm: &str, errno: Errno) -> CapError {
        match errno {
            Errno::EXDEV => Denied(format!("{norm:?} resolves outside the host root")),
            Errno::ELOOP => Denied(format!(
                "{norm:?} goes through a symlink, which host-fs never follows"
            )),
            Errno::ENOENT => NotFound(format!("{norm:?}")),
            e => Failed(format!("{norm:?} under {:?}: {}", self.root, e.desc())),
        }
    }

    fn io_fail(&self, norm: &str, err: &io::Error) -> CapError {
        Failed(format!("{norm:?} under {:?}: {err}", self.root))
    }
}

/// A temp file next to the target that unlinks itself unless persisted, so no
/// error path can leave `.name.nethook-*` debris behind.
struct TempFile<'d> {
    dir: &'d OwnedFd,
    name: String,
    file: File,
    armed: bool,
}

impl<'d> TempFile<'d> {
    fn create(dir: &'d OwnedFd, target: &str) -> Result<Self, Errno> {
        let flags =
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        for _ in 0..TEMP_ATTEMPTS {
            // RandomState is randomly keyed per instance; O_EXCL handles clashes.
            let salt = RandomState::new().hash_one(std::time::SystemTime::now());
            let name = format!(".{target}.nethook-{:012x}", salt & 0xffff_ffff_ffff);
            match fcntl::openat(dir, name.as_str(), flags, Mode::S_IRUSR | Mode::S_IWUSR) {
                Ok(fd) => return Ok(Self::armed(dir, name, fd)),
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Errno::EEXIST)
    }

    fn armed(dir: &'d OwnedFd, name: String, fd: OwnedFd) -> Self {
        let file = File::from(fd);
        let armed = true;
        TempFile {
            dir,
            name,
            file,
            armed,
        }
    }

    fn fill(&mut self, data: &[u8], mode: u32, owner: Option<(Uid, Gid)>) -> io::Result<()> {
        self.file.write_all(data)?;
        if let Some((uid, gid)) = owner {
            unistd::fchown(&self.file, Some(uid), Some(gid))?;
        }
        // chmod after chown: chown clears setuid/setgid bits, even for root.
        self.file
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
        self.file.sync_all()
    }

    fn persist(&mut self, target: &str) -> io::Result<()> {
        fcntl::renameat(self.dir, self.name.as_str(), self.dir, target)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: nothing useful can be done if cleanup itself fails.
            let _ = unistd::unlinkat(self.dir, self.name.as_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// The hook's view of the host root, through the choke point.
pub struct HostFs<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn host_fs(&mut self) -> HostFs<'_> {
        HostFs { host: self }
    }

    pub(super) fn root_fs(&mut self) -> Result<&RootFs, CapError> {
        if self.fs.is_none() {
            self.fs = Some(RootFs::open(&self.session.node.root)?);
        }
        Ok(self.fs.as_ref().expect("opened above"))
    }
}

impl HostFs<'_> {
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, CapError> {
        let (p, check) = self.checked(path);
        self.host.read("host-fs", "read", p.clone(), check, |h| {
            h.root_fs()?.read(&p)
        })
    }

    pub fn write(
        &mut self,
        path: &str,
        contents: &[u8],
        mode: Option<u32>,
    ) -> Result<(), CapError> {
        let (p, check) = normalized(path);
        let sha256 = hex::encode(Sha256::digest(contents));
        let change = HostFsChange::FileWrite {
            path: p.clone(),
            size: contents.len(),
            mode,
            sha256: sha256.clone(),
        };
        self.host.mutate(
            change,
            check,
            |h| {
                let previous = h.root_fs()?.image(&p)?;
                let path = p.clone();
                let expect = Expect::Sha256(sha256);
                Ok(Inverse::of(vec![HostFsChange::FileRestore {
                    path,
                    previous,
                    expect,
                }]))
            },
            |h| h.root_fs()?.write(&p, contents, mode),
            |_| Planned::Change(()),
        )
    }

    pub fn remove(&mut self, path: &str) -> Result<bool, CapError> {
        let (p, check) = normalized(path);
        let change = HostFsChange::FileRemove { path: p.clone() };
        self.host.mutate(
            change,
            check,
            |h| {
                let fs = h.root_fs()?;
                if !fs.lexists(&p)? {
                    return Ok(Inverse::Nothing);
                }
                match fs.image(&p) {
                    Ok(Some(previous)) => Ok(Inverse::of(vec![HostFsChange::FileRestore {
                        path: p.clone(),
                        previous: Some(previous),
                        expect: Expect::Absent,
                    }])),
                    Ok(None) => Ok(Inverse::Nothing),
                    Err(e) => Ok(Inverse::Irreversible {
                        why: format!("{p} is not a regular file that can be put back: {e}"),
                    }),
                }
            },
            |h| h.root_fs()?.remove(&p),
            |h| match h.root_fs().and_then(|fs| fs.lexists(&p)) {
                Ok(true) => Planned::Change(true),
                _ => Planned::NoChange(false),
            },
        )
    }

    /// An undo of a write or remove: put `previous` back (None: remove the
    /// file), unless the file no longer holds what the change left there.
    /// True when the node changed; an edit since is reported, not undone.
    pub(super) fn restore(
        &mut self,
        path: &str,
        previous: &Option<FileImage>,
        expect: &Expect,
    ) -> Result<bool, CapError> {
        let (p, check) = normalized(path);
        let change = HostFsChange::FileRestore {
            path: p.clone(),
            previous: previous.clone(),
            expect: expect.clone(),
        };
        self.host.mutate(
            change,
            check,
            |_| Ok(Inverse::Nothing),
            |h| {
                let fs = h.root_fs()?;
                let now = fs.image(&p)?;
                if now.as_ref().map(|i| &i.bytes) == previous.as_ref().map(|i| &i.bytes) {
                    return Ok(false);
                }
                if Expect::of(&now) != *expect {
                    h.log(
                        crate::bindings::nethook::hooks::log::Level::Warn,
                        &format!("{p} was changed since nethook changed it; left as it is"),
                        &[],
                    );
                    return Ok(false);
                }
                match previous {
                    Some(img) => fs.write(&p, &img.bytes, Some(img.mode & !FORBIDDEN_MODE))?,
                    None => {
                        fs.remove(&p)?;
                    }
                }
                Ok(true)
            },
            |_| Planned::Change(true),
        )
    }

    pub fn exists(&mut self, path: &str) -> Result<bool, CapError> {
        let (p, check) = self.checked(path);
        self.host.read("host-fs", "exists", p.clone(), check, |h| {
            h.root_fs()?.exists(&p)
        })
    }

    pub fn list(&mut self, path: &str) -> Result<Vec<String>, CapError> {
        let (p, check) = self.checked(path);
        self.host.read("host-fs", "list", p.clone(), check, |h| {
            h.root_fs()?.list(&p)
        })
    }

    /// The normalized path, and whether it is well-formed and granted
    /// for reading.
    fn checked(&self, path: &str) -> (String, Result<(), CapError>) {
        let (p, check) = normalized(path);
        let check = check.and_then(|()| self.host.grants.read_path(&p));
        (p, check)
    }
}

/// The normalized path, and whether it is well-formed (a change's grant
/// is its own: [`Change::grant`]).
fn normalized(path: &str) -> (String, Result<(), CapError>) {
    match normalize(path) {
        Ok(p) => (p, Ok(())),
        Err(e) => (path.to_string(), Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, MetadataExt};

    const SECRET: &[u8] = b"outside secret\n";

    /// Error variant as a word, so each outcome is one assert_eq line.
    fn kind<T: std::fmt::Debug>(r: &Result<T, CapError>) -> &'static str {
        match r {
            Ok(_) => "ok",
            Err(Denied(_)) => "denied",
            Err(Invalid(_)) => "invalid",
            Err(NotFound(_)) => "notfound",
            Err(Failed(_)) => "failed",
            Err(CapError::Exists(_)) => "exists",
        }
    }

    /// tmp/root/etc plus tmp/outside/secret, which no test may ever change.
    struct Fixture {
        tmp: tempfile::TempDir,
        fs: RootFs,
    }

    impl Fixture {
        fn new() -> Fixture {
            let tmp = tempfile::tempdir().unwrap();
            fs::create_dir_all(tmp.path().join("root/etc")).unwrap();
            fs::create_dir_all(tmp.path().join("outside")).unwrap();
            fs::write(tmp.path().join("outside/secret"), SECRET).unwrap();
            let fs = RootFs::open(&tmp.path().join("root")).unwrap();
            Fixture { tmp, fs }
        }
        fn root(&self, rel: &str) -> PathBuf {
            self.tmp.path().join("root").join(rel)
        }
        fn outside(&self, rel: &str) -> PathBuf {
            self.tmp.path().join("outside").join(rel)
        }
        fn link(&self, rel: &str, target: impl AsRef<Path>) {
            symlink(target, self.root(rel)).unwrap();
        }
        fn assert_outside_intact(&self) {
            assert_eq!(fs::read(self.outside("secret")).unwrap(), SECRET);
            let names: Vec<_> = fs::read_dir(self.outside("")).unwrap().collect();
            assert_eq!(names.len(), 1, "stray files outside: {names:?}");
        }
        fn assert_all_denied(&self, path: &str) {
            let r = self.fs.read(path);
            assert_eq!(kind(&r), "denied", "read {path}: {r:?}");
            let w = self.fs.write(path, b"pwned", None);
            assert_eq!(kind(&w), "denied", "write {path}: {w:?}");
            let e = self.fs.exists(path);
            assert_eq!(kind(&e), "denied", "exists {path}: {e:?}");
            self.assert_outside_intact();
        }
    }

    fn meta(p: &Path) -> (u32, u32, u32) {
        let md = fs::symlink_metadata(p).unwrap();
        (md.mode() & 0o7777, md.uid(), md.gid())
    }

    #[test]
    fn round_trip_modes_and_no_temp_files() {
        let f = Fixture::new();
        f.fs.write("/etc/a.conf", b"hello", None).unwrap();
        assert_eq!(f.fs.read("/etc/a.conf").unwrap(), b"hello");
        assert_eq!(meta(&f.root("etc/a.conf")).0, 0o644);
        f.fs.write("/etc/b.conf", b"secret", Some(0o600)).unwrap();
        assert_eq!(meta(&f.root("etc/b.conf")).0, 0o600);
        for bad in [0o4755, 0o2755, 0o1777, 0o666, 0o10644] {
            assert!(
                matches!(f.fs.write("/etc/b.conf", b"x", Some(bad)), Err(Invalid(_))),
                "{bad:o}"
            );
        }
        assert_eq!(f.fs.read("/etc/b.conf").unwrap(), b"secret");
        // A setuid file keeps its permissions, not its setuid bit.
        std::fs::set_permissions(
            f.root("etc/b.conf"),
            std::fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        f.fs.write("/etc/b.conf", b"", None).unwrap();
        assert_eq!(meta(&f.root("etc/b.conf")).0, 0o755);
        assert_eq!(f.fs.list("/etc").unwrap(), ["a.conf", "b.conf"]);
    }

    #[test]
    fn overwrite_keeps_mode_and_owner() {
        if !Uid::effective().is_root() {
            eprintln!("skipping: chown needs root");
            return;
        }
        let f = Fixture::new();
        let p = f.root("etc/x.network");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&p, Some(1234), Some(1234)).unwrap();
        f.fs.write("/etc/x.network", b"new", None).unwrap();
        assert_eq!(meta(&p), (0o640, 1234, 1234));
        f.fs.write("/etc/x.network", b"newer", Some(0o600)).unwrap();
        assert_eq!(meta(&p), (0o600, 1234, 1234));
        assert_eq!(fs::read(&p).unwrap(), b"newer");
        assert_eq!(f.fs.list("/etc").unwrap(), ["x.network"]);
    }

    #[test]
    fn write_errors() {
        let f = Fixture::new();
        assert_eq!(kind(&f.fs.write("/nope/x", b"", None)), "notfound");
        assert_eq!(kind(&f.fs.write("/etc/x", b"", Some(0o10000))), "invalid");
        assert_eq!(kind(&f.fs.write("/", b"", None)), "invalid");
        assert_eq!(kind(&f.fs.write("/etc", b"", None)), "invalid");
        assert_eq!(kind(&f.fs.remove("/")), "invalid");
        assert!(f.fs.list("/etc").unwrap().is_empty());
    }

    #[test]
    fn dotdot_is_denied() {
        Fixture::new().assert_all_denied("/etc/../../outside/secret");
    }

    #[test]
    fn absolute_symlink_is_denied() {
        let f = Fixture::new();
        f.link("etc/link", f.outside("secret"));
        f.assert_all_denied("/etc/link");
    }

    #[test]
    fn climbing_relative_symlink_is_denied() {
        let f = Fixture::new();
        f.link("etc/link", "../../outside/secret");
        f.assert_all_denied("/etc/link");
    }

    #[test]
    fn symlink_chains_are_denied() {
        let f = Fixture::new();
        f.link("a", "b");
        f.link("b", "../outside/secret");
        f.assert_all_denied("/a");
        f.link("etc/netdir", f.outside(""));
        f.assert_all_denied("/etc/netdir/secret");
        f.assert_all_denied("/etc/netdir/x");
    }

    #[test]
    fn magic_links_are_denied() {
        let f = Fixture::new();
        f.link("proc-link", "/proc/self/root");
        f.assert_all_denied("/proc-link/etc/hostname");
        // Rooted at /proc/self, the children are real magic links.
        let proc_fs = RootFs::open(Path::new("/proc/self")).unwrap();
        for path in ["/root", "/cwd/x", "/fd/0", "/exe"] {
            let r = proc_fs.exists(path);
            assert_eq!(kind(&r), "denied", "{path}: {r:?}");
        }
    }

    #[test]
    fn final_symlink_inside_root_is_not_replaced() {
        let f = Fixture::new();
        fs::write(f.root("etc/inside"), b"inside").unwrap();
        f.link("etc/target", "inside");
        assert_eq!(kind(&f.fs.write("/etc/target", b"pwned", None)), "denied");
        assert_eq!(fs::read(f.root("etc/inside")).unwrap(), b"inside");
        // Nor is it read through: a granted path must not become another.
        assert_eq!(kind(&f.fs.read("/etc/target")), "denied");
        assert_eq!(f.fs.list("/etc").unwrap(), ["inside", "target"]);
    }

    #[test]
    fn directory_swapped_for_symlink_is_caught() {
        let f = Fixture::new();
        fs::create_dir(f.root("etc/dir")).unwrap();
        f.fs.write("/etc/dir/f", b"one", None).unwrap();
        fs::remove_dir_all(f.root("etc/dir")).unwrap();
        f.link("etc/dir", f.outside(""));
        assert_eq!(kind(&f.fs.write("/etc/dir/f", b"two", None)), "denied");
        fs::remove_file(f.root("etc/dir")).unwrap();
        f.link("etc/dir", "../../outside");
        assert_eq!(kind(&f.fs.write("/etc/dir/f", b"two", None)), "denied");
        f.assert_outside_intact();
    }

    #[test]
    fn remove_cases() {
        let f = Fixture::new();
        fs::write(f.root("etc/x"), b"x").unwrap();
        assert_eq!(f.fs.remove("/etc/x"), Ok(true));
        assert!(!f.root("etc/x").exists());
        assert_eq!(f.fs.remove("/etc/x"), Ok(false));
        assert_eq!(f.fs.remove("/missing/x"), Ok(false));
        f.link("etc/link", f.outside("secret"));
        assert_eq!(f.fs.remove("/etc/link"), Ok(true));
        assert!(fs::symlink_metadata(f.root("etc/link")).is_err());
        assert_eq!(kind(&f.fs.remove("/etc")), "invalid");
        f.assert_outside_intact();
    }

    #[test]
    fn list_exists_and_read_kinds() {
        let f = Fixture::new();
        for name in ["zeta", "alpha", "mid"] {
            fs::write(f.root(&format!("etc/{name}")), name).unwrap();
        }
        assert_eq!(f.fs.list("/etc").unwrap(), ["alpha", "mid", "zeta"]);
        assert_eq!(f.fs.list("/").unwrap(), ["etc"]);
        assert_eq!(f.fs.exists("/"), Ok(true));
        assert_eq!(f.fs.exists("/etc/alpha"), Ok(true));
        assert_eq!(f.fs.exists("/etc/nope"), Ok(false));
        assert_eq!(f.fs.exists("/etc/alpha/sub"), Ok(false));
        assert_eq!(kind(&f.fs.read("/etc")), "invalid");
        assert_eq!(kind(&f.fs.read("/etc/nope")), "notfound");
        assert_eq!(kind(&f.fs.list("/nope")), "notfound");
        assert_eq!(kind(&f.fs.list("/etc/alpha")), "invalid");
        // A FIFO must be refused without blocking in open().
        unistd::mkfifo(&f.root("etc/fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert_eq!(kind(&f.fs.read("/etc/fifo")), "invalid");
    }

    #[test]
    fn read_size_cap() {
        let f = Fixture::new();
        let big = File::create(f.root("etc/big")).unwrap();
        big.set_len(MAX_READ + 1).unwrap();
        assert_eq!(kind(&f.fs.read("/etc/big")), "invalid");
        big.set_len(MAX_READ).unwrap();
        assert_eq!(f.fs.read("/etc/big").unwrap().len() as u64, MAX_READ);
    }

    #[test]
    fn temp_file_is_removed_unless_persisted() {
        let f = Fixture::new();
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY;
        let dir = fcntl::open(&f.root("etc"), flags, Mode::empty()).unwrap();
        let tmp = TempFile::create(&dir, "x").unwrap();
        assert!(tmp.name.starts_with(".x.nethook-"));
        assert_eq!(f.fs.list("/etc").unwrap(), [tmp.name.as_str()]);
        drop(tmp);
        assert!(f.fs.list("/etc").unwrap().is_empty());
    }

    #[test]
    fn normalize_rules() {
        assert_eq!(normalize("/etc//x/./y/").unwrap(), "/etc/x/y");
        assert_eq!(normalize("//.").unwrap(), "/");
        assert_eq!(
            normalize("etc/x"),
            Err(Invalid("path \"etc/x\" is not absolute".into()))
        );
        assert_eq!(kind(&normalize("/a\nb")), "invalid");
        assert_eq!(kind(&normalize("/a\0b")), "invalid");
        assert_eq!(kind(&normalize("")), "invalid");
        assert_eq!(
            normalize("/a/../b"),
            Err(Denied("path \"/a/../b\" contains '..'".into()))
        );
        let long = format!("/{}", "a".repeat(MAX_PATH));
        assert_eq!(kind(&normalize(&long)), "invalid");
        assert!(normalize(&long[..MAX_PATH]).is_ok());
    }
}
