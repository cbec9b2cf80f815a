//! The host side of a VM node: a test-owned network namespace with a tap,
//! dnsmasq serving DHCPv4, DHCPv6/RA and one DNS name on it, qemu booting
//! a qcow2 overlay of a cached image with its NIC on that tap and the
//! test's share over 9p, the guest's control channel (virtio-serial) read
//! line by line with the host's clock, a continuous ping from the
//! namespace, and a watch on the DHCP server (its leases and its log,
//! stamped with the host's clock). Everything is stopped and removed when
//! the `Bed` drops.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::common::{nethook_bin, sh, Netns};

const TAP: &str = "nhvtap0";
/// udev names a NIC at PCI slot 3 `ens3` (ID_NET_NAME_SLOT), `enp0s3`
/// (ID_NET_NAME_PATH), and `enx525400970010` (ID_NET_NAME_MAC).
const MAC: &str = "52:54:00:97:00:10";

pub fn images() -> PathBuf {
    std::env::var_os("NETHOOK_VM_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/nethook/vm"))
}

/// Seconds since the epoch, on the host's clock.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[derive(Clone)]
pub struct Line {
    pub at: f64,
    pub text: String,
}

pub struct Bed {
    pub kind: String,
    /// Logs and the overlay: kept after the test, named in its messages.
    pub logs: PathBuf,
    pub share: tempfile::TempDir,
    ns: Netns,
    dnsmasq: Option<Child>,
    qemu: Option<Child>,
    ping: Option<Child>,
    lines: Option<Receiver<Line>>,
    /// Every `NHVM` line the guest sent so far, in order.
    pub seen: Vec<Line>,
    /// dnsmasq's lease time (`2m`: the shortest it grants).
    lease: String,
    watch: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
    dhcp: Arc<Mutex<Dhcp>>,
}

/// When, the IPv4 leases' addresses, the IPv6 leases' addresses.
pub type Sample = (f64, Vec<String>, Vec<String>);

/// What the DHCP server showed, on the host's clock.
#[derive(Default, Clone)]
pub struct Dhcp {
    /// One each second, from dnsmasq's lease file.
    pub samples: Vec<Sample>,
    /// Its log's DHCP lines, each stamped when read (within a second).
    pub log: Vec<Line>,
}

impl Dhcp {
    /// Replies that gave `address` (DHCPACK for IPv4, DHCPREPLY for IPv6)
    /// within [from, to).
    pub fn acks(&self, address: &str, from: f64, to: f64) -> usize {
        let word = format!(" {address} ");
        self.log
            .iter()
            .filter(|l| l.at >= from && l.at < to)
            .filter(|l| l.text.contains("DHCPACK(") || l.text.contains("DHCPREPLY("))
            .filter(|l| format!("{} ", l.text).contains(&word))
            .count()
    }

    /// The fewest and most (IPv4, IPv6) leases at any sample in [from, to).
    pub fn leases(&self, from: f64, to: f64) -> ((usize, usize), (usize, usize)) {
        let window: Vec<_> = self
            .samples
            .iter()
            .filter(|(at, _, _)| *at >= from && *at < to)
            .collect();
        let min = |f: fn(&Sample) -> usize| window.iter().map(|s| f(s)).min().unwrap_or(0);
        let max = |f: fn(&Sample) -> usize| window.iter().map(|s| f(s)).max().unwrap_or(0);
        (
            (min(|s| s.1.len()), min(|s| s.2.len())),
            (max(|s| s.1.len()), max(|s| s.2.len())),
        )
    }
}

impl Bed {
    /// Network, DHCP/DNS and the share; the VM is started by `boot`.
    /// `role` names the VM among those of its kind a test boots.
    pub fn new(kind: &str, role: &str, scenarios: &str, lease: &str) -> Bed {
        reap_stale_dnsmasq();
        let image = images().join(kind);
        assert!(
            image.join(".nethook-vm").exists(),
            "{} is missing: run tests/vm/build-images.sh (scripts/test.sh does)",
            image.display()
        );
        let logs = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("vm")
            .join(format!("{kind}-{role}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).unwrap();
        let ns = Netns::new();
        let mut bed = Bed {
            kind: kind.into(),
            logs,
            share: tempfile::Builder::new()
                .prefix("nethook-vm.")
                .tempdir()
                .unwrap(),
            ns,
            dnsmasq: None,
            qemu: None,
            ping: None,
            lines: None,
            seen: Vec::new(),
            lease: lease.to_string(),
            watch: None,
            dhcp: Default::default(),
        };
        bed.network();
        bed.fill_share(scenarios);
        bed
    }

    fn network(&mut self) {
        let ns = &self.ns;
        ns.exec(&["ip", "tuntap", "add", "dev", TAP, "mode", "tap"]);
        // Router advertisements need a link-local source address.
        ns.exec(&[
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{TAP}.addr_gen_mode=0"),
        ]);
        ns.exec(&["ip", "addr", "add", "10.97.0.1/24", "dev", TAP]);
        ns.exec(&["ip", "addr", "add", "fd00:97::1/64", "dev", TAP, "nodad"]);
        ns.exec(&["ip", "link", "set", TAP, "up"]);
        let log = self.logs.join("dnsmasq.log");
        let leases = self.logs.join("dnsmasq.leases");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name, "dnsmasq", "--keep-in-foreground"])
            .args([
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--user=root",
            ])
            .arg(format!("--interface={TAP}"))
            .args(["--bind-dynamic", "--log-dhcp", "--enable-ra", "--pid-file="])
            .arg(format!(
                "--dhcp-range=10.97.0.50,10.97.0.150,255.255.255.0,{}",
                self.lease
            ))
            .arg(format!(
                "--dhcp-range=fd00:97::50,fd00:97::150,64,{}",
                self.lease
            ))
            .args(["--address=/gw.nethook.test/10.97.0.1"])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--log-facility={}", log.display()))
            .stdin(Stdio::null());
        let child = die_with_test(&mut cmd)
            .spawn()
            .expect("dnsmasq (tests/vm/build-images.sh installs dnsmasq-base)");
        self.dnsmasq = Some(child);
        self.watch_dhcp(log, leases);
    }

    /// Every second: dnsmasq's lease file (the leases it holds now) and
    /// the new lines of its log, stamped with the host's clock.
    fn watch_dhcp(&mut self, log: PathBuf, leases: PathBuf) {
        let stop = Arc::new(AtomicBool::new(false));
        let (dhcp, done) = (self.dhcp.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut offset = 0;
            let mut whole = false;
            while !done.load(Ordering::Relaxed) {
                let at = now();
                let text = read_leases(&leases, &mut whole);
                let (mut v4, mut v6) = (Vec::new(), Vec::new());
                for line in text.lines() {
                    let w: Vec<&str> = line.split_whitespace().collect();
                    // "EXPIRY MAC|IAID ADDRESS NAME ID"; the server's own
                    // "duid ..." line is not a lease.
                    match w.get(2) {
                        Some(a) if w[0] != "duid" && a.contains(':') => v6.push(a.to_string()),
                        Some(a) if w[0] != "duid" => v4.push(a.to_string()),
                        _ => {}
                    }
                }
                let bytes = std::fs::read(&log).unwrap_or_default();
                let mut d = dhcp.lock().unwrap();
                d.samples.push((at, v4, v6));
                if bytes.len() > offset {
                    // Whole lines only; a partial one is read next time.
                    let end = bytes[offset..]
                        .iter()
                        .rposition(|b| *b == b'\n')
                        .map_or(offset, |p| offset + p + 1);
                    for text in String::from_utf8_lossy(&bytes[offset..end]).lines() {
                        if text.contains("DHCP") {
                            d.log.push(Line {
                                at,
                                text: text.to_string(),
                            });
                        }
                    }
                    offset = end;
                }
                drop(d);
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        self.watch = Some((stop, thread));
    }

    /// What the DHCP server showed so far; the watch stops.
    pub fn stop_dhcp_watch(&mut self) -> Dhcp {
        if let Some((stop, thread)) = self.watch.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        self.dhcp.lock().unwrap().clone()
    }

    fn fill_share(&self, scenarios: &str) {
        let share = self.share.path();
        let vm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vm");
        std::fs::create_dir_all(share.join("bin")).unwrap();
        std::fs::create_dir_all(share.join("out")).unwrap();
        // Without their debug info (nethook's is hundreds of MB, which the
        // guest would page in over 9p on every run).
        for (from, to) in [
            (PathBuf::from(nethook_bin()), "bin/nethook"),
            // This very binary, even if a build replaced its file since.
            (
                PathBuf::from(format!("/proc/{}/exe", std::process::id())),
                "bin/vm",
            ),
        ] {
            sh(&[
                "strip",
                "--strip-debug",
                "-o",
                share.join(to).to_str().unwrap(),
                from.to_str().unwrap(),
            ]);
        }
        for script in ["guest.sh", "measure.sh"] {
            std::fs::copy(vm.join(script), share.join(script)).unwrap();
        }
        // The shipped OpenShift hook, for the scenarios that run it.
        if scenarios.contains(" openshift ") {
            let guest = super::common::guest("openshift");
            std::fs::copy(&guest, share.join("bin/openshift.wasm"))
                .unwrap_or_else(|e| panic!("{}: {e}", guest.display()));
        }
        std::fs::write(share.join("scenarios"), scenarios).unwrap();
    }

    /// Starts qemu on a fresh overlay; returns once the guest said
    /// `ready` (its own network up), with that line.
    pub fn boot(&mut self, timeout: Duration) -> Line {
        let image = images().join(&self.kind);
        let overlay = self.logs.join("overlay.qcow2");
        let backing = image.join("root.img");
        sh(&[
            "qemu-img",
            "create",
            "-q",
            "-f",
            "qcow2",
            "-F",
            "raw",
            "-b",
            backing.to_str().unwrap(),
            overlay.to_str().unwrap(),
        ]);
        let console = self.logs.join("console.log");
        // The guest's control channel: qemu waits for us to connect before
        // it starts the guest, so no line is missed.
        let sock = self.logs.join("ctl.sock");
        let _ = std::fs::remove_file(&sock);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, "qemu-system-x86_64"])
            .args(accel())
            .args(["-m", "512", "-display", "none", "-vga", "none"])
            .args(["-monitor", "none", "-no-reboot", "-kernel"])
            .arg(image.join("vmlinuz"))
            .arg("-initrd")
            .arg(image.join("initrd"))
            .args([
                "-append",
                // panic=-1: a guest kernel panic reboots, which -no-reboot
                // turns into qemu exiting, seen at once by the test.
                "root=/dev/vda rw console=ttyS0 quiet systemd.show_status=0 panic=-1",
            ])
            .arg("-drive")
            .arg(format!("file={},if=virtio,format=qcow2", overlay.display()))
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={TAP},script=no,downscript=no"))
            .arg("-device")
            // Frames reach the guest with their checksums complete, as
            // from a wire: the stand-in forwards them to its tap as they
            // are, and a partial checksum (qemu's offload) would be
            // dropped there.
            .arg(format!(
                "virtio-net-pci,netdev=n0,mac={MAC},addr=0x3,guest_csum=off,\
                 guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off"
            ))
            .arg("-fsdev")
            .arg(format!(
                "local,id=fs0,path={},security_model=none",
                self.share.path().display()
            ))
            .args(["-device", "virtio-9p-pci,fsdev=fs0,mount_tag=nethook"])
            .args(["-device", "virtio-serial-pci"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=ctl,path={},server=on,wait=on",
                sock.display()
            ))
            .args(["-device", "virtserialport,chardev=ctl,name=nethook.ctl"])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.logs.join("qemu.stderr")).unwrap());
        die_with_test(&mut cmd);
        let qemu = cmd
            .spawn()
            .expect("qemu-system-x86_64 (tests/vm/build-images.sh installs qemu-system-x86)");
        self.qemu = Some(qemu);
        let started = Instant::now();
        let stdout = loop {
            if let Ok(s) = std::os::unix::net::UnixStream::connect(&sock) {
                break s;
            }
            if self.qemu.as_mut().unwrap().try_wait().unwrap().is_some()
                || started.elapsed() > Duration::from_secs(30)
            {
                panic!(
                    "{}: qemu did not start; {}",
                    self.kind,
                    self.where_to_look()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let log = self.logs.join("ctl.log");
        std::thread::spawn(move || {
            use std::io::Write;
            let mut log = std::fs::File::create(log).unwrap();
            for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                let at = now();
                let _ = writeln!(log, "[{at:.3}] {text}");
                if text.starts_with("NHVM ") && tx.send(Line { at, text }).is_err() {
                    return;
                }
            }
        });
        self.lines = Some(rx);
        self.expect("NHVM ready", timeout)
    }

    /// Waits for the guest's next line starting with `prefix` (every line
    /// is kept in `seen`). A guest that fails, stops or stays silent is a
    /// setup error naming its logs.
    pub fn expect(&mut self, prefix: &str, timeout: Duration) -> Line {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.as_ref().unwrap().recv_timeout(left) {
                Ok(line) => {
                    if line.text.starts_with("NHVM failed") {
                        panic!("{}: {}; {}", self.kind, line.text, self.where_to_look());
                    }
                    self.seen.push(line.clone());
                    if line.text.starts_with(prefix) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: no {prefix:?} from the VM within {timeout:?}; {}",
                    self.kind,
                    self.where_to_look()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "{}: the VM stopped before {prefix:?}; {}",
                    self.kind,
                    self.where_to_look()
                ),
            }
        }
    }

    pub fn where_to_look(&self) -> String {
        format!(
            "see {0}/console.log (kernel and systemd), {0}/ctl.log (the guest's driver), \
             {0}/qemu.stderr and {0}/dnsmasq.log",
            self.logs.display()
        )
    }

    /// `ping -D -O` from the namespace to the node, every 200 ms, into
    /// ping.log.
    pub fn start_ping(&mut self, address: &str) {
        let out = std::fs::File::create(self.logs.join("ping.log")).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns.name, "ping", "-D", "-O", "-n"])
            .args(["-i", "0.2", "-W", "1", address])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(std::fs::File::create(self.logs.join("ping.stderr")).unwrap());
        let child = die_with_test(&mut cmd).spawn().expect("ping");
        self.ping = Some(child);
    }

    pub fn stop_ping(&mut self) -> String {
        if let Some(mut p) = self.ping.take() {
            // SIGINT: ping flushes what it buffered.
            // SAFETY: a signal to our own child.
            unsafe { libc::kill(p.id() as i32, libc::SIGINT) };
            let _ = p.wait();
        }
        let text = std::fs::read_to_string(self.logs.join("ping.log")).unwrap_or_default();
        assert!(
            text.contains("icmp_seq="),
            "{}: the host's ping recorded nothing; see {}/ping.stderr",
            self.kind,
            self.logs.display()
        );
        text
    }

    /// Waits for the guest to power itself off (bounded).
    pub fn wait_poweroff(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let qemu = self.qemu.as_mut().unwrap();
        while qemu.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "{}: the VM did not power off within {timeout:?}; {}",
                self.kind,
                self.where_to_look()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self.qemu = None;
    }

    pub fn out(&self, rel: &str) -> PathBuf {
        self.share.path().join("out").join(rel)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.watch.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        for child in [self.ping.take(), self.qemu.take(), self.dnsmasq.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            // `ip netns exec` execs its command: the pid is qemu's own.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.logs.join("overlay.qcow2"));
        // Keep what the guest wrote beside the logs.
        let _ = Command::new("cp")
            .arg("-r")
            .arg(self.share.path().join("out"))
            .arg(&self.logs)
            .status();
    }
}

/// KVM when it can boot a Linux guest here, else TCG (slower, still a
/// real kernel and udev). `NETHOOK_VM_ACCEL=kvm|tcg` decides without the
/// probe. The probe boots the node kernel with no root file system under
/// KVM: it works when the kernel gets as far as panicking for its root
/// (`-no-reboot` then stops qemu).
pub fn accel() -> &'static [&'static str] {
    static ACCEL: OnceLock<&'static [&'static str]> = OnceLock::new();
    const KVM: &[&str] = &["-accel", "kvm", "-cpu", "host", "-smp", "2"];
    // One vCPU: with two, TCG let a guest CPU run kernel text that the
    // other was live-patching (text_poke_bp) and the guest died of a
    // stray int3 in napi_complete_done, once in a few runs.
    const TCG: &[&str] = &["-accel", "tcg", "-cpu", "max", "-smp", "1"];
    ACCEL.get_or_init(|| match std::env::var("NETHOOK_VM_ACCEL").as_deref() {
        Ok("kvm") => KVM,
        Ok("tcg") => TCG,
        _ if kvm_boots() => KVM,
        _ => TCG,
    })
}

fn kvm_boots() -> bool {
    if std::fs::File::open("/dev/kvm").is_err() {
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console");
    let kernel = images().join("nm-vm/vmlinuz");
    let Ok(mut qemu) = Command::new("qemu-system-x86_64")
        .args([
            "-accel", "kvm", "-cpu", "host", "-m", "256", "-display", "none",
        ])
        .args(["-vga", "none", "-monitor", "none", "-no-reboot", "-kernel"])
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let booted = loop {
        let exited = qemu.try_wait().unwrap().is_some();
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.contains("Kernel panic") || text.contains("VFS:") {
            break true;
        }
        if exited || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = qemu.kill();
    let _ = qemu.wait();
    booted
}

/// The process dies with the test's, however the test ends (`ip netns
/// exec` execs its command, which keeps the death signal).
fn die_with_test(cmd: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

/// dnsmasq drops its capabilities, which clears the death signal: one
/// left by a test that was killed outright (its logs path names the test's
/// pid, which is gone) is stopped here.
fn reap_stale_dnsmasq() {
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if !cmdline.starts_with("dnsmasq ") || !cmdline.contains(TAP) {
            continue;
        }
        let owner = cmdline
            .rsplit("/vm/")
            .next()
            .and_then(|rest| rest.split('/').next())
            .and_then(|dir| dir.rsplit('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(owner) = owner {
            if !Path::new(&format!("/proc/{owner}")).exists() {
                if let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() {
                    // SAFETY: a signal to a process we identified as ours.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// dnsmasq's lease file as it stands between two of its writes. dnsmasq
/// rewrites the file in place (truncate, then one write), so a read in
/// between finds it empty: once a whole file has been seen (it always
/// holds the server's `duid` line, IPv6 being served), a read without
/// that line is read again a moment later instead of being taken for a
/// server that holds no lease.
fn read_leases(path: &Path, whole_seen: &mut bool) -> String {
    let mut text = String::new();
    for _ in 0..20 {
        text = std::fs::read_to_string(path).unwrap_or_default();
        let whole = text.lines().any(|l| l.starts_with("duid "));
        if whole || !*whole_seen {
            *whole_seen |= whole;
            return text;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    text
}
