//! Test guest: never returns; the host must stop it at its deadline.
use nethook_sdk::{info, Context, Hook, HookError};

struct Looper;

impl Hook for Looper {
    fn run(_ctx: Context) -> Result<(), HookError> {
        info!("looping forever");
        let mut n: u64 = 0;
        loop {
            n = core::hint::black_box(n.wrapping_add(1));
        }
    }
}

nethook_sdk::export_hook!(Looper);
