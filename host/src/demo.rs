//! `nethook demo`: the five points, end to end, on a throwaway node.
//!
//! The process moves into a new network namespace of its own, creates an
//! uplink there (a veth pair with IPv4 and IPv6 addresses), keeps its state,
//! compiled cache and host root in a temporary directory, runs every point in order
//! and reports what each handler did. Nothing outside is touched, and the
//! namespace disappears with the process.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::{LinkUnspec, LinkVeth};

use crate::error::{Error, Result};
use crate::point::HookPoint;
use crate::run::{self, Options, Outcome};

pub const UPLINK: &str = "uplink0";
const PEER: &str = "peer0";
const ADDRESSES: [(&str, u8); 2] = [("192.0.2.10", 24), ("2001:db8::10", 64)];

pub fn demo(mut opts: Options) -> Result<Vec<Outcome>> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
        Error::Other(format!(
            "demo needs root (CAP_SYS_ADMIN) for its throwaway network namespace: unshare: {e}"
        ))
    })?;
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
    std::fs::create_dir(&opts.config.node.root)
        .map_err(|e| Error::Other(format!("demo: host root: {e}")))?;
    if opts.uplinks.is_empty() {
        opts.uplinks = vec![UPLINK.to_string()];
    }
    HookPoint::ALL
        .into_iter()
        .map(|p| run::run_point(&opts, p))
        .collect()
}

/// A veth pair in the (new, empty) namespace; `lo` comes with it.
fn build_uplink() -> std::result::Result<(), String> {
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
            Ok::<_, rtnetlink::Error>(())
        }
        .await
        .map_err(|e| e.to_string())
    })
}
