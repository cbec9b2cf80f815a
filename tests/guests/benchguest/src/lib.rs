//! Benchmark guest: repeats one capability call `n` times.
//!
//! Config: `op` = log | state-get | link-get | routes-add | routes-dump,
//! `n`; for routes, `dev` and `table` (routes are 10.x.y.z/32, i-th address
//! counting from 10.0.0.0).
use nethook_sdk::netlink::{self, Family, RouteSpec};
use nethook_sdk::{info, state, Context, Hook, HookError};

struct Bench;

fn route(i: u32, dev: &str, table: u32) -> RouteSpec {
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
        output_link: Some(dev.to_string()),
        table,
        metric: None,
        protocol: 4,
        scope: 253,
    }
}

impl Hook for Bench {
    fn run(ctx: Context) -> Result<(), HookError> {
        let n: u32 = ctx.config("n").and_then(|v| v.parse().ok()).unwrap_or(1);
        let dev = ctx.config("dev").unwrap_or("lo").to_string();
        let table: u32 = ctx
            .config("table")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        match ctx.config("op").unwrap_or("log") {
            "log" => {
                for _ in 0..n {
                    info!("trivial");
                }
            }
            "state-get" => {
                for _ in 0..n {
                    state::get("k")?;
                }
            }
            "link-get" => {
                for _ in 0..n {
                    netlink::get_link(&dev)?;
                }
            }
            "routes-add" => {
                for i in 0..n {
                    netlink::add_route(&route(i, &dev, table))?;
                }
            }
            "routes-dump" => {
                let count = netlink::list_routes(Family::Ipv4)?
                    .iter()
                    .filter(|r| r.table == table)
                    .count();
                if count as u32 != n {
                    return Err(HookError::Failed(format!(
                        "dumped {count} routes, expected {n}"
                    )));
                }
            }
            other => return Err(HookError::InvalidConfig(format!("unknown op {other}"))),
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(Bench);
