//! NetworkManager's keyfile-style configuration, as far as `[main] dns=`
//! goes: reading the effective value, and setting `dns=none` in
//! NetworkManager.conf in place with a record that undoes exactly that.

use serde::{Deserialize, Serialize};

/// The last `dns=` in a `[main]` section of `text`, if any.
pub fn main_dns(text: &str) -> Option<String> {
    let mut in_main = false;
    let mut dns = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_main = t == "[main]";
        } else if in_main {
            if let Some((k, v)) = t.split_once('=') {
                if k.trim() == "dns" {
                    dns = Some(v.trim().to_string());
                }
            }
        }
    }
    dns
}

/// What setting `dns=none` in NetworkManager.conf did, for the undo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "edit", rename_all = "kebab-case")]
pub enum Edit {
    /// An existing `dns=` line in `[main]` was replaced; this was it.
    Replaced { line: usize, original: String },
    /// `dns=none` was inserted at this line, right after `[main]`.
    Inserted { line: usize },
    /// A `[main]` section with `dns=none` was appended, after a newline
    /// when the file did not end with one.
    Appended { newline: bool },
    /// The file did not exist and was created.
    Created,
}

pub const OUR_LINE: &str = "dns=none";
const APPENDED: &str = "[main]\ndns=none\n";

/// `text` (None: no file) with `dns=none` in effect in `[main]`.
pub fn set_dns_none(text: Option<&str>) -> (String, Edit) {
    let Some(text) = text else {
        return (APPENDED.to_string(), Edit::Created);
    };
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut in_main = false;
    let mut main_header = None;
    let mut last_dns = None;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_main = t == "[main]";
            if in_main && main_header.is_none() {
                main_header = Some(i);
            }
        } else if in_main && t.split_once('=').is_some_and(|(k, _)| k.trim() == "dns") {
            last_dns = Some(i);
        }
    }
    let edit = match (last_dns, main_header) {
        (Some(i), _) => {
            let original = std::mem::replace(&mut lines[i], OUR_LINE.to_string());
            Edit::Replaced { line: i, original }
        }
        (None, Some(h)) => {
            lines.insert(h + 1, OUR_LINE.to_string());
            Edit::Inserted { line: h + 1 }
        }
        (None, None) => {
            let newline = !text.is_empty() && !text.ends_with('\n');
            let mut out = text.to_string();
            if newline {
                out.push('\n');
            }
            out.push_str(APPENDED);
            return (out, Edit::Appended { newline });
        }
    };
    (join(&lines, text), edit)
}

/// Undo `edit` on the current `text`; None means remove the file. When the
/// line we wrote is no longer where we wrote it, someone changed the file
/// since: it is left alone (Err says why).
pub fn undo(text: &str, edit: &Edit) -> Result<Option<String>, String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let ours_at = |i: usize| lines.get(i).is_some_and(|l| l.trim() == OUR_LINE);
    match edit {
        Edit::Created if text == APPENDED => Ok(None),
        Edit::Created => Err("NetworkManager.conf was changed since nethook created it".into()),
        Edit::Appended { newline } => text
            .strip_suffix(APPENDED)
            .map(|rest| {
                let rest = if *newline {
                    rest.strip_suffix('\n').unwrap_or(rest)
                } else {
                    rest
                };
                Some(rest.to_string())
            })
            .ok_or_else(|| "the [main] section nethook appended is no longer at the end".into()),
        Edit::Replaced { line, original } if ours_at(*line) => {
            lines[*line] = original.clone();
            Ok(Some(join(&lines, text)))
        }
        Edit::Inserted { line } if ours_at(*line) => {
            lines.remove(*line);
            Ok(Some(join(&lines, text)))
        }
        _ => Err("the dns=none line nethook wrote is no longer where it was".into()),
    }
}

/// Lines joined back, keeping whether the original ended with a newline.
fn join(lines: &[String], original: &str) -> String {
    let mut out = lines.join("\n");
    if original.ends_with('\n') || original.is_empty() {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(before: Option<&str>, after: &str, edit: Edit) {
        let (text, e) = set_dns_none(before);
        assert_eq!((text.as_str(), &e), (after, &edit));
        assert_eq!(main_dns(&text).as_deref(), Some("none"));
        let undone = undo(&text, &e).unwrap();
        assert_eq!(undone.as_deref(), before);
    }

    #[test]
    fn each_shape_of_the_file_is_set_and_undone_exactly() {
        round_trip(
            Some("[main]\nplugins=ifupdown,keyfile\ndns=default\n\n[ifupdown]\nmanaged=false\n"),
            "[main]\nplugins=ifupdown,keyfile\ndns=none\n\n[ifupdown]\nmanaged=false\n",
            Edit::Replaced {
                line: 2,
                original: "dns=default".into(),
            },
        );
        round_trip(
            Some("[main]\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n"),
            "[main]\ndns=none\nplugins=ifupdown,keyfile\n\n[ifupdown]\nmanaged=false\n",
            Edit::Inserted { line: 1 },
        );
        round_trip(
            Some("[ifupdown]\nmanaged=false"),
            "[ifupdown]\nmanaged=false\n[main]\ndns=none\n",
            Edit::Appended { newline: true },
        );
        round_trip(
            Some(""),
            "[main]\ndns=none\n",
            Edit::Appended { newline: false },
        );
        round_trip(None, "[main]\ndns=none\n", Edit::Created);
    }

    #[test]
    fn a_file_changed_since_is_left_alone() {
        let (text, e) = set_dns_none(Some("[main]\ndns=default\n"));
        assert!(undo(&text.replace("dns=none", "dns=systemd-resolved"), &e).is_err());
        assert!(undo("[main]\ndns=none\n# admin\n", &Edit::Created).is_err());
    }

    #[test]
    fn the_effective_value_is_the_last_in_main() {
        assert_eq!(
            main_dns("[main]\ndns=default\n[logging]\ndns=x\n[main]\n dns = none \n").as_deref(),
            Some("none")
        );
        assert_eq!(main_dns("[logging]\ndns=none\n"), None);
    }
}
