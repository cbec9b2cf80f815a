//! vpp-manager's side of one lifecycle: hooks, capture, the uplink's move,
//! the tap's configuration, the stop or crash and the restore.
//!
//! Prints one line per event on stdout for the test (`NHVM LABEL ...`):
//! `begin POINT` when the point's phase starts (the dataplane's step, then
//! the hook), `end POINT hook=EXIT hook_ms=N phase_ms=N` when the hook
//! returned; then `--measure CMD LABEL POINT` runs before the next phase.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{arg, linux};

struct Lifecycle<'a> {
    label: &'a str,
    uplink: &'a str,
    measure: Option<&'a str>,
}

pub fn run(args: &[String]) -> Result<()> {
    let lc = Lifecycle {
        label: arg(args, "--label").unwrap_or("lifecycle"),
        uplink: arg(args, "--uplink").context("--uplink")?,
        measure: arg(args, "--measure"),
    };
    let end = arg(args, "--end").unwrap_or("stop");
    let hold: f64 = arg(args, "--hold").unwrap_or("5").parse()?;

    let t = lc.begin("before-if-read");
    lc.hook("BEFORE_IF_READ", t)?;
    let config = linux::capture(lc.uplink)?;

    let t = lc.begin("before-vpp-run");
    linux::ip_str(&["link", "set", "dev", lc.uplink, "promisc", "on"])?;
    lc.hook("BEFORE_VPP_RUN", t)?;

    let t = lc.begin(if end == "fail" {
        "vpp-errored"
    } else {
        "vpp-running"
    });
    let rename = end == "kill-rename";
    let mut vpp = start_vpp(lc.uplink, &config, rename)?;
    if end == "fail" {
        // A setup step after VPP started fails: vpp-manager terminates
        // VPP, its deferred restore runs, then VPP_ERRORED.
        stop_vpp(&mut vpp, libc::SIGTERM)?;
        restore(lc.uplink, &config)?;
        return lc.hook("VPP_ERRORED", t);
    }
    expect(&mut vpp.events, "tap")?;
    // configureLinuxTap.
    linux::ip_str(&["link", "set", "dev", lc.uplink, "up"])?;
    let _ = std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", lc.uplink),
        "0",
    );
    config.apply(lc.uplink);
    lc.hook("VPP_RUNNING", t)?;
    std::thread::sleep(Duration::from_secs_f64(hold));

    let t = lc.begin("vpp-done-ok");
    if rename {
        crash_renamed(&mut vpp, lc.uplink, &config)?;
        return lc.hook("VPP_DONE_OK", t);
    }
    let signal = if end == "kill" {
        libc::SIGKILL
    } else {
        libc::SIGTERM
    };
    stop_vpp(&mut vpp, signal)?;
    restore(lc.uplink, &config)?;
    lc.hook("VPP_DONE_OK", t)
}

/// A VPP crash where VPP's namespace goes before its tap: the kernel moves
/// the NIC back while the tap still holds the uplink's name, and gives the
/// NIC a name of its own (`dev%d`). Played deterministically: the tap was
/// made persistent, so it outlives VPP until this removes it once the NIC
/// is back. vpp-manager then looks for the uplink by name (SafeGetLink,
/// 10 s), does not find it, logs that and runs VPP_DONE_OK all the same.
fn crash_renamed(vpp: &mut Vpp, uplink: &str, config: &linux::IfConfig) -> Result<()> {
    stop_vpp(vpp, libc::SIGKILL)?;
    let started = Instant::now();
    let returned = loop {
        if let Some(name) = linux::nic_by_mac(&config.mac)?.filter(|n| n != uplink) {
            break name;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the NIC did not come back under another name within 60 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("stand-in dataplane: the NIC came back as {returned}");
    linux::ip_str(&["link", "del", "dev", uplink])?;
    let sys = std::path::Path::new("/sys/class/net").join(uplink);
    let started = Instant::now();
    while !sys.exists() {
        if started.elapsed() > Duration::from_secs(10) {
            eprintln!("stand-in dataplane: {uplink} not found after 10 s; its configuration is not restored (logged, as vpp-manager does)");
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    restore(uplink, config)
}

impl Lifecycle<'_> {
    fn begin(&self, point: &str) -> Instant {
        println!("NHVM {} begin {point}", self.label);
        Instant::now()
    }

    /// vpp-manager's RunHook, then the line for the test and the measure.
    fn hook(&self, point: &str, phase: Instant) -> Result<()> {
        let value = std::env::var(format!("CALICOVPP_HOOK_{point}")).unwrap_or_default();
        let started = Instant::now();
        let exit = if value.trim().is_empty() {
            "none".to_string()
        } else {
            let value = value
                .replace("__VPP_DATAPLANE_IF__", self.uplink)
                .replace("__VPP_DATAPLANE_IF_0__", self.uplink);
            let status = Command::new("/bin/bash")
                .arg("-c")
                .arg(value)
                .arg(point)
                .arg(self.uplink)
                .status()?;
            status.code().map_or("signal".into(), |c| c.to_string())
        };
        let kebab = point.to_lowercase().replace('_', "-");
        println!(
            "NHVM {} end {kebab} hook={exit} hook_ms={} phase_ms={}",
            self.label,
            started.elapsed().as_millis(),
            phase.elapsed().as_millis()
        );
        if let Some(measure) = self.measure {
            Command::new(measure)
                .args([self.label, &kebab])
                .status()
                .with_context(|| format!("running {measure}"))?;
        }
        Ok(())
    }
}

/// VPP: the process, its output, and a hold on its network namespace.
struct Vpp {
    child: Child,
    events: BufReader<ChildStdout>,
    /// Keeps VPP's namespace alive until VPP's tap is gone (see stop_vpp).
    netns: Option<std::fs::File>,
}

/// VPP in its namespace with the uplink moved in (moveInterfaceToNS).
fn start_vpp(uplink: &str, config: &linux::IfConfig, persist: bool) -> Result<Vpp> {
    let mut vpp = Command::new(std::env::current_exe()?)
        .args(["standin", "vpp", "--uplink", uplink, "--mac", &config.mac])
        .args(["--mtu", &config.mtu.to_string()])
        .args(if persist { &["--persist"][..] } else { &[] })
        .stdout(Stdio::piped())
        .spawn()?;
    let mut events = BufReader::new(vpp.stdout.take().unwrap());
    expect(&mut events, "ready")?;
    let netns = std::fs::File::open(format!("/proc/{}/ns/net", vpp.id()))?;
    linux::ip_str(&["link", "set", "dev", uplink, "netns", &vpp.id().to_string()])?;
    Ok(Vpp {
        child: vpp,
        events,
        netns: Some(netns),
    })
}

fn expect(events: &mut BufReader<ChildStdout>, what: &str) -> Result<()> {
    let mut line = String::new();
    events.read_line(&mut line)?;
    if line.trim() != what {
        bail!("VPP stand-in said {:?}, expected {what:?}", line.trim());
    }
    Ok(())
}

/// Stops VPP, then lets its namespace go. A dying process closes its files
/// (the tap) only after it has dropped its namespace, and the kernel frees
/// a namespace from a work queue: on a busy node that ran first, the uplink
/// was pushed back while the tap still had its name, and came back as
/// `dev2`. Holding the namespace until VPP is reaped orders the two.
fn stop_vpp(vpp: &mut Vpp, signal: i32) -> Result<()> {
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(vpp.child.id() as i32, signal) };
    vpp.child.wait()?;
    vpp.netns = None;
    Ok(())
}

/// restoreConfiguration for af_packet: the uplink pops back into the root
/// namespace when VPP's dies, then up, promisc as it was, MTU, addresses,
/// routes. vpp-manager waits 10 s for it (SafeGetLink: 20 x 500 ms); the
/// kernel frees a namespace asynchronously, which on an emulated one-CPU
/// node busy restarting its network service took longer: 60 s here.
fn restore(uplink: &str, config: &linux::IfConfig) -> Result<()> {
    let started = Instant::now();
    let sys = std::path::Path::new("/sys/class/net").join(uplink);
    while !sys.exists() || sys.join("tun_flags").exists() {
        if started.elapsed() > Duration::from_secs(60) {
            let links = std::process::Command::new("ip")
                .args(["-br", "link"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            bail!("{uplink} did not come back to the root namespace within 60 s; links:\n{links}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if config.up {
        linux::ip_str(&["link", "set", "dev", uplink, "up"])?;
    }
    if !config.promisc {
        linux::ip_str(&["link", "set", "dev", uplink, "promisc", "off"])?;
    }
    linux::ip_str(&["link", "set", "dev", uplink, "mtu", &config.mtu.to_string()])?;
    config.apply(uplink);
    Ok(())
}
