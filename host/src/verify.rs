//! Verification after a point: what must hold on the node once the point's
//! handler has run, each check retried until it holds or its time runs
//! out. A check that fails rolls the point back (exit 8). `auto` picks,
//! before the point runs, the probes that pass then (the default gateway
//! answers, each uplink has carrier and its addresses), and demands they
//! pass after.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::caps::probe::AddressState;
use crate::caps::{CapError, Host};
use crate::names::UnitName;

/// The checks a point must pass after its handler ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verify {
    pub checks: Vec<Check>,
    pub auto: bool,
    pub timeout: Duration,
}

/// `[points.<point>.verify]`, or `verify = "auto"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// systemd units that must be `active`.
    #[serde(default)]
    pub units_active: Vec<String>,
    /// Links that must be administratively up.
    #[serde(default)]
    pub links_up: Vec<String>,
    /// Links that must have carrier (operstate up).
    #[serde(default)]
    pub links_carrier: Vec<String>,
    /// `LINK ADDRESS/PREFIX`: present and usable (IPv6 duplicate address
    /// detection waited out; a DAD failure fails at once).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// `DESTINATION/PREFIX` or `default`, optionally `... table N`: a route
    /// to it exists (IPv6 when the destination is).
    #[serde(default)]
    pub routes: Vec<String>,
    /// The default gateway (IPv4, main table) answers an ICMP echo.
    #[serde(default)]
    pub gateway: bool,
    /// Names that must resolve through the node's resolver.
    #[serde(default)]
    pub resolves: Vec<String>,
    /// Also: whatever of gateway, uplink carrier and uplink addresses
    /// holds before the point.
    #[serde(default)]
    pub auto: bool,
    /// How long each check may take to hold (default 10s).
    #[serde(default, with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const INTERVAL: Duration = Duration::from_millis(200);

/// One check, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    UnitActive(UnitName),
    LinkUp(String),
    LinkCarrier(String),
    Address {
        link: String,
        ip: IpAddr,
        prefix_len: u8,
    },
    Route {
        destination: Option<(IpAddr, u8)>,
        ipv6: bool,
        table: u32,
    },
    GatewayAnswers,
    Resolves(String),
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::UnitActive(u) => write!(f, "unit {u} is active"),
            Check::LinkUp(l) => write!(f, "link {l} is up"),
            Check::LinkCarrier(l) => write!(f, "link {l} has carrier"),
            Check::Address {
                link,
                ip,
                prefix_len,
            } => write!(f, "{link} has {ip}/{prefix_len}"),
            Check::Route {
                destination: None,
                ipv6,
                table,
            } => {
                write!(
                    f,
                    "an {} default route in table {table}",
                    if *ipv6 { "IPv6" } else { "IPv4" }
                )
            }
            Check::Route {
                destination: Some((ip, len)),
                table,
                ..
            } => {
                write!(f, "a route to {ip}/{len} in table {table}")
            }
            Check::GatewayAnswers => f.write_str("the default gateway answers"),
            Check::Resolves(n) => write!(f, "{n} resolves"),
        }
    }
}

impl Checks {
    /// The checks, parsed; an error names the key and value.
    pub fn parse(&self) -> Result<Vec<Check>, String> {
        let mut out = Vec::new();
        for u in &self.units_active {
            let unit = UnitName::parse(u).map_err(|e| format!("units_active: {e}"))?;
            out.push(Check::UnitActive(unit));
        }
        for (key, list, make) in [
            (
                "links_up",
                &self.links_up,
                Check::LinkUp as fn(String) -> Check,
            ),
            ("links_carrier", &self.links_carrier, Check::LinkCarrier),
        ] {
            for l in list {
                crate::caps::validate::ifname(l).map_err(|e| format!("{key}: {e}"))?;
                out.push(make(l.clone()));
            }
        }
        for a in &self.addresses {
            let bad = || format!("addresses: {a:?} is not \"LINK ADDRESS/PREFIX\"");
            let (link, cidr) = a.split_once(' ').ok_or_else(bad)?;
            crate::caps::validate::ifname(link).map_err(|e| format!("addresses: {e}"))?;
            let (ip, prefix_len) = cidr_of(cidr.trim()).ok_or_else(bad)?;
            out.push(Check::Address {
                link: link.to_string(),
                ip,
                prefix_len,
            });
        }
        for r in &self.routes {
            let bad = || {
                format!("routes: {r:?} is not \"DESTINATION/PREFIX\" or \"default\", optionally followed by \"table N\"")
            };
            let mut words = r.split_whitespace();
            let dst = words.next().ok_or_else(bad)?;
            let table = match (words.next(), words.next(), words.next()) {
                (None, _, _) => 254,
                (Some("table"), Some(t), None) => t.parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            let (destination, ipv6) = match dst {
                "default" => (None, false),
                "default6" => (None, true),
                d => {
                    let c = cidr_of(d).ok_or_else(bad)?;
                    (Some(c), c.0.is_ipv6())
                }
            };
            out.push(Check::Route {
                destination,
                ipv6,
                table,
            });
        }
        if self.gateway {
            out.push(Check::GatewayAnswers);
        }
        for n in &self.resolves {
            crate::caps::validate::hostname(n).map_err(|e| format!("resolves: {e}"))?;
            out.push(Check::Resolves(n.clone()));
        }
        Ok(out)
    }
}

fn cidr_of(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, len) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    (len <= if ip.is_ipv4() { 32 } else { 128 }).then_some((ip, len))
}

/// What `auto` demands: of these candidates, those that hold now.
pub fn auto_checks(host: &mut Host, uplinks: &[crate::names::IfName]) -> Vec<Check> {
    let mut candidates = vec![Check::GatewayAnswers];
    let addrs = host.netlink().list_addresses().unwrap_or_default();
    for u in uplinks {
        candidates.push(Check::LinkCarrier(u.to_string()));
        let index = host.netlink().get_link(u).map(|l| l.index).ok();
        for a in addrs.iter().filter(|a| Some(a.link_index) == index) {
            let Ok(ip) = a.address.parse::<IpAddr>() else {
                continue;
            };
            let link_local = match ip {
                IpAddr::V4(v4) => v4.is_link_local(),
                IpAddr::V6(v6) => v6.segments()[0] & 0xffc0 == 0xfe80,
            };
            if !link_local {
                candidates.push(Check::Address {
                    link: u.to_string(),
                    ip,
                    prefix_len: a.prefix_len,
                });
            }
        }
    }
    candidates
        .into_iter()
        .filter(|c| matches!(holds(host, c, Duration::from_millis(500)), Ok(true)))
        .collect()
}

/// Every check holds within its time, or the first that did not and why.
pub fn verify(host: &mut Host, checks: &[Check], timeout: Duration) -> Result<(), String> {
    for c in checks {
        let started = Instant::now();
        loop {
            match holds(host, c, timeout.saturating_sub(started.elapsed())) {
                Ok(true) => break,
                Ok(false) => {}
                Err(Fatal(why)) => return Err(format!("{c}: {why}")),
            }
            if started.elapsed() >= timeout {
                return Err(format!(
                    "{c}: not so after {}",
                    humantime::format_duration(timeout)
                ));
            }
            std::thread::sleep(INTERVAL);
        }
        tracing::info!(check = %c, "verified");
    }
    Ok(())
}

/// A check that can never hold (a DAD failure): no point retrying.
struct Fatal(String);

fn holds(host: &mut Host, check: &Check, budget: Duration) -> Result<bool, Fatal> {
    let soft = |r: Result<bool, CapError>| Ok(r.unwrap_or(false));
    match check {
        Check::UnitActive(u) => soft(host.systemd().is_active(u).map(|s| s == "active")),
        Check::LinkUp(l) => soft(host.netlink().get_link(l).map(|k| k.up)),
        Check::LinkCarrier(l) => soft(host.probe().carrier(l)),
        Check::Address {
            link,
            ip,
            prefix_len,
        } => match host.probe().address(link, *ip, *prefix_len) {
            Ok(AddressState::Ready) => Ok(true),
            Ok(AddressState::DadFailed) => Err(Fatal("duplicate address detection failed".into())),
            _ => Ok(false),
        },
        Check::Route {
            destination,
            ipv6,
            table,
        } => {
            let family = if *ipv6 {
                crate::bindings::nethook::hooks::netlink::Family::Ipv6
            } else {
                crate::bindings::nethook::hooks::netlink::Family::Ipv4
            };
            soft(host.netlink().list_routes(family).map(|routes| {
                routes.iter().any(|r| {
                    r.table == *table
                        && match destination {
                            None => r.destination.is_none() && r.prefix_len == 0,
                            Some((ip, len)) => {
                                r.prefix_len == *len
                                    && r.destination
                                        .as_deref()
                                        .and_then(|d| d.parse::<IpAddr>().ok())
                                        == Some(*ip)
                            }
                        }
                })
            }))
        }
        Check::GatewayAnswers => {
            let gw = host
                .netlink()
                .list_routes(crate::bindings::nethook::hooks::netlink::Family::Ipv4)
                .ok()
                .and_then(|rs| {
                    rs.into_iter()
                        .find(|r| r.table == 254 && r.destination.is_none() && r.gateway.is_some())
                        .and_then(|r| r.gateway?.parse::<IpAddr>().ok())
                });
            match gw {
                None => Ok(false),
                Some(ip) => soft(host.probe().echo(
                    ip,
                    budget.clamp(Duration::from_millis(200), Duration::from_secs(1)),
                )),
            }
        }
        Check::Resolves(n) => soft(host.probe().resolve(n).map(|a| !a.is_empty())),
    }
}

/// `"10s"`-style durations in an optional field.
mod humantime_serde_opt {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("invalid duration {s:?}: {e}")))
    }
}
