"""{{name}}: a nethook hook, in Python.

nethook calls Guest.run at each point nethook.toml selects it for; the
hook reaches the node only through the capabilities (wit_world.imports)
its grants allow.
"""

from wit_world import exports
from wit_world.imports import host_fs, log, netlink
from wit_world.imports.types import Context

from nethook_shim import hook, point_name


class Guest(exports.Guest):
    # @hook turns a capability error the code does not catch (and any other
    # exception) into a hook error: nethook logs its message, rolls back
    # what this run changed, and the point fails with exit code 5 rather
    # than a trap.
    @hook
    def run(self, ctx: Context) -> None:
        # Needs grants.netlink = "read".
        links = netlink.list_links()
        config = dict(ctx.config)
        greeting = config.get("greeting", "hello")
        log.log(
            log.Level.INFO,
            "ran",
            [("greeting", greeting), ("point", point_name(ctx.point)), ("links", str(len(links)))],
        )
        # Needs grants.write_paths to cover the path. Undone by a rollback.
        text = f"{greeting} from {ctx.hook} at {point_name(ctx.point)}\n"
        host_fs.write("/etc/nethook-{{name}}.last", text.encode(), 0o644)
