//! Test guest, an event hook: logs each event it is given (one line a
//! test can count), optionally after a sleep (`sleep_ms`) and a file
//! written (`touch`), and fails when `fail` is set.
use nethook_sdk::{host_fs, info, netlink, time, EventContext, EventHook, HookError};

struct EvLog;

impl EventHook for EvLog {
    fn on_event(ctx: EventContext) -> Result<(), HookError> {
        let started = time::now();
        let e = &ctx.event;
        if let Some(ms) = ctx.config("sleep_ms").and_then(|v| v.parse::<u32>().ok()) {
            info!("sleeping for {} ms", ms);
            time::sleep(ms);
        }
        // A change of its own first, for the rollback tests.
        if let Some(path) = ctx.config("touch") {
            host_fs::write(path, format!("{}\n", e.link).as_bytes(), None)?;
        }
        if ctx.config("fail").is_some() {
            return Err(HookError::Failed(format!("told to fail at {}", e.link)));
        }
        // One capability call the audit records, per event.
        let _ = netlink::get_link(&e.link);
        info!("event";
            "event" => e.point.to_string(),
            "link" => e.link.clone(),
            "index" => e.index,
            "kind" => e.kind.clone().unwrap_or_default(),
            "address" => e.address.clone().unwrap_or_default(),
            "changed" => e.changed.join("; "),
            "waited_ns" => started.saturating_sub(e.seen_at)
        );
        Ok(())
    }
}

nethook_sdk::export_event_hook!(EvLog);
