//! Helpers shared by the integration suites: the nethook binary, the guest
//! components built by scripts/build-guests.sh, network namespaces and
//! scratch directories the tests create and always remove.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const EXIT_OK: i32 = 0;
pub const EXIT_CONFIG: i32 = 3;
pub const EXIT_COMPONENT: i32 = 4;
pub const EXIT_HOOK_FAILED: i32 = 5;
pub const EXIT_TRAPPED: i32 = 6;
pub const EXIT_TIMED_OUT: i32 = 7;
pub const EXIT_VERIFY_FAILED: i32 = 8;
pub const EXIT_ROLLBACK_INCOMPLETE: i32 = 9;

pub fn nethook_bin() -> &'static str {
    env!("CARGO_BIN_EXE_nethook")
}

/// A component built by scripts/build-guests.sh. A missing one is a setup
/// error, never a reason to skip.
pub fn guest(name: &str) -> PathBuf {
    let dir = std::env::var_os("NETHOOK_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/guests"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-guests.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The core module a guest component was made from.
pub fn guest_core(name: &str) -> PathBuf {
    let component = guest(name);
    let path = component
        .parent()
        .unwrap()
        .join("core")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-guests.sh",
        path.display()
    );
    path
}

/// What the suites log: the default, plus every capability call's audit.
pub const AUDITED: &str = "info,nethook::audit=debug";

/// A command for nethook with an environment free of our variables.
pub fn nethook() -> Command {
    let mut c = Command::new(nethook_bin());
    isolate(&mut c);
    c
}

pub fn isolate(c: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("CALICOVPP_") || k.starts_with("NETHOOK_") {
            c.env_remove(k);
        }
    }
    // The default log and, for the suites that read it, the full audit
    // (each capability call, at debug since the default log is per point).
    c.env("NETHOOK_LOG", AUDITED);
}

/// What a finished process left.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// Messages of JSON log lines (run with `--log-format json`).
    pub fn messages(&self) -> Vec<String> {
        self.json_lines()
            .iter()
            .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
            .collect()
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON log line {l:?}: {e}"))
            })
            .collect()
    }

    /// Messages logged by `hook` (its audit records aside).
    pub fn hook_messages(&self, hook: &str) -> Vec<String> {
        self.json_lines()
            .iter()
            .filter(|v| v["fields"]["hook"] == hook && v["target"] != "nethook::audit")
            .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
            .collect()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// Run to completion, but never wait past `limit`: a hanging nethook is a
/// failure in itself.
pub fn run_within(mut cmd: Command, limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drained while it runs, so a chatty child never blocks on a full pipe.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process still running after {limit:?}; stderr:\n{}",
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        elapsed: started.elapsed(),
    }
}

pub fn run(cmd: Command) -> Run {
    run_within(cmd, Duration::from_secs(120))
}

/// Run a command that must succeed (setup steps).
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0]);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A network namespace owned by one test, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = format!(
            "nhtest-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        // No IPv6 link-local addresses: the address set stays exactly what
        // the test adds.
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.default.addr_gen_mode=1"]);
        ns.exec(&["sysctl", "-qw", "net.ipv6.conf.all.addr_gen_mode=1"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Run a setup command inside the namespace; it must succeed.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        sh(&full)
    }

    /// nethook, running inside the namespace.
    pub fn nethook(&self) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, nethook_bin()]);
        isolate(&mut c);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// A port nothing listens on now, on 127.0.0.1 of the caller's namespace.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A scratch directory with a config file in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::Builder::new()
                .prefix("nethook-test.")
                .tempdir()
                .unwrap(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `nethook.toml` with state and cache dirs inside the scratch dir
    /// prepended to `body`; returns its path.
    pub fn config(&self, body: &str) -> PathBuf {
        let text = format!(
            "state_dir = {:?}\ncache_dir = {:?}\n{body}",
            self.path("state"),
            self.path("cache")
        );
        self.write("nethook.toml", &text)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Every file under the scratch dir with its bytes, to prove nothing changed.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    out.push((p.clone(), Vec::new()));
                    walk(&p, out);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

/// `[hooks.NAME]` for a test guest, with extra lines.
pub fn hook_table(name: &str, guest_name: &str, extra: &str) -> String {
    format!(
        "[hooks.{name}]\ncomponent = {:?}\n{extra}\n",
        guest(guest_name)
    )
}

/// The value of every `CALICOVPP_HOOK_<POINT>`, as the README gives it.
pub const HOOK_VALUE: &str = r#"exec nethook hook "$0" "$1""#;
/// The dataplane's spelling of the points, which it passes as `$0`.
pub const POINTS: [&str; 5] = [
    "BEFORE_IF_READ",
    "BEFORE_VPP_RUN",
    "VPP_RUNNING",
    "VPP_DONE_OK",
    "VPP_ERRORED",
];

/// The environment vpp-manager gives its hooks: every hook variable set to
/// `value`, the uplinks in `CALICOVPP_INTERFACES`, nethook on PATH; plus
/// where the config is and JSON logs for the test to read.
pub fn dataplane_env(cmd: &mut Command, value: &str, interfaces: &str, config: &Path) {
    isolate(cmd);
    let bin = Path::new(nethook_bin()).parent().unwrap();
    cmd.env(
        "PATH",
        format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()),
    );
    for p in POINTS {
        cmd.env(format!("CALICOVPP_HOOK_{p}"), value);
    }
    cmd.env("CALICOVPP_INTERFACES", interfaces)
        .env("CALICOVPP_DEBUG", "{}")
        .env("NETHOOK_CONFIG", config)
        .env("NETHOOK_LOG_FORMAT", "json");
}
