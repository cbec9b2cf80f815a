//! Metrics a real Prometheus reads, encoded by the `prometheus-client`
//! crate: `nethook watch` serves its own on `[metrics] listen`; one-shot
//! runs of the dataplane's points, which no server lives long enough to
//! serve, rewrite a node_exporter textfile (`[metrics] textfile`) from the
//! run records (`runs`).

pub mod settings;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::{encode, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::runs::Runs;

type Labels = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn build_info(registry: &mut Registry) {
    let info = Family::<Labels, Gauge>::default();
    info.get_or_create(&labels(&[("version", env!("CARGO_PKG_VERSION"))]))
        .set(1);
    registry.register("nethook_build_info", "nethook's version (always 1)", info);
}

/// The textfile for the points' run records: each point's last run
/// (success, exit code, duration, changes, when) and its counts.
pub fn textfile(runs: &Runs) -> String {
    let mut registry = Registry::default();
    build_info(&mut registry);
    let gauge = || Family::<Labels, Gauge<f64, AtomicU64>>::default();
    let counter = Family::<Labels, Counter>::default;
    let (success, exit_code, duration, changes, when) =
        (gauge(), gauge(), gauge(), gauge(), gauge());
    let (total, failures, rollbacks) = (counter(), counter(), counter());
    for (point, p) in &runs.points {
        let l = labels(&[("point", point)]);
        success
            .get_or_create(&l)
            .set(f64::from(u8::from(p.last.exit_code == 0)));
        exit_code.get_or_create(&l).set(f64::from(p.last.exit_code));
        duration.get_or_create(&l).set(p.last.elapsed_ms / 1e3);
        changes.get_or_create(&l).set(p.last.changes as f64);
        let started = humantime::parse_rfc3339(&p.last.started)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        when.get_or_create(&l).set(started);
        total.get_or_create(&l).inc_by(p.runs);
        failures.get_or_create(&l).inc_by(p.failures);
        rollbacks.get_or_create(&l).inc_by(p.rollbacks);
    }
    registry.register(
        "nethook_point_last_run_success",
        "1 when the point's last run succeeded, 0 when it failed",
        success,
    );
    registry.register(
        "nethook_point_last_run_exit_code",
        "nethook's exit code for the point's last run",
        exit_code,
    );
    registry.register(
        "nethook_point_last_run_duration_seconds",
        "How long the point's last run took",
        duration,
    );
    registry.register(
        "nethook_point_last_run_changes",
        "Changes the point's last run made",
        changes,
    );
    registry.register(
        "nethook_point_last_run_timestamp_seconds",
        "When the point's last run started (Unix time)",
        when,
    );
    registry.register("nethook_point_runs", "Runs of the point", total);
    registry.register(
        "nethook_point_failures",
        "Failed runs of the point",
        failures,
    );
    registry.register(
        "nethook_point_rollbacks",
        "Runs of the point whose changes were rolled back",
        rollbacks,
    );
    let mut text = String::new();
    // The Prometheus text format node_exporter reads: no `# EOF`.
    encode_registry(&mut text, &registry).expect("writing to a String");
    text
}

/// Replace the textfile at `path` atomically (a temporary file beside it,
/// renamed): node_exporter never reads half of one.
pub fn write_textfile(path: &Path, runs: &Runs) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".nethook.prom.")
        .tempfile_in(dir)?;
    tmp.write_all(textfile(runs).as_bytes())?;
    tmp.as_file().sync_all()?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What `nethook watch` counts.
pub struct WatchMetrics {
    registry: Registry,
    /// Events handled, by point and outcome (`ok`, `failed`).
    pub events: Family<Labels, Counter>,
    /// Tries of event hooks, by point, hook and outcome.
    pub hook_runs: Family<Labels, Counter>,
    /// Failed tries whose changes were rolled back.
    pub rollbacks: Counter,
    /// Tries after the first.
    pub retries: Counter,
    /// Links waiting for the worker.
    pub queue_depth: Gauge,
    /// Times the kernel dropped messages and every link was read again.
    pub overruns: Counter,
    /// From the kernel's message to the end of the event's handling.
    pub latency: Family<Labels, Histogram>,
}

impl Default for WatchMetrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        build_info(&mut registry);
        let m = WatchMetrics {
            events: Family::default(),
            hook_runs: Family::default(),
            rollbacks: Counter::default(),
            retries: Counter::default(),
            queue_depth: Gauge::default(),
            overruns: Counter::default(),
            latency: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 16))
            }),
            registry: Registry::default(),
        };
        registry.register(
            "nethook_watch_events",
            "Events handled, by point and outcome",
            m.events.clone(),
        );
        registry.register(
            "nethook_watch_hook_runs",
            "Tries of event hooks, by point, hook and outcome",
            m.hook_runs.clone(),
        );
        registry.register(
            "nethook_watch_rollbacks",
            "Failed tries whose changes were rolled back",
            m.rollbacks.clone(),
        );
        registry.register(
            "nethook_watch_retries",
            "Tries of an event's hook after its first",
            m.retries.clone(),
        );
        registry.register(
            "nethook_watch_queue_depth",
            "Links waiting for the worker",
            m.queue_depth.clone(),
        );
        registry.register(
            "nethook_watch_overruns",
            "Times the kernel dropped messages and every link was read again",
            m.overruns.clone(),
        );
        registry.register(
            "nethook_watch_event_latency_seconds",
            "From the kernel's message to the end of the event's handling, by point",
            m.latency.clone(),
        );
        WatchMetrics { registry, ..m }
    }
}

impl WatchMetrics {
    /// The OpenMetrics exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    /// Serve `GET /metrics` on `addr` from a thread of its own, for the
    /// process's life. Bound before returning: a taken address is an error.
    pub fn serve(self: &Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let bound = listener.local_addr()?;
        let metrics = self.clone();
        std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = answer(&metrics, stream);
                }
            })?;
        Ok(bound)
    }
}

/// One request: the metrics for `GET /metrics`, 404 for anything else.
/// Bounded: a slow or silent client gets 5 s, a request 8 KiB.
fn answer(metrics: &WatchMetrics, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 8192];
    let mut len = 0;
    while len < buf.len() {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let (status, kind, body) = match request.split_whitespace().take(2).collect::<Vec<_>>()[..] {
        ["GET", "/metrics"] => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        _ => ("404 Not Found", "text/plain", "see /metrics\n".to_string()),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::{LastRun, PointRuns};

    #[test]
    fn the_textfile_has_each_points_last_run_and_counts() {
        let mut runs = Runs::default();
        runs.points.insert(
            "vpp-running".into(),
            PointRuns {
                last: LastRun {
                    started: "2026-12-03T10:00:00.000Z".into(),
                    handler: "builtin".into(),
                    elapsed_ms: 1500.0,
                    outcome: "ok".into(),
                    exit_code: 0,
                    changes: 3,
                    rolled_back: false,
                },
                runs: 4,
                failures: 1,
                rollbacks: 1,
            },
        );
        let text = textfile(&runs);
        for line in [
            "nethook_point_last_run_success{point=\"vpp-running\"} 1.0",
            "nethook_point_last_run_duration_seconds{point=\"vpp-running\"} 1.5",
            "nethook_point_runs_total{point=\"vpp-running\"} 4",
            "nethook_point_rollbacks_total{point=\"vpp-running\"} 1",
            "nethook_point_last_run_timestamp_seconds{point=\"vpp-running\"} 1796292000.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        assert!(!text.contains("# EOF"));
    }
}
