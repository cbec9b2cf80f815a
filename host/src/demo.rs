//! `nethook demo`: the five points, end to end, on a throwaway node.
//!
//! The process moves into a new network namespace of its own, creates an
//! uplink there (a veth pair with IPv4 and IPv6 addresses), keeps its state,
//! compiled cache and a seeded host root (NetworkManager's configuration,
//! udev's record of the uplink) in a temporary directory, runs every point in order
//! and reports what each handler did. Nothing outside is touched, and the
//! namespace disappears with the process.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::{LinkUnspec, LinkVeth};

use crate::error::{Error, Result};
use crate::options::Options;
use crate::point::DataplanePoint;
use crate::run::{self, Outcome};

pub const UPLINK: &str = "uplink0";
const PEER: &str = "peer0";
const ADDRESSES: [(&str, u8); 2] = [("192.0.2.10", 24), ("2001:db8::10", 64)];

pub fn demo(mut opts: Options) -> Result<Vec<Outcome>> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::Other(format!(
            "demo needs root (CAP_SYS_ADMIN) for its throwaway network namespace: unshare: {e}"
        ))
    })?;
    let index =
        build_uplink().map_err(|e| Error::Other(format!("demo: creating {UPLINK}: {e}")))?;

    let scratch = tempfile::Builder::new()
        .prefix("nethook-demo.")
        .tempdir()
        .map_err(|e| Error::Other(format!("demo: temporary directory: {e}")))?;
    opts.config.state_dir = scratch.path().join("state");
    opts.config.cache_dir = scratch.path().join("cache");
    opts.config.node.root = scratch.path().join("host");
    // Commands go to the throwaway root, never into a real node's namespaces.
    opts.config.node.exec = crate::caps::exec::ExecMode::Chroot;
    seed_host_root(&opts.config.node.root, index)
        .map_err(|e| Error::Other(format!("demo: host root: {e}")))?;
    if opts.uplinks.is_empty() {
        opts.uplinks = vec![crate::names::IfName::parse(UPLINK).expect("a valid name")];
    }
    DataplanePoint::ALL
        .into_iter()
        .map(|p| run::run_point(&opts, p))
        .collect()
}

/// A node root with NetworkManager's configuration and udev's record of
/// the uplink, so the built-in module has something to do.
pub(crate) fn seed_host_root(root: &std::path::Path, uplink_index: u32) -> std::io::Result<()> {
    for dir in [
        "etc/NetworkManager/conf.d",
        "etc/udev/rules.d",
        "run/udev/data",
    ] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    std::fs::write(
        root.join("etc/NetworkManager/NetworkManager.conf"),
        "[main]\nplugins=keyfile\n",
    )?;
    std::fs::write(
        root.join(format!("run/udev/data/n{uplink_index}")),
        "E:ID_NET_NAME_PATH=enp0s5\nE:ID_NET_NAME_SLOT=ens5\n",
    )
}

/// A veth pair in the (new, empty) namespace; `lo` comes with it.
/// Returns the uplink's ifindex.
pub(crate) fn build_uplink() -> std::result::Result<u32, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| format!("netlink socket: {e}"))?;
        tokio::spawn(conn);
        async {
            handle
                .link()
                .add(LinkVeth::new(UPLINK, PEER).build())
                .execute()
                .await?;
            let mut uplink = 0;
            for name in [UPLINK, PEER, "lo"] {
                let link = handle
                    .link()
                    .get()
                    .match_name(name.to_string())
                    .execute()
                    .try_next()
                    .await?
                    .ok_or(rtnetlink::Error::RequestFailed)?;
                let index = link.header.index;
                if name == UPLINK {
                    uplink = index;
                    for (ip, prefix) in ADDRESSES {
                        let ip: IpAddr = ip.parse().expect("valid literal");
                        handle.address().add(index, ip, prefix).execute().await?;
                    }
                }
                handle
                    .link()
                    .set(LinkUnspec::new_with_index(index).up().build())
                    .execute()
                    .await?;
            }
            Ok::<_, rtnetlink::Error>(uplink)
        }
        .await
        .map_err(|e| e.to_string())
    })
}
