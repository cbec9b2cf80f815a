//! Test guest: sleeps through WASI's clock, inside a host call where the
//! epoch cannot reach it; the host's watchdog must still end the run.
use nethook_sdk::{info, Context, Hook, HookError};

struct Sleeper;

impl Hook for Sleeper {
    fn run(_ctx: Context) -> Result<(), HookError> {
        info!("sleeping for an hour");
        std::thread::sleep(std::time::Duration::from_secs(3600));
        Ok(())
    }
}

nethook_sdk::export_hook!(Sleeper);
