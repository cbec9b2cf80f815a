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

    /// Monotonic nanoseconds since this process first asked.
    pub fn now(&mut self) -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        let now = START.get_or_init(Instant::now).elapsed().as_nanos() as u64;
        let _ = self.read("time", "now", String::new(), Ok(()), |_| Ok(()));
        now
    }
}
