//! nethook's performance report: every figure the median of repeated runs,
//! next to a named peer measured in the same run, with the ratio and the
//! target it is held to. Run by scripts/bench.sh (root: it creates a
//! network namespace); prints a Markdown table and writes it to
//! target/bench-report.md.
//!
//! A bench binary rather than criterion: each figure here is a median of
//! whole runs (processes, bulk netlink) set against another command, which
//! is what criterion does not do; the per-call figures also have a
//! criterion bench (benches/calls.rs) for their distribution.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nethook::bindings::nethook::hooks::log::Level;
use nethook::bindings::nethook::hooks::netlink::{Family, RouteSpec};
use nethook::bindings::{Context, WitPoint};
use nethook::caps::grants::{Glob, NetlinkAccess};
use nethook::caps::{Audit, Caller, Grants, Host, Mode, Node, Session};
use nethook::hook::HookConfig;
use nethook::wasm::Runtime;
use nethook::HookPoint;

const TABLE: u32 = 100;
const DEV: &str = "bv0";

struct Row {
    figure: String,
    median: String,
    peer: String,
    ratio: String,
    target: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn ratio(a: Duration, b: Duration) -> String {
    let r = a.as_secs_f64() / b.as_secs_f64();
    match r < 0.1 {
        true => format!("{r:.4}x (1/{:.0})", 1.0 / r),
        false => format!("{r:.2}x"),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn nethook_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nethook"))
}

fn guest() -> PathBuf {
    let p = repo().join("target/guests/benchguest.wasm");
    assert!(
        p.exists(),
        "{} missing: run scripts/build-guests.sh",
        p.display()
    );
    p
}

/// Wall time of one process run, and its peak RSS in KiB.
// The child is reaped by wait4, which also gives its rusage.
#[allow(clippy::zombie_processes)]
fn time_process(cmd: &mut Command) -> (Duration, u64) {
    let started = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid out-pointers.
    let pid = unsafe { nix::libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(pid, child.id() as i32);
    assert!(
        nix::libc::WIFEXITED(status) && nix::libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed: {status}"
    );
    (elapsed, usage.ru_maxrss as u64)
}

fn runs(n: usize, mut make: impl FnMut() -> Command, mut before: impl FnMut()) -> (Duration, u64) {
    let mut times = Vec::new();
    let mut rss = 0;
    for _ in 0..n {
        before();
        let (t, r) = time_process(&mut make());
        times.push(t);
        rss = rss.max(r);
    }
    (median(times), rss)
}

fn hook(op: &str, n: u32) -> HookConfig {
    HookConfig {
        name: "bench".into(),
        component: guest(),
        source: nethook::hook::HookSource::File(guest()),
        verify_key: None,
        fetched: None,
        sha256: None,
        timeout: Duration::from_secs(600),
        memory: 1 << 30,
        config: vec![
            ("op".into(), op.into()),
            ("n".into(), n.to_string()),
            ("dev".into(), DEV.into()),
            ("table".into(), TABLE.to_string()),
        ],
        grants: grants(),
        on_failure: None,
    }
}

fn grants() -> Grants {
    Grants {
        netlink: NetlinkAccess::Write,
        links: vec![Glob::new("*").unwrap()],
        tables: vec![TABLE],
        ..Grants::default()
    }
}

fn host(scratch: &Path) -> Host {
    host_with(scratch, grants(), None)
}

/// A host whose changes are journaled in `txn`, when given.
fn host_with(scratch: &Path, grants: Grants, txn: Option<nethook::caps::journal::Txn>) -> Host {
    let session = Session {
        state_dir: scratch.join("state"),
        node: Node {
            root: scratch.to_path_buf(),
            exec: nethook::caps::exec::ExecMode::Chroot,
            command_timeout: Duration::from_secs(60),
        },
        mode: Mode::Apply,
        audit: Audit::default(),
        effects: Default::default(),
        txn: txn.map(nethook::caps::Recording::new),
    };
    let caller = Caller {
        hook: "bench".into(),
        point: HookPoint::Dataplane(nethook::DataplanePoint::VppRunning),
    };
    let mut host = Host::new(caller, grants, session);
    host.set_log_budget(u64::MAX);
    host
}

fn context() -> Context {
    Context {
        point: WitPoint::VppRunning,
        hook: "bench".into(),
        uplinks: vec![],
        config: vec![],
    }
}

/// One in-process guest run of `op` × n.
fn guest_run(rt: &Runtime, scratch: &Path, op: &str, n: u32) -> Duration {
    let h = hook(op, n);
    let loaded = rt.load(&h).unwrap();
    let mut ctx = context();
    ctx.config = h.config.clone();
    let started = Instant::now();
    rt.run(&h, &loaded, host(scratch), ctx).unwrap();
    started.elapsed()
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{args:?}");
}

fn flush() {
    let _ = Command::new("ip")
        .args(["route", "flush", "table", &TABLE.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn spec(i: u32) -> RouteSpec {
    let a = 0x0a00_0000u32 + i;
    RouteSpec {
        family: Family::Ipv4,
        destination: Some(format!(
            "{}.{}.{}.{}",
            a >> 24,
            (a >> 16) & 255,
            (a >> 8) & 255,
            a & 255
        )),
        prefix_len: 32,
        gateway: None,
        output_link: Some(DEV.into()),
        table: TABLE,
        metric: None,
        protocol: 4,
        scope: 253,
    }
}

/// The same dump with rtnetlink alone (decode into its message types, no
/// capability layer), to show where a dump's time goes.
fn raw_dump() -> usize {
    use futures::TryStreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().unwrap();
        tokio::spawn(conn);
        let req = rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new().build();
        let routes: Vec<_> = handle
            .route()
            .get(req)
            .execute()
            .try_collect()
            .await
            .unwrap();
        routes.len()
    })
}

/// Capture of an uplink with 10 000 routes and their apply to a link in
/// another namespace (the host-device move), journaled as in a hook's
/// transaction, next to `ip` doing the same read and the same adds.
fn l3_rows(rows: &mut Vec<Row>, scratch: &Path, journal: &nethook::caps::journal::Journal) {
    const TARGET: &str = "bv2";
    const NS: &str = "nhbench-l3";
    let n = 10_000u32;
    let _ = Command::new("ip")
        .args(["netns", "del", NS])
        .stderr(Stdio::null())
        .status();
    sh(&["ip", "netns", "add", NS]);
    sh(&[
        "ip", "link", "add", TARGET, "type", "veth", "peer", "name", "bv3",
    ]);
    sh(&["ip", "link", "set", TARGET, "netns", NS, "up"]);
    let batch = |dev: &str| {
        let p = scratch.join(format!("l3-{dev}.batch"));
        let text: String = (0..n)
            .map(|i| {
                format!(
                    "route add {}/32 dev {dev} table {TABLE} proto static scope link\n",
                    spec(i).destination.unwrap()
                )
            })
            .collect();
        std::fs::write(&p, text).unwrap();
        p
    };
    let (source, target) = (batch(DEV), batch(TARGET));
    let flush_target = || {
        sh(&[
            "ip", "-n", NS, "route", "flush", "dev", TARGET, "table", "all",
        ])
    };
    flush();
    sh(&["ip", "-batch", source.to_str().unwrap()]);
    let grants = Grants {
        links: vec![Glob::new("*").unwrap()],
        netns: vec![Glob::new(NS).unwrap()],
        ..Grants::builtin_restoring_l3()
    };
    let ns = Some(nethook::bindings::nethook::hooks::netlink::Netns::Named(
        NS.into(),
    ));
    let (mut ip_show, mut ip_add, mut capture, mut apply, mut both) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..5 {
        let t = Instant::now();
        sh(&["ip", "route", "show", "table", "all", "dev", DEV]);
        ip_show.push(t.elapsed());
        flush_target();
        let t = Instant::now();
        sh(&["ip", "-n", NS, "-batch", target.to_str().unwrap()]);
        ip_add.push(t.elapsed());
        flush_target();

        let txn = journal.begin("vpp-running", "bench").unwrap();
        let mut h = host_with(scratch, grants.clone(), Some(txn));
        let t = Instant::now();
        let config = h.l3().capture(DEV, &None).unwrap();
        let captured = t.elapsed();
        let applied = h.l3().apply(TARGET, &config, &ns).unwrap();
        let total = t.elapsed();
        assert_eq!(config.routes.len() as u32, n, "{:?}", config.left_out);
        assert!(applied.changed >= n, "{applied:?}");
        capture.push(captured);
        apply.push(total - captured);
        both.push(total);
    }
    sh(&["ip", "netns", "del", NS]);
    flush();
    let (ip_show, ip_add) = (median(ip_show), median(ip_add));
    for (label, t, peer, target) in [
        (
            "capture (read and filter)",
            median(capture),
            format!("ip route show table all dev {DEV} {}", ms(ip_show)),
            ip_show,
        ),
        (
            "apply to a link in another netns (read, add, verify), journaled",
            median(apply),
            format!("ip -batch, the same adds {}", ms(ip_add)),
            ip_add,
        ),
        (
            "capture + apply",
            median(both),
            format!("ip -batch, the same adds {}", ms(ip_add)),
            ip_add,
        ),
    ] {
        rows.push(Row {
            figure: format!("l3: {label}, an uplink with {n} routes"),
            median: ms(t),
            ratio: ratio(t, target),
            peer,
            target: "-".into(),
        });
    }
}

fn pct(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn realtime() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Lines appended to `path` since `offset` (which moves past them).
fn new_lines(path: &Path, offset: &mut usize) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut fresh = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.seek(SeekFrom::Start(*offset as u64));
        let _ = f.read_to_string(&mut fresh);
    }
    let end = fresh.rfind('\n').map_or(0, |i| i + 1);
    *offset += end;
    fresh[..end].lines().map(str::to_string).collect()
}

/// `nethook watch` with a warm WASM hook at link-added: from nethook's read
/// of the netlink message to the guest's first instruction, over 1 000
/// links; against cloud-init's hand-off rebuilt in the same run (a line
/// into a FIFO, a loop starting a process per line).
fn watch_rows(rows: &mut Vec<Row>, scratch: &Path) {
    const EVENTS: usize = 1000;
    const WARMUP: usize = 20;
    let guest = repo().join("target/guests/evlog.wasm");
    let cfg = scratch.join("watch.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = {:?}\ncache_dir = {:?}\nhost_root = {:?}\n[watch]\ndebounce = \"0s\"\n\
             [points.link-added]\nhandler = \"wasm\"\nhook = \"ev\"\nlinks = [\"lat*\"]\n\
             [hooks.ev]\ncomponent = {guest:?}\n[hooks.ev.grants]\nnetlink = \"read\"\n",
            scratch.join("watch-state"),
            scratch.join("watch-cache"),
            scratch.join("host")
        ),
    )
    .unwrap();
    let log = scratch.join("watch.log");
    let mut child = Command::new(nethook_bin())
        .args(["watch", "--config"])
        .arg(&cfg)
        .env("NETHOOK_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut offset = 0;
    let wait_for = |offset: &mut usize, want: &str| -> String {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = new_lines(&log, offset)
                .into_iter()
                .find(|l| l.contains(want))
            {
                return l;
            }
            assert!(Instant::now() < until, "no {want:?} from nethook watch");
            std::thread::sleep(Duration::from_micros(200));
        }
    };
    wait_for(&mut offset, "watching");
    let mut ours = Vec::new();
    for i in 0..EVENTS + WARMUP {
        sh(&[
            "ip",
            "link",
            "add",
            &format!("lat{i}"),
            "type",
            "veth",
            "peer",
            "name",
            &format!("lp{i}"),
        ]);
        let line = wait_for(&mut offset, &format!("link=lat{i} "));
        let ns: u64 = line
            .split("waited_ns=")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        if i >= WARMUP {
            ours.push(Duration::from_nanos(ns));
        }
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = child.wait();
    let del: String = (0..EVENTS + WARMUP)
        .map(|i| format!("link del lat{i}\n"))
        .collect();
    let batch = scratch.join("lat.batch");
    std::fs::write(&batch, del).unwrap();
    sh(&["ip", "-batch", batch.to_str().unwrap()]);

    // The peers: a FIFO read by a loop that starts a process per line, the
    // hook a trivial bash (as the issue names it) or python3 (cloud-init's
    // hotplug hook is Python) printing when it started.
    let peer = fifo_peer(
        scratch,
        "bash",
        "bash -c 'echo $EPOCHREALTIME \"$1\"' hook \"$t\"",
        EVENTS,
        WARMUP,
    );
    let py = fifo_peer(
        scratch,
        "python3",
        "/usr/bin/python3 -c 'import sys, time; print(\"%.6f\" % time.time(), sys.argv[1])' \"$t\"",
        EVENTS / 5,
        WARMUP,
    );
    let (m, p99) = (median(ours.clone()), pct(ours, 0.99));
    let (pm, pp99) = (median(peer.clone()), pct(peer, 0.99));
    rows.push(Row {
        figure: format!("watch: event to a warm WASM hook's start, median of {EVENTS} link-added"),
        median: ms(m),
        peer: format!(
            "FIFO line to a started `bash -c` hook (cloud-init's hand-off) {}",
            ms(pm)
        ),
        ratio: ratio(m, pm),
        target: format!(
            "≤ 1 ms and ≥ 100x faster: {}",
            verdict(m <= Duration::from_millis(1) && m.as_secs_f64() * 100.0 <= pm.as_secs_f64())
        ),
    });
    rows.push(Row {
        figure: "watch: the same, against a python3 hook per FIFO line".into(),
        median: ms(m),
        peer: format!(
            "FIFO line to a started `/usr/bin/python3 -c` hook, median of {} {}",
            EVENTS / 5,
            ms(median(py.clone()))
        ),
        ratio: ratio(m, median(py)),
        target: "-".into(),
    });
    rows.push(Row {
        figure: "watch: the same, p99".into(),
        median: ms(p99),
        peer: format!("the same, p99 {}", ms(pp99)),
        ratio: ratio(p99, pp99),
        target: "-".into(),
    });
}

/// cloud-init's hand-off rebuilt: a line per event into a FIFO, read by a
/// loop that starts `hook` (which prints its start time and the line) per
/// line; from the write to the hook's start, after `warmup` events.
fn fifo_peer(
    scratch: &Path,
    name: &str,
    hook: &str,
    events: usize,
    warmup: usize,
) -> Vec<Duration> {
    let fifo = scratch.join(format!("hotplug-{name}.fifo"));
    let out = scratch.join(format!("hotplug-{name}.out"));
    sh(&["mkfifo", fifo.to_str().unwrap()]);
    std::fs::write(&out, "").unwrap();
    let mut reader = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "while IFS= read -r t; do {hook} >> {out:?}; done < {fifo:?}"
        ))
        .spawn()
        .unwrap();
    let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    let mut peer = Vec::new();
    let mut offset = 0;
    for i in 0..events + warmup {
        use std::io::Write;
        let sent = realtime();
        writeln!(writer, "{sent:.6}").unwrap();
        writer.flush().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        let line = loop {
            if let Some(l) = new_lines(&out, &mut offset).pop() {
                break l;
            }
            assert!(Instant::now() < until, "the FIFO loop stalled");
            std::thread::sleep(Duration::from_micros(200));
        };
        let mut parts = line.split_whitespace().map(|v| v.parse::<f64>().unwrap());
        let (started, written) = (parts.next().unwrap(), parts.next().unwrap());
        if i >= warmup {
            peer.push(Duration::from_secs_f64((started - written).max(0.0)));
        }
    }
    drop(writer);
    let _ = reader.wait();
    peer
}

fn main() {
    // `cargo bench` passes --bench; nothing else is accepted.
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("host");
    std::fs::create_dir_all(&root).unwrap();
    let mut rows = Vec::new();
    let bin = nethook_bin();

    // --- whole processes -------------------------------------------------
    let config = |body: &str| {
        let p = scratch.path().join("nethook.toml");
        std::fs::write(
            &p,
            format!(
                "state_dir = {:?}\ncache_dir = {:?}\nhost_root = {:?}\n{body}",
                scratch.path().join("state"),
                scratch.path().join("cache"),
                root
            ),
        )
        .unwrap();
        p
    };
    let wasm_cfg = config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"bench\"\n[hooks.bench]\ncomponent = {:?}\n[hooks.bench.config]\nop = \"log\"\nn = 1\n\
         [points.vpp-done-ok]\nhandler = \"script\"\nscript = \"echo trivial\"\n",
        guest()
    ));
    let run = |point: &'static str| {
        let (bin, cfg) = (bin.clone(), wasm_cfg.clone());
        move || {
            let mut c = Command::new(&bin);
            c.args(["run", point, "--config"]).arg(&cfg);
            c
        }
    };
    let bash = || {
        let mut c = Command::new("bash");
        c.args(["-c", "echo trivial"]);
        c
    };
    let (t_bash, _) = runs(30, bash, || {});
    let (t_builtin, _) = runs(30, run("vpp-errored"), || {});
    let (_, _) = runs(1, run("vpp-running"), || {}); // warm the cache
    let (t_warm, rss) = runs(30, run("vpp-running"), || {});
    let cache = scratch.path().join("cache");
    let (t_cold, _) = runs(10, run("vpp-running"), || {
        let _ = std::fs::remove_dir_all(&cache);
    });
    let (t_script, _) = runs(30, run("vpp-done-ok"), || {});
    rows.push(Row {
        figure: "process: `bash -c 'echo trivial'` (peer)".into(),
        median: ms(t_bash),
        peer: "-".into(),
        ratio: "-".into(),
        target: "-".into(),
    });
    rows.push(Row {
        figure: "process: built-in no-op (vpp-errored, nothing to undo)".into(),
        median: ms(t_builtin),
        peer: format!("bash -c {}", ms(t_bash)),
        ratio: ratio(t_builtin, t_bash),
        target: "-".into(),
    });
    rows.push(Row {
        figure: "process: trivial WASM hook, warm cache".into(),
        median: ms(t_warm),
        peer: format!("built-in no-op {}", ms(t_builtin)),
        ratio: ratio(t_warm, t_builtin),
        target: format!(
            "≤ 5 ms and ≤ 2x built-in: {}",
            verdict(
                t_warm <= Duration::from_millis(5)
                    && t_warm.as_secs_f64() <= 2.0 * t_builtin.as_secs_f64()
            )
        ),
    });
    rows.push(Row {
        figure: "process: trivial WASM hook, cold cache".into(),
        median: ms(t_cold),
        peer: format!("bash -c {}", ms(t_bash)),
        ratio: ratio(t_cold, t_bash),
        target: format!(
            "≤ 500 ms: {}",
            verdict(t_cold <= Duration::from_millis(500))
        ),
    });
    rows.push(Row {
        figure: "process: same work as a `script` handler".into(),
        median: ms(t_script),
        peer: format!("bash -c {}", ms(t_bash)),
        ratio: ratio(t_script, t_bash),
        target: "-".into(),
    });
    rows.push(Row {
        figure: "peak RSS: `nethook run` with one WASM hook".into(),
        median: format!("{:.1} MB", rss as f64 / 1024.0),
        peer: "-".into(),
        ratio: "-".into(),
        target: format!("≤ 40 MB: {}", verdict(rss <= 40 * 1024)),
    });

    // --- hooks in Python and JavaScript, against their Rust twins ----------
    // Each twin at a point where it returns at once (openshift acts only at
    // vpp-running, eks only from vpp-running on): what a run costs apart
    // from its work.
    for (rust, other, lang) in [
        ("openshift", "openshift-py", "Python"),
        ("eks", "eks-js", "JavaScript"),
    ] {
        let mut figures = Vec::new();
        for name in [rust, other] {
            let wasm = repo().join(format!("target/guests/{name}.wasm"));
            let size = std::fs::metadata(&wasm).unwrap().len();
            let cfg = config(&format!(
                "uplinks = [\"uplink0\"]\n[points.before-if-read]\nhandler = \"wasm\"\nhook = \"h\"\n[hooks.h]\ncomponent = {wasm:?}\n"
            ));
            let cache = scratch.path().join("cache");
            let run = || {
                let mut c = Command::new(&bin);
                c.args(["run", "before-if-read", "--config"]).arg(&cfg);
                c
            };
            let (cold, _) = runs(3, run, || {
                let _ = std::fs::remove_dir_all(&cache);
            });
            let (_, _) = runs(1, run, || {});
            let (warm, rss) = runs(10, run, || {});
            figures.push((name, size, cold, warm, rss));
        }
        let (r, o) = (&figures[0], &figures[1]);
        let mb = |b: u64| format!("{:.1} MB", b as f64 / 1e6);
        rows.push(Row {
            figure: format!("{lang} hook ({}): component size", o.0),
            median: mb(o.1),
            peer: format!("Rust twin ({}) {}", r.0, mb(r.1)),
            ratio: format!("{:.0}x", o.1 as f64 / r.1 as f64),
            target: "-".into(),
        });
        rows.push(Row {
            figure: format!("{lang} hook: first run, compiling (cold cache)"),
            median: ms(o.2),
            peer: format!("Rust twin {}", ms(r.2)),
            ratio: ratio(o.2, r.2),
            target: "-".into(),
        });
        rows.push(Row {
            figure: format!("{lang} hook: warm run (process, compiled cache)"),
            median: ms(o.3),
            peer: format!("Rust twin {}", ms(r.3)),
            ratio: ratio(o.3, r.3),
            target: "-".into(),
        });
        rows.push(Row {
            figure: format!("{lang} hook: peak RSS of `nethook run`"),
            median: format!("{:.1} MB", o.4 as f64 / 1024.0),
            peer: format!("Rust twin {:.1} MB", r.4 as f64 / 1024.0),
            ratio: format!("{:.2}x", o.4 as f64 / r.4 as f64),
            target: "-".into(),
        });
    }

    // --- in-process: one guest→host call, and the bulk work -----------------
    // A private network namespace for this thread and what it starts.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET): run as root");
    sh(&["ip", "link", "set", "lo", "up"]);
    sh(&[
        "ip", "link", "add", DEV, "type", "veth", "peer", "name", "bv1",
    ]);
    sh(&["ip", "link", "set", DEV, "up"]);
    let rt = Runtime::new(&scratch.path().join("cache-inproc")).unwrap();
    let calls = 20_000u32;
    for (op, label) in [
        ("log", "log"),
        ("state-get", "state get"),
        ("link-get", "netlink link get"),
    ] {
        let mut per = Vec::new();
        for _ in 0..5 {
            let base = guest_run(&rt, scratch.path(), op, 0);
            let full = guest_run(&rt, scratch.path(), op, calls);
            per.push(full.saturating_sub(base) / calls);
        }
        let wasm = median(per);
        let mut h = host(scratch.path());
        let mut native = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..calls {
                match op {
                    "log" => h.log(Level::Info, "trivial", &[]),
                    "state-get" => drop(h.state().get("k").unwrap()),
                    _ => drop(h.netlink().get_link(DEV).unwrap()),
                }
            }
            native.push(started.elapsed() / calls);
        }
        let native = median(native);
        rows.push(Row {
            figure: format!("call from a guest: {label}"),
            median: format!("{} ns", wasm.as_nanos()),
            peer: format!("same call from Rust {} ns", native.as_nanos()),
            ratio: ratio(wasm, native),
            target: format!("≤ 1 µs: {}", verdict(wasm <= Duration::from_micros(1))),
        });
    }

    for n in [10_000u32, 100_000] {
        let reps = if n == 10_000 { 3 } else { 1 };
        let batch = scratch.path().join("routes.batch");
        let text: String = (0..n)
            .map(|i| {
                format!(
                    "route add {}/32 dev {DEV} table {TABLE} proto static scope link\n",
                    spec(i).destination.unwrap()
                )
            })
            .collect();
        std::fs::write(&batch, text).unwrap();
        let (mut ip_add, mut ip_dump, mut nat_add, mut nat_dump, mut wasm_add, mut wasm_dump) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut raw = vec![];
        for _ in 0..reps {
            flush();
            let t = Instant::now();
            sh(&["ip", "-batch", batch.to_str().unwrap()]);
            ip_add.push(t.elapsed());
            let t = Instant::now();
            sh(&["ip", "route", "show", "table", &TABLE.to_string()]);
            ip_dump.push(t.elapsed());

            flush();
            let mut h = host(scratch.path());
            let t = Instant::now();
            for i in 0..n {
                h.netlink().add_route(&spec(i)).unwrap();
            }
            nat_add.push(t.elapsed());
            let t = Instant::now();
            let got = h
                .netlink()
                .list_routes(Family::Ipv4)
                .unwrap()
                .iter()
                .filter(|r| r.table == TABLE)
                .count();
            nat_dump.push(t.elapsed());
            assert_eq!(got as u32, n);
            let t = Instant::now();
            assert!(raw_dump() >= n as usize);
            raw.push(t.elapsed());

            flush();
            wasm_add.push(guest_run(&rt, scratch.path(), "routes-add", n));
            wasm_dump.push(guest_run(&rt, scratch.path(), "routes-dump", n));
        }
        let (ip_add, ip_dump) = (median(ip_add), median(ip_dump));
        for (label, t, peer) in [
            (
                format!("add {n} routes: capability layer from Rust"),
                median(nat_add),
                ip_add,
            ),
            (
                format!("add {n} routes: from a WASM guest"),
                median(wasm_add),
                ip_add,
            ),
            (
                format!("dump {n} routes: rtnetlink alone (decode only, for reference)"),
                median(raw.clone()),
                ip_dump,
            ),
            (
                format!("dump {n} routes: capability layer from Rust"),
                median(nat_dump),
                ip_dump,
            ),
            (
                format!("dump {n} routes: from a WASM guest"),
                median(wasm_dump),
                ip_dump,
            ),
        ] {
            let what = if label.starts_with("add") {
                "ip -batch"
            } else {
                "ip route show"
            };
            rows.push(Row {
                figure: format!("bulk netlink: {label}"),
                median: ms(t),
                peer: format!("{what} {}", ms(peer)),
                ratio: ratio(t, peer),
                target: if label.contains("for reference") {
                    "-".into()
                } else {
                    format!("≤ 1.0x: {}", verdict(t <= peer))
                },
            });
        }
    }
    flush();

    let journal = nethook::caps::journal::Journal::open(&scratch.path().join("state")).unwrap();
    l3_rows(&mut rows, scratch.path(), &journal);
    watch_rows(&mut rows, scratch.path());

    // What the journal costs: one durable append per change.
    let mut file_grants = grants();
    file_grants.write_paths = vec![Glob::new("/bench/*").unwrap()];
    std::fs::create_dir_all(scratch.path().join("bench")).unwrap();
    for (label, n) in [("100 file writes", 100u32), ("1000 route adds", 1000)] {
        let (mut with, mut without) = (vec![], vec![]);
        for _ in 0..5 {
            for journaled in [false, true] {
                flush();
                let txn = journaled.then(|| journal.begin("vpp-running", "bench").unwrap());
                let mut h = host_with(scratch.path(), file_grants.clone(), txn);
                let t = Instant::now();
                for i in 0..n {
                    if label.contains("file") {
                        h.host_fs()
                            .write(&format!("/bench/f{i}"), b"bench\n", None)
                            .unwrap();
                    } else {
                        h.netlink().add_route(&spec(i)).unwrap();
                    }
                }
                let took = t.elapsed();
                if journaled {
                    with.push(took);
                } else {
                    without.push(took);
                }
            }
        }
        let (with, without) = (median(with), median(without));
        rows.push(Row {
            figure: format!("journal: a point with {label}, journaled"),
            median: ms(with),
            peer: format!("the same without the journal {}", ms(without)),
            ratio: ratio(with, without),
            target: "-".into(),
        });
    }
    journal.trim(true).unwrap();
    flush();

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut out = format!(
        "Measured on {cpu}, {} cores, Linux {}, release build; medians of repeated runs.\n\n\
         | figure | median | peer (same run) | ratio | target |\n|---|---|---|---|---|\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel.trim()
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} | {} | {} |\n",
            r.figure, r.median, r.peer, r.ratio, r.target
        );
    }
    print!("{out}");
    let _ = std::fs::write(repo().join("target/bench-report.md"), &out);
}
