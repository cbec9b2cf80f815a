//! rtnetlink as a stream of messages: a socket subscribed to the link and
//! address groups, read on its own thread, and dumps of the whole state.

use std::sync::mpsc::Sender;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::links::{self, Table};
use super::Msg;
use crate::caps::time::monotonic_ns;

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;

/// A socket subscribed to link and address changes. Made before the first
/// dump, so that nothing changes unseen between the dump and the stream.
pub fn subscribe(receive_buffer: Option<usize>) -> std::io::Result<Socket> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    if let Some(size) = receive_buffer {
        socket.set_rx_buf_sz(size)?;
    }
    socket.bind(&SocketAddr::new(
        0,
        RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
    ))?;
    Ok(socket)
}

/// Read `socket` until the receiver is gone: batches of messages, or
/// `Overrun` when the kernel dropped some (ENOBUFS).
pub fn read(socket: Socket, tx: Sender<Msg>) {
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(nix::libc::ENOBUFS) => {
                if tx.send(Msg::Overrun).is_err() {
                    return;
                }
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.send(Msg::SourceFailed(format!("netlink receive: {e}")));
                return;
            }
        };
        let seen_at = monotonic_ns();
        let msgs = parse(&buf[..n]);
        if !msgs.is_empty() && tx.send(Msg::Netlink(msgs, seen_at)).is_err() {
            return;
        }
    }
}

/// The netlink messages of one datagram, in order, up to the first that
/// does not decode (which ends the list, as its error).
fn split(
    mut bytes: &[u8],
) -> Vec<Result<NetlinkMessage<RouteNetlinkMessage>, netlink_packet_core::DecodeError>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let msg = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes) {
            Ok(m) => m,
            Err(e) => {
                out.push(Err(e));
                break;
            }
        };
        let len = msg.header.length as usize;
        out.push(Ok(msg));
        if len == 0 || len > bytes.len() {
            break;
        }
        bytes = &bytes[len.next_multiple_of(4).min(bytes.len())..];
    }
    out
}

/// The rtnetlink messages in one datagram of the event socket.
fn parse(bytes: &[u8]) -> Vec<RouteNetlinkMessage> {
    split(bytes)
        .into_iter()
        .map_while(Result::ok)
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Every link and its addresses, now.
pub fn dump() -> std::io::Result<Table> {
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut table = Table::new();
    for request in [
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        RouteNetlinkMessage::GetAddress(AddressMessage::default()),
    ] {
        for m in dump_one(&socket, request)? {
            links::apply(&mut table, &m);
        }
    }
    Ok(table)
}

fn dump_one(
    socket: &Socket,
    request: RouteNetlinkMessage,
) -> std::io::Result<Vec<RouteNetlinkMessage>> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(request));
    msg.finalize();
    let mut out = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut out);
    socket.send(&out, 0)?;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = socket.recv(&mut &mut buf[..], 0)?;
        for msg in split(&buf[..n]) {
            let msg = msg.map_err(|e| std::io::Error::other(format!("netlink dump: {e}")))?;
            match msg.payload {
                NetlinkPayload::Done(_) => return Ok(got),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("netlink dump: {e}")))
                }
                NetlinkPayload::InnerMessage(m) => got.push(m),
                _ => {}
            }
        }
    }
}
