//! `time`: sleeping and a monotonic clock, counted against the deadline.

use std::time::Duration;

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

    /// CLOCK_MONOTONIC in nanoseconds: the clock an event's `seen-at` is
    /// on, so a hook can tell how long its event waited. Not audited.
    pub fn now(&mut self) -> u64 {
        monotonic_ns()
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
pub fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}
