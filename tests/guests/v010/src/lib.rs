//! Test guest: a hook built against nethook:hooks@0.1.0, the first release
//! of the package (its WIT inline, as an SDK of that time generated it).
//! Later 0.1.x nethooks must load and run it at the dataplane's points.
wit_bindgen::generate!({
    inline: "
        package nethook:hooks@0.1.0;
        interface types {
            enum hook-point { before-if-read, before-vpp-run, vpp-running, vpp-done-ok, vpp-errored }
            record uplink { name: string, mac: string }
            record context {
                point: hook-point,
                hook: string,
                uplinks: list<uplink>,
                config: list<tuple<string, string>>,
            }
            variant hook-error { failed(string), invalid-config(string) }
        }
        interface log {
            enum level { trace, debug, info, warn, error }
            log: func(level: level, message: string, fields: list<tuple<string, string>>);
        }
        interface guest {
            use types.{context, hook-error};
            run: func(ctx: context) -> result<_, hook-error>;
        }
        world hook {
            import log;
            export guest;
        }
    ",
});

struct V010;

impl exports::nethook::hooks::guest::Guest for V010 {
    fn run(ctx: nethook::hooks::types::Context) -> Result<(), nethook::hooks::types::HookError> {
        nethook::hooks::log::log(
            nethook::hooks::log::Level::Info,
            "built against 0.1.0",
            &[("hook".into(), ctx.hook)],
        );
        Ok(())
    }
}

export!(V010);
