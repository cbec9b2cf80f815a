//! Per-link debouncing: a link with changes is due once it has been quiet
//! for `debounce`, or `max_delay` after its first change however busy it
//! stays; due links go out oldest change first.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A link with changes not yet handed to the worker.
struct Pending {
    first: Instant,
    last: Instant,
    /// When its last change was seen (monotonic ns), for the event.
    seen_at: u64,
}

#[derive(Default)]
pub struct Debounce {
    pending: HashMap<u32, Pending>,
}

impl Debounce {
    /// Link `index` changed at `at`.
    pub fn mark(&mut self, index: u32, at: Instant, seen_at: u64) {
        self.pending
            .entry(index)
            .and_modify(|p| {
                p.last = at;
                p.seen_at = seen_at;
            })
            .or_insert(Pending {
                first: at,
                last: at,
                seen_at,
            });
    }

    /// The links due at `now`, oldest first change first, and how long
    /// until the next one is due (at most `idle`).
    pub fn due(
        &self,
        now: Instant,
        debounce: Duration,
        max_delay: Duration,
        idle: Duration,
    ) -> (Vec<u32>, Duration) {
        let mut wait = idle;
        let mut due = Vec::new();
        for (index, p) in &self.pending {
            let at = (p.last + debounce).min(p.first + max_delay);
            match at.checked_duration_since(now) {
                None => due.push(*index),
                Some(left) => wait = wait.min(left),
            }
        }
        due.sort_by_key(|i| self.pending[i].first);
        (due, wait)
    }

    /// When link `index`'s last change was seen.
    pub fn seen_at(&self, index: u32) -> u64 {
        self.pending.get(&index).map_or(0, |p| p.seen_at)
    }

    /// Handed over: no longer pending.
    pub fn take(&mut self, index: u32) {
        self.pending.remove(&index);
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const IDLE: Duration = Duration::from_millis(100);

    #[test]
    fn a_busy_link_waits_for_quiet_until_its_max_delay() {
        let t0 = Instant::now();
        let (debounce, max) = (250 * MS, 1000 * MS);
        let mut d = Debounce::default();
        d.mark(7, t0, 1);
        // Changes every 200 ms: never quiet for 250 ms.
        for i in 1..=4 {
            d.mark(7, t0 + 200 * MS * i, 1 + i as u64);
            let (due, wait) = d.due(t0 + 200 * MS * i, debounce, max, IDLE);
            assert!(due.is_empty(), "at {i}");
            assert_eq!(wait, IDLE.min(debounce), "at {i}");
        }
        // Just past 1 s from its first change it is due, busy or not.
        let (due, _) = d.due(t0 + max + MS, debounce, max, IDLE);
        assert_eq!(due, [7]);
        assert_eq!(d.seen_at(7), 5);
    }

    #[test]
    fn a_quiet_link_is_due_after_the_debounce_and_the_oldest_goes_first() {
        let t0 = Instant::now();
        let (debounce, max) = (250 * MS, 5000 * MS);
        let mut d = Debounce::default();
        d.mark(2, t0 + 10 * MS, 0);
        d.mark(1, t0 + 20 * MS, 0);
        let (due, wait) = d.due(t0 + 100 * MS, debounce, max, Duration::from_secs(1));
        assert!(due.is_empty());
        assert_eq!(wait, 160 * MS);
        let (due, _) = d.due(t0 + 300 * MS, debounce, max, IDLE);
        assert_eq!(due, [2, 1]);
        d.take(2);
        assert_eq!(d.len(), 1);
        // A zero debounce: due at once.
        let mut z = Debounce::default();
        z.mark(3, t0, 0);
        assert_eq!(
            z.due(t0, Duration::ZERO, max, IDLE),
            (vec![], Duration::ZERO)
        );
        assert_eq!(z.due(t0 + MS, Duration::ZERO, max, IDLE).0, [3]);
    }
}
