//! Test guest: returns an error from `run`, after printing to stderr.
use nethook_sdk::{Context, Hook, HookError};

struct Failing;

impl Hook for Failing {
    fn run(ctx: Context) -> Result<(), HookError> {
        eprintln!("failing on purpose at {}", ctx.point_name());
        let (name, mac) = ctx
            .first_uplink()
            .map_or(("<none>", ""), |u| (u.name.as_str(), u.mac.as_str()));
        Err(HookError::Failed(format!(
            "uplink {name} ({mac}) is not ready"
        )))
    }
}

nethook_sdk::export_hook!(Failing);
