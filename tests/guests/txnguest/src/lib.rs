//! Test guest: one point with many kinds of change (files, netlink, state),
//! then, as its config says, success or a failure of each kind, so the
//! transaction tests can check that what it did is undone.
//!
//! Config: `link` (renamed to `new_name` and back by the undo), `fail` =
//! `none` | `error` | `trap` | `loop` | `memory`.
use nethook_sdk::netlink::{self, Family, RouteSpec, Rule};
use nethook_sdk::{host_fs, info, state, Context, Hook, HookError};

struct TxnGuest;

fn cfg<'a>(ctx: &'a Context, key: &str) -> &'a str {
    ctx.config(key).unwrap_or("")
}

impl Hook for TxnGuest {
    fn run(ctx: Context) -> Result<(), HookError> {
        let (link, new_name) = (cfg(&ctx, "link"), cfg(&ctx, "new_name"));
        host_fs::write("/etc/nethook-test/new.conf", b"created\n", Some(0o640))?;
        host_fs::write("/etc/nethook-test/admin.conf", b"replaced\n", None)?;
        host_fs::remove("/etc/nethook-test/old.conf")?;
        state::set("progress", "files")?;
        netlink::set_mtu(link, 1400)?;
        netlink::rename(link, new_name)?;
        netlink::set_up(new_name)?;
        netlink::add_address(new_name, "10.66.0.1", 24)?;
        netlink::add_address(new_name, "fd66::1", 64)?;
        netlink::add_route(&RouteSpec {
            family: Family::Ipv4,
            destination: Some("10.67.0.0".into()),
            prefix_len: 16,
            gateway: Some("10.66.0.254".into()),
            output_link: Some(new_name.into()),
            table: 100,
            metric: Some(20),
            protocol: 4,
            scope: 0,
        })?;
        netlink::add_rule(&Rule {
            family: Family::Ipv4,
            priority: Some(1100),
            table: 100,
            source: Some("10.66.0.0".into()),
            source_len: 24,
            destination: None,
            destination_len: 0,
            input_link: None,
            fwmark: None,
        })?;
        state::set("progress", "netlink")?;
        info!("changed everything");
        match cfg(&ctx, "fail") {
            "error" => Err(HookError::Failed("failing after its changes".into())),
            "trap" => core::arch::wasm32::unreachable(),
            "loop" => loop {
                core::hint::black_box(0u8);
            },
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(core::hint::black_box(vec![0x5a; 1 << 20]));
                }
            }
            _ => Ok(()),
        }
    }
}

nethook_sdk::export_hook!(TxnGuest);
