//! Whether the state dir outlives what nethook runs in. The records of what
//! was changed are what the undo points restore the node from: on the
//! dataplane container's own filesystem they are gone at its next restart,
//! on a tmpfs at the next reboot.

use std::path::{Path, PathBuf};

/// A mount of /proc/self/mountinfo: its id, mount point and type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    id: u64,
    point: PathBuf,
    fstype: String,
}

fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`
fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    Some(Mount {
        id: fields.first()?.parse().ok()?,
        point: PathBuf::from(unescape(fields.get(4)?)),
        fstype: right.split(' ').next()?.to_string(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The mount `path` (or its nearest existing ancestor) lives on: the
/// last-mounted one whose mount point is its longest prefix.
fn mount_of(mounts: &[Mount], path: &Path) -> Option<Mount> {
    let mut p = path.to_path_buf();
    let real = loop {
        if let Ok(r) = p.canonicalize() {
            break r;
        }
        if !p.pop() {
            return None;
        }
    };
    mounts
        .iter()
        .filter(|m| real.starts_with(&m.point))
        .max_by_key(|m| m.point.components().count())
        .cloned()
}

/// Ok with where the state dir lives, or Err with why records kept there
/// would be lost.
pub fn check(state_dir: &Path, host_root: &Path) -> Result<String, String> {
    let all = mounts();
    let Some(mount) = mount_of(&all, state_dir) else {
        return Err(format!(
            "{}: cannot tell its filesystem",
            state_dir.display()
        ));
    };
    if matches!(mount.fstype.as_str(), "tmpfs" | "ramfs") {
        return Err(format!(
            "{} is on a {} ({}): records of what nethook changed are lost at the next reboot, and its undo could not restore files it changed",
            state_dir.display(),
            mount.fstype,
            mount.point.display()
        ));
    }
    let root = mount_of(&all, Path::new("/"));
    let container = host_root != Path::new("/") && root.as_ref() == Some(&mount);
    if container && !state_dir.starts_with(host_root) {
        return Err(format!(
            "{} is on this container's own root filesystem ({}), which is discarded when the container restarts: records of what nethook changed would be lost and its undo could not restore the node; put state_dir on a host path (the default is var/lib/nethook under host_root)",
            state_dir.display(),
            mount.fstype
        ));
    }
    Ok(format!(
        "{} ({} mounted at {})",
        state_dir.display(),
        mount.fstype,
        mount.point.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse() {
        let m =
            parse_line("36 35 98:0 / /var/lib/my\\040dir rw,noatime shared:1 - ext4 /dev/vda rw")
                .unwrap();
        assert_eq!(
            m,
            Mount {
                id: 36,
                point: PathBuf::from("/var/lib/my dir"),
                fstype: "ext4".into()
            }
        );
        assert_eq!(parse_line("garbage"), None);
    }

    #[test]
    fn the_longest_mount_point_wins() {
        let mounts = vec![
            Mount {
                id: 1,
                point: "/".into(),
                fstype: "ext4".into(),
            },
            Mount {
                id: 2,
                point: "/proc".into(),
                fstype: "proc".into(),
            },
        ];
        assert_eq!(
            mount_of(&mounts, Path::new("/proc/self/nothing/here"))
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            mount_of(&mounts, Path::new("/does/not/exist")).unwrap().id,
            1
        );
    }
}
