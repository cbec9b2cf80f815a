//! Inventory: logs every link and address the node has, and counts its own
//! runs in `state`, so each hook point sees the count the previous one left.

use nethook_sdk::{info, netlink, state, Context, Hook, HookError};

struct Inventory;

impl Hook for Inventory {
    fn run(ctx: Context) -> Result<(), HookError> {
        let links = netlink::list_links()?;
        for link in &links {
            info!("link";
                "name" => link.name,
                "index" => link.index,
                "mac" => link.mac.clone().unwrap_or_default(),
                "mtu" => link.mtu,
                "up" => link.up);
        }
        let addresses = netlink::list_addresses()?;
        for addr in &addresses {
            let link = links
                .iter()
                .find(|l| l.index == addr.link_index)
                .map_or("?", |l| l.name.as_str());
            info!("address";
                "link" => link,
                "address" => format!("{}/{}", addr.address, addr.prefix_len));
        }

        let previous: u64 = match state::get("runs")? {
            Some(v) => v
                .parse()
                .map_err(|_| HookError::Failed(format!("state key runs holds {v:?}")))?,
            None => 0,
        };
        state::set("runs", &(previous + 1).to_string())?;
        info!("runs";
            "previous" => previous,
            "now" => previous + 1,
            "point" => ctx.point_name(),
            "label" => ctx.config("label").unwrap_or("-"));
        // Plain stdout: the host captures it into the log under this hook.
        println!(
            "inventory: {} links, {} addresses",
            links.len(),
            addresses.len()
        );
        Ok(())
    }
}

nethook_sdk::export_hook!(Inventory);
