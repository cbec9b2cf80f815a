//! `[watch]` and an event point's filters: owned by `nethook watch`, read
//! by the config (this file imports nothing above it).

use std::time::Duration;

use serde::Deserialize;

use super::links::LinkState;
use crate::caps::grants::Glob;

/// `[watch]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// A link's events fire once it has been quiet this long (0: at once,
    /// each message batch on its own).
    #[serde(deserialize_with = "crate::units::duration_or_zero")]
    pub debounce: Duration,
    /// ... or this long after its first change, however busy it stays.
    #[serde(deserialize_with = "crate::units::duration_value")]
    pub max_delay: Duration,
    /// Links waiting for the worker; when full, further changes of a link
    /// wait in its pending state (taken when the queue has room).
    #[serde(deserialize_with = "queue_len")]
    pub queue: usize,
    /// Waits before the second, third, ... try of a failed hook.
    #[serde(deserialize_with = "crate::units::duration_list")]
    pub retry: Vec<Duration>,
    /// How long link-added waits for udev's record of a new link (when
    /// udevd runs on the node).
    #[serde(deserialize_with = "crate::units::duration_value")]
    pub udev_wait: Duration,
    /// Report the links that exist when watch starts, once, as link-added.
    pub initial: bool,
    /// SO_RCVBUF of the event socket, in bytes; the kernel's default if unset.
    pub receive_buffer: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            debounce: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
            queue: 256,
            // cloud-init's hotplug retry schedule.
            retry: [1, 3, 5, 10, 30].map(Duration::from_secs).to_vec(),
            udev_wait: Duration::from_secs(5),
            initial: false,
            receive_buffer: None,
        }
    }
}

fn queue_len<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(serde::de::Error::custom("queue must hold at least 1 link")),
        n => Ok(n),
    }
}

/// Which links an event point fires for; an empty list matches any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Link name globs.
    pub links: Vec<Glob>,
    /// rtnetlink kinds; `device` is a link with none (a NIC).
    pub kinds: Vec<String>,
    /// udev's ID_NET_DRIVER; a link udev does not know matches none.
    pub drivers: Vec<String>,
}

impl Filter {
    pub fn matches(&self, link: &LinkState, driver: Option<&str>) -> bool {
        let kind = link.kind.as_deref().unwrap_or("device");
        (self.links.is_empty() || self.links.iter().any(|g| g.matches(&link.name)))
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && (self.drivers.is_empty()
                || driver.is_some_and(|d| self.drivers.iter().any(|w| w == d)))
    }

    /// As shown by `check`.
    pub fn describe(&self) -> String {
        let list = |v: Vec<String>| match v.is_empty() {
            true => "any".to_string(),
            false => v.join(","),
        };
        format!(
            "links {}, kinds {}, drivers {}",
            list(self.links.iter().map(|g| g.as_str().to_string()).collect()),
            list(self.kinds.clone()),
            list(self.drivers.clone())
        )
    }
}
