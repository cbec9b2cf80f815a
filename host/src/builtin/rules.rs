//! The udev rule file that gives the uplinks back the `ID_NET_NAME_*`
//! names udev computed before the dataplane took them over.

use std::collections::BTreeMap;

pub const PATH: &str = "/etc/udev/rules.d/99-vpp-restore-id_net_name.rules";
pub const HEADER: &str =
    "# Written by nethook: restores the udev names the uplinks had before the dataplane took them over.";
/// In rule order.
pub const PROPERTIES: [&str; 4] = [
    "ID_NET_NAME_ONBOARD",
    "ID_NET_NAME_SLOT",
    "ID_NET_NAME_PATH",
    "ID_NET_NAME_MAC",
];

/// What before-if-read captured of one uplink.
pub type Capture = BTreeMap<String, String>;
pub const MAC: &str = "MAC";

/// udev's safe character set for names (its ALLOWED_CHARS); anything else
/// could end the string or the rule.
fn safe(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "#+-.:=@_".contains(c))
}

fn valid_mac(m: &str) -> bool {
    let parts: Vec<&str> = m.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The file for `captures` (in uplink order), and what was refused and
/// why. None when no uplink has anything to restore.
pub fn render(captures: &[(String, Capture)]) -> (Option<String>, Vec<String>) {
    let mut refused = Vec::new();
    let mut lines = vec![HEADER.to_string()];
    for (uplink, cap) in captures {
        let Some(mac) = cap.get(MAC).filter(|m| valid_mac(m)) else {
            refused.push(format!(
                "{uplink}: no valid MAC address ({:?}); no rule",
                cap.get(MAC)
            ));
            continue;
        };
        let mut line = format!(
            "SUBSYSTEM==\"net\", ATTR{{address}}==\"{}\"",
            mac.to_ascii_lowercase()
        );
        let mut any = false;
        for key in PROPERTIES {
            match cap.get(key).map(String::as_str) {
                None | Some("") => {}
                Some(v) if safe(v) => {
                    // `=`, not `:=`: udev has no final assignment for ENV and
                    // `udevadm verify` rejects it.
                    line.push_str(&format!(", ENV{{{key}}}=\"{v}\""));
                    any = true;
                }
                Some(v) => refused.push(format!(
                    "{uplink}: {key}={v:?} has characters outside udev's safe set; skipped"
                )),
            }
        }
        if any {
            lines.push(line);
        }
    }
    if lines.len() == 1 {
        return (None, refused);
    }
    let mut text = lines.join("\n");
    text.push('\n');
    (Some(text), refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(pairs: &[(&str, &str)]) -> Capture {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn lines_follow_uplink_order_and_property_order() {
        let captures = vec![
            (
                "ens5".to_string(),
                cap(&[
                    (MAC, "0A:1b:2c:3d:4e:5f"),
                    ("ID_NET_NAME_PATH", "enp0s5"),
                    ("ID_NET_NAME_MAC", "enx0a1b2c3d4e5f"),
                    ("ID_NET_NAME_SLOT", "ens5"),
                ]),
            ),
            (
                "eth1".to_string(),
                cap(&[(MAC, "02:00:00:00:00:01"), ("ID_NET_NAME_ONBOARD", "eno1")]),
            ),
        ];
        let (text, refused) = render(&captures);
        assert_eq!(
            text.unwrap(),
            format!(
                "{HEADER}\n\
                 SUBSYSTEM==\"net\", ATTR{{address}}==\"0a:1b:2c:3d:4e:5f\", ENV{{ID_NET_NAME_SLOT}}=\"ens5\", ENV{{ID_NET_NAME_PATH}}=\"enp0s5\", ENV{{ID_NET_NAME_MAC}}=\"enx0a1b2c3d4e5f\"\n\
                 SUBSYSTEM==\"net\", ATTR{{address}}==\"02:00:00:00:00:01\", ENV{{ID_NET_NAME_ONBOARD}}=\"eno1\"\n"
            )
        );
        assert!(refused.is_empty());
    }

    #[test]
    fn values_that_could_inject_rule_syntax_are_refused() {
        let evil = [
            "enp0s5\", RUN+=\"/bin/sh -c reboot",
            "a\\b",
            "two\nlines",
            "with space",
            "dollar$x",
        ];
        for v in evil {
            let (text, refused) = render(&[(
                "ens5".into(),
                cap(&[(MAC, "02:00:00:00:00:01"), ("ID_NET_NAME_PATH", v)]),
            )]);
            assert_eq!(text, None, "{v:?}");
            assert_eq!(refused.len(), 1, "{v:?}");
        }
        let (text, _) = render(&[(
            "ens5".into(),
            cap(&[
                (MAC, "02:00:00:00:00:01\", RUN+=\"x"),
                ("ID_NET_NAME_PATH", "enp0s5"),
            ]),
        )]);
        assert_eq!(text, None);
    }
}
