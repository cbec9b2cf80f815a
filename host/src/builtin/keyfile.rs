//! NetworkManager's keyfile format (nm-settings-keyfile(5)), as far as the
//! lease needs it: read the groups and keys of an admin's profile, and
//! write a profile of our own. Keys and values are kept as they are
//! written: a value copied from the admin's file means what it meant there.

/// Groups in file order, each with its keys in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keyfile {
    groups: Vec<(String, Vec<(String, String)>)>,
}

impl Keyfile {
    /// Comments and blank lines are dropped; a key before any group, or a
    /// line that is neither, is ignored (NetworkManager refuses such a
    /// file; what it would have loaded is what we copy).
    pub fn parse(text: &str) -> Keyfile {
        let mut k = Keyfile::default();
        for line in text.lines() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                k.groups.push((name.to_string(), Vec::new()));
            } else if let (Some((key, value)), Some((_, keys))) =
                (line.split_once('='), k.groups.last_mut())
            {
                keys.push((key.trim().to_string(), value.trim_start().to_string()));
            }
        }
        k
    }

    pub fn group(&self, name: &str) -> Option<&[(String, String)]> {
        self.groups
            .iter()
            .find(|(g, _)| g == name)
            .map(|(_, keys)| keys.as_slice())
    }

    pub fn get(&self, group: &str, key: &str) -> Option<&str> {
        self.group(group)?
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets `key` in `group` (created at the end if absent), replacing
    /// every earlier value of it.
    pub fn set(&mut self, group: &str, key: &str, value: &str) {
        let keys = match self.groups.iter().position(|(g, _)| g == group) {
            Some(i) => &mut self.groups[i].1,
            None => {
                self.groups.push((group.to_string(), Vec::new()));
                &mut self.groups.last_mut().expect("just pushed").1
            }
        };
        match keys.iter().position(|(k, _)| k == key) {
            Some(i) => {
                keys[i].1 = value.to_string();
                let mut seen = false;
                keys.retain(|(k, _)| {
                    let first = k != key || !seen;
                    seen |= k == key;
                    first
                });
            }
            None => keys.push((key.to_string(), value.to_string())),
        }
    }

    /// Every key of `group` of `from`, in order.
    pub fn copy_group(&mut self, from: &Keyfile, group: &str) {
        if let Some(keys) = from.group(group) {
            for (k, v) in keys {
                self.set(group, k, v);
            }
        }
    }

    /// `header` (comment lines) then the groups, a blank line between.
    pub fn render(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        for (i, (group, keys)) in self.groups.iter().enumerate() {
            if i > 0 || !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!("[{group}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_keys_are_read_copied_and_written_in_order() {
        let admin = Keyfile::parse(
            "# admin\n[connection]\nid=uplink\ntype=ethernet\n\n[ipv4]\nmethod=auto\ndns=10.0.0.53;\n; old\n[ipv6]\nmethod=auto\naddr-gen-mode=stable-privacy\n",
        );
        assert_eq!(admin.get("ipv4", "dns"), Some("10.0.0.53;"));
        assert_eq!(admin.get("ipv6", "ip6-privacy"), None);
        let mut ours = Keyfile::default();
        ours.set("connection", "id", "nethook-ens3");
        ours.copy_group(&admin, "ipv4");
        ours.set("ipv4", "method", "auto");
        ours.set("ipv4", "route-metric", "100");
        assert_eq!(
            ours.render("Written by nethook."),
            "# Written by nethook.\n\n[connection]\nid=nethook-ens3\n\n[ipv4]\nmethod=auto\ndns=10.0.0.53;\nroute-metric=100\n"
        );
    }

    #[test]
    fn a_key_set_twice_keeps_one_value() {
        let mut k = Keyfile::parse("[ipv4]\nmethod=manual\nmethod=auto\n");
        assert_eq!(k.get("ipv4", "method"), Some("auto"));
        k.set("ipv4", "method", "disabled");
        assert_eq!(k.render(""), "[ipv4]\nmethod=disabled\n");
    }
}
