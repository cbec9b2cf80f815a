//! CNI host-device's `useInterfaceNetwork`, with the way back: at one point
//! move a host interface into a network namespace with its layer-3
//! configuration (addresses with their remaining lifetimes, routes, source
//! rules, permanent neighbours, rp_filter / forwarding / accept_ra); at
//! another bring it back to the node with the configuration it had.
//!
//! Config (`[hooks.<name>.config]`):
//! - `netns`: the namespace, a name under /run/netns (required);
//! - `link`: the interface (default: the first uplink);
//! - `move_at`: the point that moves it (default `before-vpp-run`);
//! - `return_at`: points that bring it back, comma-separated (default
//!   `vpp-done-ok,vpp-errored`).
//!
//! The configuration captured at the move is kept in the hook's state
//! until the return, so a return after a crash of everything still knows
//! what the node had.

use nethook_sdk::l3::{self, Netns};
use nethook_sdk::{info, state, Context, Error, Hook, HookError};

struct HostDev;

fn applied_fields(a: &l3::Applied) -> String {
    format!(
        "changed={} present={} skipped={}",
        a.changed,
        a.present,
        a.skipped.len()
    )
}

impl Hook for HostDev {
    fn run(ctx: Context) -> Result<(), HookError> {
        let ns = ctx
            .config("netns")
            .ok_or_else(|| {
                HookError::InvalidConfig("netns: missing (a name under /run/netns)".into())
            })?
            .to_string();
        let link = match ctx.config("link") {
            Some(l) => l.to_string(),
            None => ctx
                .first_uplink()
                .ok_or_else(|| {
                    HookError::InvalidConfig("link: missing, and no uplink given".into())
                })?
                .name
                .clone(),
        };
        let point = ctx.point_name();
        let move_at = ctx.config("move_at").unwrap_or("before-vpp-run");
        let return_at = ctx.config("return_at").unwrap_or("vpp-done-ok,vpp-errored");
        let key = format!("l3.{link}");
        let there = Some(Netns::Named(ns.clone()));
        if point == move_at {
            let config = l3::capture(&link, None)?;
            state::set(&key, &l3::to_json(&config))?;
            l3::move_link(&link, None, there.as_ref())?;
            let applied = l3::apply(&link, &config, there.as_ref())?;
            for why in &config.left_out {
                info!("left out"; "what" => why);
            }
            info!("moved with its configuration";
                "link" => &link, "netns" => &ns, "applied" => applied_fields(&applied));
        } else if return_at.split(',').any(|p| p.trim() == point) {
            let Some(saved) = state::get(&key)? else {
                info!("nothing to bring back"; "link" => &link);
                return Ok(());
            };
            let config = l3::from_json(&saved)?;
            match l3::capture(&link, there.as_ref()) {
                Ok(_) => l3::move_link(&link, there.as_ref(), None)?,
                // Already here: a namespace deleted gives physical links back.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
            let applied = l3::apply(&link, &config, None)?;
            for why in &applied.skipped {
                info!("not put back"; "what" => why);
            }
            state::delete(&key)?;
            info!("brought back with its configuration";
                "link" => &link, "applied" => applied_fields(&applied));
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(HostDev);
