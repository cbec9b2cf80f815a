//! Test guest: prints far more than the host keeps (4 MiB to stdout); the
//! excess must be dropped, not turned into a failure.
use nethook_sdk::{Context, Hook, HookError};

struct Chatty;

impl Hook for Chatty {
    fn run(_ctx: Context) -> Result<(), HookError> {
        let line = "x".repeat(1023);
        for i in 0..4096 {
            println!("{i:05} {line}");
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(Chatty);
