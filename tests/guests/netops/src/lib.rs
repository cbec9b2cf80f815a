//! Test guest: changes netlink state the way a dataplane hook would, then
//! reads it back through the same capability and logs what it sees.
//!
//! Config: `link`, `peer`, `netns` (a name under /run/netns), `new_name`,
//! `table`; `undo = "true"` deletes the addresses, routes and rules again.
use nethook_sdk::netlink::{self, Family, Netns, Route, RouteSpec, Rule};
use nethook_sdk::{info, Context, Hook, HookError};

struct NetOps;

fn cfg<'a>(ctx: &'a Context, key: &str) -> Result<&'a str, HookError> {
    ctx.config(key)
        .ok_or_else(|| HookError::InvalidConfig(format!("missing {key}")))
}

fn routes(dev: &str, table: u32) -> [RouteSpec; 2] {
    [
        RouteSpec {
            family: Family::Ipv4,
            destination: Some("10.88.0.0".into()),
            prefix_len: 16,
            gateway: Some("10.77.0.254".into()),
            output_link: Some(dev.into()),
            table,
            metric: Some(50),
            protocol: 4,
            scope: 0,
        },
        RouteSpec {
            family: Family::Ipv6,
            destination: Some("fd88::".into()),
            prefix_len: 32,
            gateway: None,
            output_link: Some(dev.into()),
            table,
            metric: Some(60),
            protocol: 4,
            scope: 0,
        },
    ]
}

fn rules(table: u32) -> [Rule; 2] {
    let rule = |family, source: &str, len| Rule {
        family,
        priority: Some(1000),
        table,
        source: Some(source.into()),
        source_len: len,
        destination: None,
        destination_len: 0,
        input_link: None,
        fwmark: None,
    };
    [
        rule(Family::Ipv4, "10.77.0.0", 24),
        rule(Family::Ipv6, "fd77::", 64),
    ]
}

fn log_route(r: &Route) {
    info!("route";
        "dst" => format!("{}/{}", r.destination.clone().unwrap_or_default(), r.prefix_len),
        "gw" => r.gateway.clone().unwrap_or_default(),
        "table" => r.table,
        "metric" => r.metric.unwrap_or(0));
}

impl Hook for NetOps {
    fn run(ctx: Context) -> Result<(), HookError> {
        let new_name = cfg(&ctx, "new_name")?;
        let table: u32 = cfg(&ctx, "table")?.parse().unwrap_or(100);
        if ctx.config("undo") == Some("true") {
            for r in rules(table) {
                netlink::del_rule(&r)?;
            }
            for r in routes(new_name, table) {
                netlink::del_route(&r)?;
            }
            netlink::del_address(new_name, "10.77.0.1", 24)?;
            netlink::del_address(new_name, "fd77::1", 64)?;
            info!("undone");
            return Ok(());
        }
        let link = cfg(&ctx, "link")?;
        netlink::move_to_netns(
            cfg(&ctx, "peer")?,
            &Netns::Named(cfg(&ctx, "netns")?.into()),
        )?;
        netlink::set_down(link)?;
        netlink::rename(link, new_name)?;
        netlink::set_mtu(new_name, 1400)?;
        netlink::set_up(new_name)?;
        netlink::add_address(new_name, "10.77.0.1", 24)?;
        netlink::add_address(new_name, "fd77::1", 64)?;
        for r in routes(new_name, table) {
            netlink::add_route(&r)?;
        }
        for r in rules(table) {
            netlink::add_rule(&r)?;
        }

        let l = netlink::get_link(new_name)?;
        info!("link"; "name" => l.name, "mtu" => l.mtu, "up" => l.up);
        for family in [Family::Ipv4, Family::Ipv6] {
            for r in netlink::list_routes(family)?
                .iter()
                .filter(|r| r.table == table)
            {
                log_route(r);
            }
            for r in netlink::list_rules(family)?
                .iter()
                .filter(|r| r.table == table)
            {
                info!("rule";
                    "priority" => r.priority.unwrap_or(0),
                    "from" => format!("{}/{}", r.source.clone().unwrap_or_default(), r.source_len));
            }
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(NetOps);
