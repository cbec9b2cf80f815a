//! Test guest: copies one link's layer-3 configuration onto another, as a
//! value, the way a vendor hook would use `l3`.
//!
//! Config: `link` (captured here), `target` (the link to apply to), `netns`
//! (where `target` is; none: here), `bad_route = "true"` adds a route whose
//! gateway the target cannot reach after the captured ones, and
//! `sysctl` / `value` set one sysctl in `netns` instead.
use nethook_sdk::l3::{self, Netns};
use nethook_sdk::netlink::Family;
use nethook_sdk::{info, Context, Hook, HookError};

struct L3Ops;

impl Hook for L3Ops {
    fn run(ctx: Context) -> Result<(), HookError> {
        let netns = ctx.config("netns").map(|n| Netns::Named(n.to_string()));
        if let Some(key) = ctx.config("sysctl") {
            let value = ctx.config("value").unwrap_or("1");
            l3::sysctl_set(key, value, netns.as_ref())?;
            info!("set"; "value" => l3::sysctl_get(key, netns.as_ref())?);
            return Ok(());
        }
        let link = ctx
            .config("link")
            .ok_or_else(|| HookError::InvalidConfig("link".into()))?;
        let target = ctx.config("target").unwrap_or(link);
        let mut config = l3::capture(link, None)?;
        if ctx.config("bad_route") == Some("true") {
            config.routes.push(l3::L3Route {
                family: Family::Ipv4,
                destination: Some("198.51.100.0".into()),
                prefix_len: 24,
                gateway: Some("203.0.113.1".into()),
                output_link: Some(link.into()),
                source: None,
                table: 254,
                metric: None,
                protocol: 4,
                scope: 0,
                kind: 1,
                onlink: false,
            });
        }
        let applied = l3::apply(target, &config, netns.as_ref())?;
        info!("applied"; "changed" => applied.changed, "present" => applied.present);
        Ok(())
    }
}

nethook_sdk::export_hook!(L3Ops);
