//! Test guest: allocates without bound; the host's memory cap must stop it.
use nethook_sdk::{info, Context, Hook, HookError};

struct MemHog;

impl Hook for MemHog {
    fn run(_ctx: Context) -> Result<(), HookError> {
        info!("allocating without bound");
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(core::hint::black_box(vec![0xa5; 1 << 20]));
        }
    }
}

nethook_sdk::export_hook!(MemHog);
