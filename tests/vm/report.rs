//! What a VM run produced, read back: the guest's measurements
//! (out/LABEL/POINT.env), the points' begin times and hook results (the
//! `NHVM` lines, stamped with the host's clock), the namespace's
//! continuous ping and the DHCP server's leases and log, joined into
//! per-point and per-lifecycle figures.

use std::collections::HashMap;

use super::bed::{Bed, Dhcp};

/// The host pings every 200 ms.
const PING_INTERVAL: f64 = 0.2;
/// After a point that takes the uplink over or gives it back, this long is
/// still that moment (the network service finishing with the link).
const MOMENT_GRACE: f64 = 5.0;
/// Unanswered pings in a row that make a lapse (2 s): an address that is
/// gone; fewer are an emulated node not scheduled in time on a loaded
/// host (seen on both VMs at the same instants), counted as lost pings
/// but not as the address lapsing.
const LAPSE_RUN: usize = 10;

pub struct Point {
    pub label: String,
    pub name: String,
    pub begin: f64,
    pub hook: String,
    pub phase_ms: u64,
}

pub struct Run {
    pub points: Vec<Point>,
    /// `scenario LABEL begin` and `end`, host time.
    pub begins: HashMap<String, f64>,
    pub ends: HashMap<String, f64>,
    pub dhcp: Dhcp,
    /// (icmp_seq, sent at, answered).
    pub pings: Vec<(u64, f64, bool)>,
    measures: HashMap<(String, String), HashMap<String, String>>,
    pub kind: String,
    /// The bed's logs, with what the guest wrote (out/).
    pub logs: std::path::PathBuf,
}

/// `key=value` from a space-separated line.
pub fn field(text: &str, key: &str) -> String {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
        .unwrap_or_default()
}

impl Run {
    pub fn read(bed: &Bed, ping: &str, dhcp: Dhcp) -> Run {
        let mut points: Vec<Point> = Vec::new();
        let mut begins = HashMap::new();
        let mut ends = HashMap::new();
        let mut measures = HashMap::new();
        for line in &bed.seen {
            let words: Vec<&str> = line.text.split_whitespace().collect();
            match words.as_slice() {
                ["NHVM", label, "begin", point] => points.push(Point {
                    label: label.to_string(),
                    name: point.to_string(),
                    begin: line.at,
                    hook: String::new(),
                    phase_ms: 0,
                }),
                ["NHVM", label, "end", point, ..] => {
                    let p = points
                        .iter_mut()
                        .rev()
                        .find(|p| p.label == *label && p.name == *point)
                        .expect("end before begin");
                    p.hook = field(&line.text, "hook");
                    p.phase_ms = field(&line.text, "phase_ms").parse().unwrap();
                }
                ["NHVM", "scenario", label, "end"] => {
                    ends.insert(label.to_string(), line.at);
                }
                ["NHVM", "scenario", label, "begin"] => {
                    begins.insert(label.to_string(), line.at);
                }
                ["NHVM", "measured", label, point, ..] => {
                    let path = bed.out(&format!("{label}/{point}.env"));
                    let text = std::fs::read_to_string(&path)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    let values = text
                        .lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                        .collect();
                    measures.insert((label.to_string(), point.to_string()), values);
                }
                _ => {}
            }
        }
        Run {
            points,
            begins,
            ends,
            dhcp,
            pings: parse_ping(ping),
            measures,
            kind: bed.kind.clone(),
            logs: bed.logs.clone(),
        }
    }

    /// What to read when a check fails, printed with it (CI keeps no
    /// files): the last lines of the guest's driver log (nethook's and the
    /// stand-in's own lines), of the network service's journal and of the
    /// DHCP server's exchanges.
    pub fn story(&self) -> String {
        let tail = |file: &str, keep: &dyn Fn(&str) -> bool, n: usize| {
            let text = std::fs::read_to_string(self.logs.join(file)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
            let from = lines.len().saturating_sub(n);
            format!(
                "--- {} ({file}, last {} lines of {}) ---\n{}\n",
                self.kind,
                lines.len() - from,
                lines.len(),
                lines[from..].join("\n")
            )
        };
        let service = |l: &str| l.contains("systemd-networkd[") || l.contains("NetworkManager[");
        let dhcp = |l: &str| {
            [
                "DHCPDISCOVER",
                "DHCPOFFER",
                "DHCPREQUEST",
                "DHCPACK",
                "DHCPNAK",
                "DHCPRELEASE",
            ]
            .iter()
            .any(|m| l.contains(m))
        };
        tail("ctl.log", &|_| true, 120)
            + &tail("out/journal.txt", &service, 80)
            + &tail("dnsmasq.log", &dhcp, 40)
    }

    /// What the guest measured after POINT of LABEL.
    pub fn at(&self, label: &str, point: &str) -> &HashMap<String, String> {
        self.measures
            .get(&(label.to_string(), point.to_string()))
            .unwrap_or_else(|| panic!("{}: no measurement of {label} at {point}", self.kind))
    }

    pub fn get(&self, label: &str, point: &str, key: &str) -> &str {
        self.at(label, point)
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{}: {label} at {point} has no {key}", self.kind))
    }

    pub fn point(&self, label: &str, point: &str) -> &Point {
        self.points
            .iter()
            .find(|p| p.label == label && p.name == point)
            .unwrap_or_else(|| panic!("{}: {label} never reached {point}", self.kind))
    }

    /// Pings sent from POINT's begin to the next point's (or the scenario's
    /// end): (sent, lost).
    pub fn loss(&self, label: &str, point: &str) -> (usize, usize) {
        let i = self
            .points
            .iter()
            .position(|p| p.label == label && p.name == point)
            .unwrap_or_else(|| panic!("{}: {label} never reached {point}", self.kind));
        let from = self.points[i].begin;
        let to = self
            .points
            .get(i + 1)
            .filter(|p| p.label == label)
            .map(|p| p.begin)
            .or_else(|| self.ends.get(label).copied())
            .unwrap_or(f64::MAX);
        let window: Vec<_> = self
            .pings
            .iter()
            .filter(|(_, at, _)| *at >= from && *at < to)
            .collect();
        let lost = window.iter().filter(|(_, _, ok)| !ok).count();
        (window.len(), lost)
    }

    /// The network service's restarts over LABEL: how often its
    /// InvocationID changed from the scenario's start, through each
    /// measured point, to its end.
    pub fn restarts(&self, label: &str) -> usize {
        let changes = self.series(label, "invocation");
        let changed = changes.windows(2).filter(|w| w[0] != w[1]).count();
        changed.saturating_sub(self.crashes(label))
    }

    /// The service's restarts by systemd itself after it died (NRestarts
    /// grew): not requested by anyone, and not counted as restarts.
    pub fn crashes(&self, label: &str) -> usize {
        let n: Vec<usize> = self
            .series(label, "nrestarts")
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        n.windows(2).map(|w| w[1].saturating_sub(w[0])).sum()
    }

    /// A measured key at the scenario's start, at each of its points, and
    /// after it.
    fn series(&self, label: &str, key: &str) -> Vec<&str> {
        let mut out: Vec<&str> = vec![self.get(label, "start", key)];
        for p in self.points.iter().filter(|p| p.label == label) {
            if let Some(v) = self
                .measures
                .get(&(label.to_string(), p.name.clone()))
                .and_then(|m| m.get(key))
            {
                out.push(v);
            }
        }
        out.push(self.get(label, "after", key));
        out
    }

    /// From the dataplane's start (vpp-running) to the scenario's end:
    /// the seconds the node's address lapsed (runs of at least LAPSE_RUN
    /// unanswered pings) outside the takeover and give-back moments (each a
    /// point's own time, plus a grace), and in all.
    pub fn lapse(&self, label: &str) -> (f64, f64) {
        let from = self.point(label, "vpp-running").begin;
        let to = self.ends[label];
        let moments: Vec<(f64, f64)> = ["vpp-running", "vpp-done-ok"]
            .iter()
            .map(|p| {
                let p = self.point(label, p);
                (p.begin, p.begin + p.phase_ms as f64 / 1000.0 + MOMENT_GRACE)
            })
            .collect();
        let window: Vec<&(u64, f64, bool)> = self
            .pings
            .iter()
            .filter(|(_, at, _)| *at >= from && *at < to)
            .collect();
        let (mut outside, mut all) = (0, 0);
        for run in window.split(|(_, _, ok)| *ok) {
            if run.len() < LAPSE_RUN {
                continue;
            }
            all += run.len();
            outside += run
                .iter()
                .filter(|(_, at, _)| !moments.iter().any(|(a, b)| at >= a && at < b))
                .count();
        }
        (outside as f64 * PING_INTERVAL, all as f64 * PING_INTERVAL)
    }

    /// The fewest and most (IPv4, IPv6) leases the server held at once
    /// during LABEL.
    pub fn leases(&self, label: &str) -> ((usize, usize), (usize, usize)) {
        self.dhcp.leases(self.begins[label], self.ends[label])
    }

    /// Replies from the server giving the node its own addresses (what it
    /// had at the scenario's start): (IPv4, IPv6) while the dataplane ran
    /// (vpp-running to vpp-done-ok), and after it stopped.
    pub fn renewals(&self, label: &str) -> ((usize, usize), (usize, usize)) {
        let first = |key| {
            self.get(label, "start", key)
                .split_whitespace()
                .next()
                .and_then(|a| a.split('/').next())
                .unwrap_or("none")
                .to_string()
        };
        let (v4, v6) = (first("addr4"), first("addr6"));
        let running = self.point(label, "vpp-running").begin;
        let stop = self.point(label, "vpp-done-ok").begin;
        let end = self.ends[label];
        (
            (
                self.dhcp.acks(&v4, running, stop),
                self.dhcp.acks(&v6, running, stop),
            ),
            (
                self.dhcp.acks(&v4, stop, end),
                self.dhcp.acks(&v6, stop, end),
            ),
        )
    }

    /// Whether the last `n` pings of LABEL's window answered.
    pub fn reachable_at_end(&self, label: &str, n: usize) -> bool {
        let end = self.ends[label];
        let last: Vec<_> = self.pings.iter().filter(|(_, at, _)| *at < end).collect();
        last.len() >= n && last[last.len() - n..].iter().all(|(_, _, ok)| *ok)
    }
}

/// `ping -D -O` output: a reply line per answered seq, "no answer yet"
/// (printed when the next one is sent) per unanswered one.
fn parse_ping(text: &str) -> Vec<(u64, f64, bool)> {
    let mut seqs: HashMap<u64, (f64, bool)> = HashMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some((at, rest)) = rest.split_once(']') else {
            continue;
        };
        let Ok(at) = at.parse::<f64>() else { continue };
        let Some(seq) = rest
            .split_whitespace()
            .find_map(|w| w.strip_prefix("icmp_seq="))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        if rest.contains("bytes from") {
            let e = seqs.entry(seq).or_insert((at, true));
            e.1 = true;
        } else if rest.contains("no answer yet") {
            // Printed one interval after the send.
            seqs.entry(seq).or_insert((at - 0.2, false));
        }
    }
    let mut v: Vec<_> = seqs.into_iter().map(|(s, (at, ok))| (s, at, ok)).collect();
    v.sort_by_key(|(s, _, _)| *s);
    v
}
