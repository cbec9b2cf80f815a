//! Test guest: built against a future, incompatible version of our package
//! (nethook:hooks@0.2.0); nethook must refuse it naming both versions.
wit_bindgen::generate!({
    inline: "
        package nethook:hooks@0.2.0;
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
        interface guest {
            use types.{context, hook-error};
            run: func(ctx: context) -> result<_, hook-error>;
        }
        world hook {
            export guest;
        }
    ",
});

struct Future;

impl exports::nethook::hooks::guest::Guest for Future {
    fn run(
        _ctx: exports::nethook::hooks::guest::Context,
    ) -> Result<(), exports::nethook::hooks::guest::HookError> {
        Ok(())
    }
}

export!(Future);
