//! "VPP": a process in a network namespace of its own that takes the
//! uplink there and forwards frames between it (AF_PACKET, as VPP's
//! af_packet input) and a tap in the root namespace named like the uplink,
//! with its MAC and MTU (VPP's CreateTapV2 with HostNamespace "pid:1").
//! The tap is not persistent and this process is the only one in its
//! namespace: when it dies, however, the tap goes and the kernel moves the
//! uplink back to the root namespace.
//!
//! The tap is opened as VPP's `tap_create_if` opens it (src/vnet/devices/
//! tap/tap.c): `IFF_TAP | IFF_NO_PI | IFF_VNET_HDR`, plus `IFF_MULTI_QUEUE`
//! when the kernel offers it, a virtio-net header of VPP's size
//! (`TUNSETVNETHDRSZ`, `virtio_net_hdr_v1`: 12 bytes) and no offloads
//! (`TUNSETOFFLOAD 0`: no GSO and complete checksums from the kernel). So
//! its `tun_flags` are VPP's (0x5102), which is what a NetworkManager
//! `tun` profile must match. VPP hands the fd to vhost-net; here every
//! frame read from it starts with the header (stripped) and every frame
//! written gets a zeroed one.

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
    let persist = args.iter().any(|a| a == "--persist");
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
    let tap = create_tap(uplink, persist)?;
    set_mac_mtu(uplink, mac, mtu.parse()?)?;
    println!("tap");
    std::io::stdout().flush()?;

    let mut tap_rx = tap.try_clone()?;
    let mut tap_tx = tap;
    let to_wire = packet.try_clone()?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536 + VNET_HDR_LEN];
        while let Ok(n) = tap_rx.read(&mut buf) {
            // Without offloads the header says nothing (no GSO, checksum
            // complete): the frame follows it.
            let Some(frame) = buf[..n].get(VNET_HDR_LEN..) else {
                continue;
            };
            // SAFETY: sending from our buffer on a bound packet socket.
            unsafe { libc::send(to_wire.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        }
    });
    // Frames for the tap are received after a zeroed header's room.
    let mut buf = vec![0u8; VNET_HDR_LEN + 65536];
    loop {
        // SAFETY: sockaddr_ll is plain data, sized for the call.
        let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                packet.as_raw_fd(),
                buf[VNET_HDR_LEN..].as_mut_ptr().cast(),
                buf.len() - VNET_HDR_LEN,
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
        let _ = tap_tx.write(&buf[..VNET_HDR_LEN + n as usize]);
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

/// `struct virtio_net_hdr_v1`, the header VPP sets (TUNSETVNETHDRSZ).
const VNET_HDR_LEN: usize = 12;

/// `persist`: the tap outlives this process (TUNSETPERSIST), for the
/// crash where VPP's namespace goes before its tap.
fn create_tap(name: &str, persist: bool) -> Result<File> {
    const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
    const TUNGETFEATURES: libc::c_ulong = 0x8004_54cf;
    const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
    const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
    const IFF_VNET_HDR: libc::c_int = 0x4000;
    const IFF_MULTI_QUEUE: libc::c_int = 0x0100;
    let tun = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .context("/dev/net/tun")?;
    let fd = tun.as_raw_fd();
    let mut features: libc::c_uint = 0;
    // SAFETY: TUNGETFEATURES writes an unsigned int.
    if unsafe { libc::ioctl(fd, TUNGETFEATURES, &mut features) } != 0 {
        bail!("TUNGETFEATURES: {}", std::io::Error::last_os_error());
    }
    if features & IFF_VNET_HDR as libc::c_uint == 0 {
        bail!("the kernel's tun has no IFF_VNET_HDR, which VPP requires");
    }
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI | IFF_VNET_HDR;
    if features & IFF_MULTI_QUEUE as libc::c_uint != 0 {
        flags |= IFF_MULTI_QUEUE;
    }
    // struct ifreq: the name, then the flags.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    ifr[16..18].copy_from_slice(&(flags as u16).to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes a struct ifreq, which ifr is sized as.
    if unsafe { libc::ioctl(fd, TUNSETIFF, ifr.as_mut_ptr()) } != 0 {
        bail!("TUNSETIFF {name}: {}", std::io::Error::last_os_error());
    }
    let hdr_len = VNET_HDR_LEN as libc::c_int;
    // SAFETY: TUNSETVNETHDRSZ reads an int; TUNSETOFFLOAD takes its value.
    if unsafe { libc::ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) } != 0 {
        bail!("TUNSETVNETHDRSZ: {}", std::io::Error::last_os_error());
    }
    if unsafe { libc::ioctl(fd, TUNSETOFFLOAD, 0 as libc::c_ulong) } != 0 {
        bail!("TUNSETOFFLOAD: {}", std::io::Error::last_os_error());
    }
    const TUNSETPERSIST: libc::c_ulong = 0x4004_54cb;
    // SAFETY: TUNSETPERSIST takes its value.
    if persist && unsafe { libc::ioctl(fd, TUNSETPERSIST, 1 as libc::c_ulong) } != 0 {
        bail!("TUNSETPERSIST: {}", std::io::Error::last_os_error());
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
