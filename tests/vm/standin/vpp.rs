//! "VPP": a process in a network namespace of its own that takes the
//! uplink there and forwards frames between it (AF_PACKET, as VPP's
//! af_packet input) and a tap in the root namespace named like the uplink,
//! with its MAC and MTU (VPP's CreateTapV2 with HostNamespace "pid:1").
//! The tap is not persistent and this process is the only one in its
//! namespace: when it dies, however, the tap goes and the kernel moves the
//! uplink back to the root namespace.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{arg, linux};

pub fn run(args: &[String]) -> Result<()> {
    let uplink = arg(args, "--uplink").context("--uplink")?;
    let mac = arg(args, "--mac").context("--mac")?;
    let mtu = arg(args, "--mtu").context("--mtu")?;
    let root_ns = File::open("/proc/self/ns/net")?;
    // SAFETY: plain syscalls on values we own.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        bail!("unshare(CLONE_NEWNET): {}", std::io::Error::last_os_error());
    }
    println!("ready");
    std::io::stdout().flush()?;

    // The manager moves the uplink here.
    let index = wait_for_link(uplink, Duration::from_secs(20))?;
    linux::ip_str(&["link", "set", "dev", uplink, "up"])?;
    let packet = packet_socket(index)?;

    // The tap is created in the root namespace, then configured by name
    // there as VPP's tap creation does (name, MAC, MTU), before it is up.
    if unsafe { libc::setns(root_ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns(root): {}", std::io::Error::last_os_error());
    }
    let tap = create_tap(uplink)?;
    set_mac_mtu(uplink, mac, mtu.parse()?)?;
    println!("tap");
    std::io::stdout().flush()?;

    let mut tap_rx = tap.try_clone()?;
    let mut tap_tx = tap;
    let to_wire = packet.try_clone()?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = tap_rx.read(&mut buf) {
            // SAFETY: sending from our buffer on a bound packet socket.
            unsafe { libc::send(to_wire.as_raw_fd(), buf.as_ptr().cast(), n, 0) };
        }
    });
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: sockaddr_ll is plain data, sized for the call.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                packet.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut from as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            bail!("recvfrom: {}", std::io::Error::last_os_error());
        }
        // What we send out is seen here too: not for the tap.
        if from.sll_pkttype == libc::PACKET_OUTGOING {
            continue;
        }
        let _ = tap_tx.write(&buf[..n as usize]);
    }
}

fn wait_for_link(name: &str, limit: Duration) -> Result<u32> {
    let c = std::ffi::CString::new(name)?;
    let started = Instant::now();
    loop {
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
        if index != 0 {
            return Ok(index);
        }
        if started.elapsed() > limit {
            bail!("{name} did not arrive in VPP's namespace within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn packet_socket(index: u32) -> Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket/bind with a zeroed, filled-in sockaddr_ll.
    unsafe {
        let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32);
        if fd < 0 {
            bail!("socket(AF_PACKET): {}", std::io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = index as i32;
        if libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        ) != 0
        {
            bail!("bind(AF_PACKET): {}", std::io::Error::last_os_error());
        }
        Ok(fd)
    }
}

fn create_tap(name: &str) -> Result<File> {
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .context("/dev/net/tun")?;
    // struct ifreq: the name, then the flags.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TAP | libc::IFF_NO_PI) as u16;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which ifr is sized as.
    if unsafe { libc::ioctl(tun.as_raw_fd(), TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
        bail!("TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    }
    Ok(tun)
}

/// The tap's MAC and MTU by ioctl right after its creation, as VPP's tap
/// creation does: udev handles the tap's "add" event with the MAC set.
fn set_mac_mtu(name: &str, mac: &str, mtu: i32) -> Result<()> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("MAC {mac}"))?;
    // SAFETY: ioctls on a socket we own, with a struct ifreq-sized buffer:
    // the name, then a sockaddr (family, data) or an int.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if sock < 0 {
            bail!("socket: {}", std::io::Error::last_os_error());
        }
        let sock = OwnedFd::from_raw_fd(sock);
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        ifr[16..18].copy_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
        ifr[18..24].copy_from_slice(&bytes);
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFHWADDR, ifr.as_mut_ptr()) != 0 {
            bail!("SIOCSIFHWADDR {name}: {}", std::io::Error::last_os_error());
        }
        let mut ifr = [0u8; 40];
        ifr[..name.len()].copy_from_slice(name.as_bytes());
        ifr[16..20].copy_from_slice(&mtu.to_ne_bytes());
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFMTU, ifr.as_mut_ptr()) != 0 {
            bail!("SIOCSIFMTU {name}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}
