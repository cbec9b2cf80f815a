//! `time`: sleeping and a monotonic clock, counted against the deadline.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::Host;

impl Host {
    /// Sleep at most until the deadline; the guest then stops at its next
    /// instruction, so a long sleep cannot outlive the hook's timeout.
    pub fn sleep(&mut self, duration: Duration) {
        let shown = humantime::format_duration(duration).to_string();
        let _ = self.read("time", "sleep", shown, Ok(()), |h| {
            std::thread::sleep(h.remaining(duration));
            Ok(())
        });
    }

    /// Monotonic nanoseconds since this process first asked. Not audited:
    /// it observes nothing of the node, and a guest may call it in a loop.
    pub fn now(&mut self) -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}
