//! What an operator sees: the default log (a few lines per point, the same
//! fields in text and JSON), the node_exporter textfile of one-shot runs
//! read by a real `prometheus-node-exporter` and scraped by a real
//! `prometheus`, and `nethook watch`'s own metrics scraped by `prometheus`.
//! Values are asserted through Prometheus's query API, not by reading the
//! exposition.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A daemon the test started, stopped when the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on 127.0.0.1:`port`, from inside namespace `ns` when given;
/// the body, if the answer is 200.
fn http_get(ns: Option<&str>, port: u16, path: &str) -> Option<String> {
    let get = || -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200")
            .then(|| body.to_string())
            .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
    };
    match ns {
        None => get(),
        Some(ns) => std::thread::scope(|s| {
            s.spawn(|| {
                let f = std::fs::File::open(format!("/run/netns/{ns}")).ok()?;
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                get()
            })
            .join()
            .unwrap()
        }),
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus server (Debian's) scraping `targets` every second, in
/// namespace `ns` when given.
struct Prometheus {
    _daemon: Daemon,
    ns: Option<String>,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(ns: Option<&str>, targets: &[u16]) -> Prometheus {
        let dir = tempfile::Builder::new()
            .prefix("prometheus.")
            .tempdir()
            .unwrap();
        let port = free_port();
        let targets: Vec<String> = targets.iter().map(|p| format!("'127.0.0.1:{p}'")).collect();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: nethook\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "prometheus"]);
                c
            }
            None => Command::new("prometheus"),
        };
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap());
        let daemon = Daemon(
            cmd.spawn()
                .expect("prometheus (apt-get install prometheus)"),
        );
        let p = Prometheus {
            _daemon: daemon,
            ns: ns.map(String::from),
            port,
            _dir: dir,
        };
        p.wait_for("up", |v| v == 1.0);
        p
    }

    /// The values of an instant query, by their labels.
    fn query(&self, q: &str) -> Vec<(serde_json::Value, f64)> {
        let path = format!("/api/v1/query?query={}", encode(q));
        let Some(body) = http_get(self.ns.as_deref(), self.port, &path) else {
            return Vec::new();
        };
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        doc["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                let v = r["value"][1]
                    .as_str()
                    .unwrap_or("nan")
                    .parse()
                    .unwrap_or(f64::NAN);
                (r["metric"].clone(), v)
            })
            .collect()
    }

    /// Wait (at most a minute) until `q` has one value and `ok` holds of it.
    fn wait_for(&self, q: &str, ok: impl Fn(f64) -> bool) -> f64 {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.query(q);
            if let [(_, v)] = r.as_slice() {
                if ok(*v) {
                    return *v;
                }
            }
            assert!(Instant::now() < until, "{q}: {r:?}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn the_default_log_says_each_point_in_a_few_lines_with_the_same_fields_as_json() {
    let ns = Netns::new();
    ns.exec(&[
        "ip", "link", "add", "up0", "type", "veth", "peer", "name", "up1",
    ]);
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path("host/etc/NetworkManager/conf.d")).unwrap();
    let config = scratch.config(&format!(
        "host_root = {:?}\nuplinks = [\"up0\"]\n",
        scratch.path("host")
    ));
    let point = |format: &str, point: &str| {
        let mut c = ns.nethook();
        c.env("NETHOOK_LOG", "info")
            .args(["--log-format", format, "run", point, "--config"])
            .arg(&config);
        let r = run(c);
        assert_eq!(r.code, EXIT_OK, "{r:?}");
        r
    };
    let text = point("text", "before-vpp-run");
    let lines: Vec<&str> = text.stderr.lines().collect();
    // running, the module's detection and what it did, done: not a line
    // per capability call.
    assert!(lines.len() <= 6, "{} lines:\n{}", lines.len(), text.stderr);
    assert!(!text.stderr.contains("capability call"), "{text:?}");
    let done = lines
        .iter()
        .find(|l| l.contains(" nethook::run: done "))
        .unwrap_or_else(|| panic!("no done line: {text:?}"));
    assert!(
        done.contains("point=before-vpp-run")
            && done.contains("changes=1: host-fs.write /etc/NetworkManager/conf.d/99-nethook-dns-none.conf (86 bytes, mode 0644)"),
        "{done}"
    );
    // The same event in JSON has the same fields.
    let json = point("json", "vpp-done-ok");
    let done = json
        .json_lines()
        .into_iter()
        .find(|v| v["target"] == "nethook::run" && v["fields"]["message"] == "done")
        .unwrap();
    let mut keys: Vec<&str> = done["fields"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["changes", "elapsed", "message", "point"]);
    assert!(
        done["fields"]["changes"].as_str().unwrap().starts_with(
            "1: host-fs.restore /etc/NetworkManager/conf.d/99-nethook-dns-none.conf (absent)"
        ),
        "{done}"
    );
    assert!(json.stderr.lines().count() <= 6, "{json:?}");
}

#[test]
fn one_shot_runs_reach_prometheus_through_node_exporters_textfile() {
    let scratch = Scratch::new();
    let textfiles = scratch.path("textfiles");
    std::fs::create_dir(&textfiles).unwrap();
    let config = scratch.config(&format!(
        "[metrics]\ntextfile = {:?}\n[points.vpp-running]\nhandler = \"none\"\n\
         [points.vpp-errored]\nhandler = \"script\"\nscript = \"exit 3\"\n",
        textfiles.join("nethook.prom")
    ));
    let point = |p: &str| {
        let mut c = nethook();
        c.args(["run", p, "--config"]).arg(&config);
        run(c)
    };
    assert_eq!(point("vpp-running").code, EXIT_OK);
    assert_eq!(point("vpp-running").code, EXIT_OK);
    assert_eq!(point("vpp-errored").code, EXIT_HOOK_FAILED);
    let exporter_port = free_port();
    let _exporter = Daemon(
        Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{exporter_port}"))
            .args(["--collector.disable-defaults", "--collector.textfile"])
            .arg(format!(
                "--collector.textfile.directory={}",
                textfiles.display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter (apt-get install prometheus-node-exporter)"),
    );
    let prom = Prometheus::start(None, &[exporter_port]);
    prom.wait_for(r#"nethook_point_runs_total{point="vpp-running"}"#, |v| {
        v == 2.0
    });
    assert_eq!(
        prom.wait_for(
            r#"nethook_point_last_run_success{point="vpp-running"}"#,
            |_| true
        ),
        1.0
    );
    assert_eq!(
        prom.wait_for(
            r#"nethook_point_last_run_success{point="vpp-errored"}"#,
            |_| true
        ),
        0.0
    );
    assert_eq!(
        prom.wait_for(
            r#"nethook_point_last_run_exit_code{point="vpp-errored"}"#,
            |_| true
        ),
        5.0
    );
    assert_eq!(
        prom.wait_for(
            r#"nethook_point_failures_total{point="vpp-errored"}"#,
            |_| true
        ),
        1.0
    );
    // One more run is seen at the next scrape: the file was replaced whole.
    assert_eq!(point("vpp-running").code, EXIT_OK);
    prom.wait_for(r#"nethook_point_runs_total{point="vpp-running"}"#, |v| {
        v == 3.0
    });
    // node_exporter found nothing it could not parse.
    prom.wait_for("node_textfile_scrape_error", |v| v == 0.0);
}

#[test]
fn watch_metrics_are_scraped_by_prometheus() {
    let ns = Netns::new();
    let scratch = Scratch::new();
    let port = 19464;
    let config = scratch.config(&format!(
        "host_root = {:?}\n[metrics]\nlisten = \"127.0.0.1:{port}\"\n\
         [watch]\ndebounce = \"0s\"\nretry = [\"10ms\"]\n\
         [points.link-added]\nhandler = \"script\"\nlinks = [\"m*\"]\nscript = \"true\"\n\
         [points.link-removed]\nhandler = \"script\"\nlinks = [\"m*\"]\nscript = \"exit 1\"\n",
        scratch.path("root")
    ));
    std::fs::create_dir_all(scratch.path("root")).unwrap();
    let log = scratch.path("watch.log");
    let mut cmd = ns.nethook();
    cmd.args(["watch", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let _watch = Daemon(cmd.spawn().unwrap());
    let until = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("watching")
    {
        assert!(Instant::now() < until, "watch did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..3 {
        ns.exec(&[
            "ip",
            "link",
            "add",
            &format!("m{i}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("n{i}"),
        ]);
    }
    ns.exec(&["ip", "link", "del", "m0"]);
    let prom = Prometheus::start(Some(&ns.name), &[port]);
    let q = |labels: &str| format!("nethook_watch_events_total{{{labels}}}");
    prom.wait_for(&q(r#"point="link-added",outcome="ok""#), |v| v == 3.0);
    prom.wait_for(&q(r#"point="link-removed",outcome="failed""#), |v| v == 1.0);
    prom.wait_for(
        r#"nethook_watch_hook_runs_total{point="link-removed",hook="script",outcome="failed"}"#,
        |v| v == 2.0,
    );
    prom.wait_for("nethook_watch_retries_total", |v| v == 1.0);
    prom.wait_for("nethook_watch_rollbacks_total", |v| v == 2.0);
    prom.wait_for("nethook_watch_queue_depth", |v| v == 0.0);
    prom.wait_for(
        r#"nethook_watch_event_latency_seconds_count{point="link-added"}"#,
        |v| v == 3.0,
    );
    let info = prom.query("nethook_build_info");
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0].0["version"], env!("CARGO_PKG_VERSION"));
}
