//! The worker: diffs each due link against what it last reported and runs
//! the handlers of the resulting events, one at a time, with retries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::links::{self, Event, Table};
use super::Job;
use crate::bindings::LinkEvent;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::point::{EventPoint, HookPoint};
use crate::run;
use crate::spec::Handler;
use crate::wasm::{Loaded, Runtime};

pub struct Worker {
    opts: Options,
    runtime: Runtime,
    /// The event points' WASM hooks, loaded (compiled, linked) once.
    loaded: HashMap<String, Loaded>,
    metrics: Arc<crate::metrics::WatchMetrics>,
    reported: Table,
    stop: Arc<AtomicBool>,
}

/// Load every WASM hook an event point selects; the first error refuses
/// the whole configuration.
fn load(runtime: &Runtime, config: &Config) -> Result<HashMap<String, Loaded>> {
    let mut loaded = HashMap::new();
    for (point, ep) in &config.events {
        if let Handler::Wasm(h) = &ep.handler {
            if loaded.contains_key(&h.name) {
                continue;
            }
            let l = runtime.load(h)?;
            if !l.is_event_hook() {
                return Err(Error::component(
                    &h.component,
                    format!("[points.{point}] selects hook {:?}, which exports no nethook:hooks/event-guest: it runs only at the dataplane's points; build it with nethook_sdk::export_event_hook!", h.name),
                ));
            }
            loaded.insert(h.name.clone(), l);
        }
    }
    Ok(loaded)
}

impl Worker {
    pub fn new(
        opts: Options,
        reported: Table,
        stop: Arc<AtomicBool>,
        metrics: Arc<crate::metrics::WatchMetrics>,
    ) -> Result<Worker> {
        let runtime = Runtime::new(&opts.config.compiled_dir())?;
        let loaded = load(&runtime, &opts.config)?;
        for line in run::recover(&opts)? {
            tracing::warn!("{line}");
        }
        Ok(Worker {
            opts,
            runtime,
            loaded,
            metrics,
            reported,
            stop,
        })
    }

    /// Until the queue closes or a stop is asked; returns how many jobs
    /// were left queued.
    pub fn run(mut self, queue: Receiver<Job>) -> usize {
        while let Ok(job) = queue.recv() {
            if self.stop.load(Ordering::SeqCst) {
                return 1 + queue.try_iter().count();
            }
            match job {
                Job::Reload(config) => self.reload(*config),
                Job::Link {
                    index,
                    now,
                    seen_at,
                } => {
                    self.metrics.queue_depth.dec();
                    let before = self.reported.remove(&index);
                    if let Some(n) = &now {
                        self.reported.insert(index, n.clone());
                    }
                    for event in links::events(before.as_ref(), now.as_ref()) {
                        self.handle(event, seen_at);
                    }
                }
            }
        }
        0
    }

    fn reload(&mut self, config: Config) {
        // A new state dir must be usable before the old config is let go.
        let opened = load(&self.runtime, &config).and_then(|loaded| {
            crate::caps::journal::Journal::open(&config.state_dir)
                .map_err(|e| Error::Txn(e.into()))?;
            Ok(loaded)
        });
        match opened {
            Ok(loaded) => {
                tracing::info!(config = %config.source(), "SIGHUP: configuration reloaded");
                self.loaded = loaded;
                self.opts.config = config;
            }
            Err(e) => {
                tracing::error!("SIGHUP: the new configuration is refused, the old one stays: {e}")
            }
        }
    }

    fn handle(&mut self, event: Event, seen_at: u64) {
        let point = event.point;
        let Some(ep) = self.opts.config.events.get(&point).cloned() else {
            return;
        };
        if ep.handler == Handler::None {
            return;
        }
        let driver = match point {
            EventPoint::LinkAdded => {
                udev_driver(&self.opts, &event.link.name, event.link.index, &self.stop)
            }
            _ => None,
        };
        if !ep.filter.matches(&event.link, driver.as_deref()) {
            return;
        }
        let wit = LinkEvent {
            point: point.wit(),
            link: event.link.name.clone(),
            index: event.link.index,
            mac: event.link.mac.clone(),
            kind: event.link.kind.clone(),
            driver,
            address: event.address.clone(),
            changed: event.changed.clone(),
            seen_at,
        };
        let retry = self.opts.config.watch.retry.clone();
        let link = &event.link.name;
        for attempt in 0..=retry.len() {
            let started = Instant::now();
            let result = run::run_event(
                &self.opts,
                point,
                &ep.handler,
                &self.runtime,
                &self.loaded,
                &wit,
            );
            let elapsed = started.elapsed();
            let tries = attempt + 1;
            self.count_try(point, &ep.handler, attempt, &result);
            match result {
                Ok(()) => {
                    tracing::info!(%point, %link, index = wit.index, tries, ?elapsed, "event handled");
                    self.count_event(point, "ok", seen_at);
                    return;
                }
                Err(e) if attempt < retry.len() && !self.stop.load(Ordering::SeqCst) => {
                    tracing::warn!(%point, %link, tries, "{e}; trying again in {}", humantime::format_duration(retry[attempt]));
                    if !pause(retry[attempt], &self.stop) {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(%point, %link, tries, "{e}; giving up on this event");
                    self.count_event(point, "failed", seen_at);
                    return;
                }
            }
            if self.runtime.abandoned() > 0 {
                tracing::warn!(
                    threads = self.runtime.abandoned(),
                    "guest threads still blocked in a host call past their deadline"
                );
            }
        }
    }
}

/// Sleep `d` unless a stop comes first; false if it did.
impl Worker {
    /// One try of an event's handler.
    fn count_try(&self, point: EventPoint, handler: &Handler, attempt: usize, r: &Result<()>) {
        let outcome = if r.is_ok() { "ok" } else { "failed" };
        self.metrics
            .hook_runs
            .get_or_create(&vec![
                ("point".into(), point.name().into()),
                ("hook".into(), handler.hook_name().into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
        if attempt > 0 {
            self.metrics.retries.inc();
        }
        if r.as_ref().is_err_and(Error::rolls_back) {
            self.metrics.rollbacks.inc();
        }
    }

    /// An event done with, and how long after the kernel told of it.
    fn count_event(&self, point: EventPoint, outcome: &str, seen_at: u64) {
        let l = |k: &str, v: &str| (k.to_string(), v.to_string());
        self.metrics
            .events
            .get_or_create(&vec![l("point", point.name()), l("outcome", outcome)])
            .inc();
        let waited = crate::caps::time::monotonic_ns().saturating_sub(seen_at);
        self.metrics
            .latency
            .get_or_create(&vec![l("point", point.name())])
            .observe(waited as f64 / 1e9);
    }
}

fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
    }
    true
}

/// udev's driver for a new link, once udevd has written its record (when
/// udevd runs on the node at all), waiting at most `wait`.
/// The record is read through the capability layer (confined to the host
/// root, bounded, audited as nethook's own read): it is the node's data.
fn udev_driver(opts: &Options, link: &str, index: u32, stop: &AtomicBool) -> Option<String> {
    let root = &opts.config.node.root;
    let wait = opts.config.watch.udev_wait;
    if !root.join("run/udev/control").exists() {
        return None;
    }
    let record = root.join(format!("run/udev/data/n{index}"));
    let until = Instant::now() + wait;
    while !record.exists() {
        if Instant::now() >= until || stop.load(Ordering::SeqCst) {
            tracing::warn!(
                index,
                "udev has no record of the new link after {}; running its hooks without",
                humantime::format_duration(wait)
            );
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut host = opts.own(HookPoint::Event(EventPoint::LinkAdded));
    match host.udev().properties_of_index(link, index) {
        Ok(props) => props
            .into_iter()
            .find_map(|(k, v)| (k == "ID_NET_DRIVER").then_some(v)),
        Err(e) => {
            tracing::warn!(
                index,
                "udev's record of the new link: {e}; running its hooks without"
            );
            None
        }
    }
}
