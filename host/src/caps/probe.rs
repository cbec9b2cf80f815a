//! Probes for verification: read-only questions about the node's network
//! that the WIT interface does not offer (verification is nethook's, not a
//! hook's): an address's DAD state, whether the gateway answers an ICMP
//! echo, whether a name resolves through the node's resolver.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures::TryStreamExt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage,
};
use nix::sys::socket::{self, AddressFamily, SockFlag, SockProtocol, SockType, SockaddrStorage};

use super::{CapError, Host};

/// Where an address is in its life on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressState {
    Absent,
    /// IPv6 duplicate address detection still running.
    Tentative,
    DadFailed,
    Ready,
}

pub struct Probe<'a> {
    host: &'a mut Host,
}

impl Host {
    pub fn probe(&mut self) -> Probe<'_> {
        Probe { host: self }
    }
}

impl Probe<'_> {
    pub fn address(
        &mut self,
        link: &str,
        ip: IpAddr,
        prefix_len: u8,
    ) -> Result<AddressState, CapError> {
        let args = format!("{link} {ip}/{prefix_len}");
        self.host.read("probe", "address", args, Ok(()), |h| {
            let index = match h.netlink.index(link) {
                Ok(i) => i,
                Err(CapError::NotFound(_)) => return Ok(AddressState::Absent),
                Err(e) => return Err(e),
            };
            let msgs: Vec<AddressMessage> = h.netlink.call(|c| {
                c.address().get().set_link_index_filter(index).execute().try_collect()
            })?;
            let Some(m) = msgs.iter().find(|m| {
                m.header.prefix_len == prefix_len
                    && m.attributes.iter().any(|a| {
                        matches!(a, AddressAttribute::Local(x) | AddressAttribute::Address(x) if x == &ip)
                    })
            }) else {
                return Ok(AddressState::Absent);
            };
            let flags = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Flags(f) => Some(f),
                _ => None,
            });
            let has = |wide: AddressFlags, narrow: AddressHeaderFlags| {
                flags.map_or(m.header.flags.contains(narrow), |f| f.contains(wide))
            };
            Ok(if has(AddressFlags::Dadfailed, AddressHeaderFlags::Dadfailed) {
                AddressState::DadFailed
            } else if has(AddressFlags::Tentative, AddressHeaderFlags::Tentative) {
                AddressState::Tentative
            } else {
                AddressState::Ready
            })
        })
    }

    /// The link has carrier: the kernel says its lower layer is up.
    pub fn carrier(&mut self, link: &str) -> Result<bool, CapError> {
        let check = super::validate::ifname(link);
        self.host
            .read("probe", "carrier", link.to_string(), check, |h| {
                let m = h.netlink.link_message(link)?;
                Ok(m.header
                    .flags
                    .contains(netlink_packet_route::link::LinkFlags::LowerUp))
            })
    }

    /// One ICMP echo to `ip` from nethook's network namespace (the node's,
    /// hostNetwork), answered within `timeout`.
    pub fn echo(&mut self, ip: IpAddr, timeout: Duration) -> Result<bool, CapError> {
        self.host
            .read("probe", "echo", ip.to_string(), Ok(()), |_| {
                echo(ip, timeout).map_err(|e| CapError::Failed(format!("ICMP echo to {ip}: {e}")))
            })
    }

    /// The addresses `name` resolves to through the node's own resolver
    /// (`getent hosts` run on the node: its nsswitch, hosts and DNS).
    pub fn resolve(&mut self, name: &str) -> Result<Vec<String>, CapError> {
        let check = super::validate::hostname(name);
        self.host
            .read("probe", "resolve", name.to_string(), check, |h| {
                let timeout = h.remaining(h.session.node.command_timeout);
                match h
                    .session
                    .node
                    .run("getent", &["hosts", "--", name], timeout)
                {
                    Ok(out) => Ok(out
                        .lines()
                        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
                        .collect()),
                    // getent exits 2 when the name is not found.
                    Err(CapError::Failed(m)) if m.contains("exited with status 2") => {
                        Ok(Vec::new())
                    }
                    Err(e) => Err(e),
                }
            })
    }
}

fn echo(ip: IpAddr, timeout: Duration) -> nix::Result<bool> {
    let (family, proto, request) = match ip {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp, 8u8),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6, 128u8),
    };
    let fd = socket::socket(family, SockType::Raw, SockFlag::SOCK_CLOEXEC, proto)?;
    let tv = nix::sys::time::TimeVal::new(timeout.as_secs() as i64, timeout.subsec_micros() as i64);
    socket::setsockopt(&fd, socket::sockopt::ReceiveTimeout, &tv)?;
    let id = (std::process::id() & 0xffff) as u16;
    let mut packet = vec![request, 0, 0, 0, (id >> 8) as u8, id as u8, 0, 1];
    packet.extend_from_slice(b"nethook verify");
    if ip.is_ipv4() {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    } // ICMPv6: the kernel fills in the checksum on raw sockets.
    let to = SockaddrStorage::from(SocketAddr::new(ip, 0));
    socket::sendto(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &packet,
        &to,
        socket::MsgFlags::empty(),
    )?;
    let deadline = std::time::Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    while std::time::Instant::now() < deadline {
        let (n, from) = match socket::recvfrom::<SockaddrStorage>(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &mut buf,
        ) {
            Ok(r) => r,
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        let from_ip = from.and_then(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        });
        // IPv4 raw sockets deliver the IP header too.
        let icmp = match ip {
            IpAddr::V4(_) if n > 20 => &buf[((buf[0] & 0x0f) as usize * 4).min(n)..n],
            IpAddr::V4(_) => continue,
            IpAddr::V6(_) => &buf[..n],
        };
        let reply = if ip.is_ipv4() { 0 } else { 129 };
        if from_ip == Some(ip) && icmp.len() >= 8 && icmp[0] == reply && icmp[4..6] == packet[4..6]
        {
            return Ok(true);
        }
    }
    Ok(false)
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
