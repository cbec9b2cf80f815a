//! {{name}}: a nethook hook. nethook calls `run` at each point its
//! nethook.toml selects it for; the hook reaches the node only through the
//! capabilities its grants allow (see nethook.toml).

use nethook_sdk::{host_fs, info, netlink, Context, Hook, HookError};

struct Main;

impl Hook for Main {
    fn run(ctx: Context) -> Result<(), HookError> {
        // Needs grants.netlink = "read". A capability error becomes a hook
        // error with `?`: nethook logs it, rolls back what this run
        // changed, and the point fails with exit code 5.
        let links = netlink::list_links()?;
        let greeting = ctx.config("greeting").unwrap_or("hello");
        info!("ran"; "greeting" => greeting, "point" => ctx.point_name(), "links" => links.len());
        // Needs grants.write_paths to cover the path. Undone by a rollback.
        let text = format!("{greeting} from {} at {}\n", ctx.hook, ctx.point_name());
        host_fs::write("/etc/nethook-{{name}}.last", text.as_bytes(), Some(0o644))?;
        Ok(())
    }
}

nethook_sdk::export_hook!(Main);
