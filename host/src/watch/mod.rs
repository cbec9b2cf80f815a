//! `nethook watch`: hooks driven by the node's own network events.
//!
//! Three threads. The reader blocks on an rtnetlink socket subscribed to
//! link and address changes and forwards what it reads. The scheduler (the
//! calling thread) keeps the table of links current, debounces per link (a
//! link is due once quiet for `debounce`, or `max_delay` after its first
//! change) and hands due links to the worker through a bounded queue. The
//! worker diffs each link against what it last reported and runs the
//! event points' handlers, one event at a time, each try a transaction.
//!
//! Events are the net change of a link over its window, computed from
//! state rather than replayed from messages: a full queue, an overrun of
//! the socket or a burst of messages delays events but never loses the
//! final state or reports a change twice.

mod debounce;
pub mod links;
pub mod settings;
mod source;
mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netlink_packet_route::RouteNetlinkMessage;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::options::Options;
use debounce::Debounce;
use links::{LinkState, Table};
pub use settings::{Filter, Settings};

/// What the scheduler hears.
pub(crate) enum Msg {
    /// Messages of one datagram, and when they were read.
    Netlink(Vec<RouteNetlinkMessage>, u64),
    /// The kernel dropped messages: the socket's buffer overflowed.
    Overrun,
    SourceFailed(String),
}

/// What the worker is given.
pub(crate) enum Job {
    /// A link is due: its state now (none: gone), and when its last
    /// message was read.
    Link {
        index: u32,
        now: Option<LinkState>,
        seen_at: u64,
    },
    /// A new configuration, parsed already.
    Reload(Box<Config>),
}

static TERM: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    match sig {
        nix::libc::SIGHUP => HUP.store(true, Ordering::SeqCst),
        _ => TERM.store(true, Ordering::SeqCst),
    }
}

fn install_signals() -> Result<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        // SAFETY: the handler only stores to atomics.
        unsafe { sigaction(sig, &action) }
            .map_err(|e| Error::Other(format!("cannot handle {sig}: {e}")))?;
    }
    Ok(())
}

/// How often the scheduler looks at the signal flags when nothing happens.
const IDLE: Duration = Duration::from_millis(100);
/// How soon a link refused by a full queue is offered again.
const FULL_RETRY: Duration = Duration::from_millis(10);

/// Run until SIGTERM (or SIGINT): exits Ok once the running hook is done.
/// `reload` reads the configuration again, at SIGHUP.
pub fn watch(opts: Options, reload: impl Fn() -> Result<Config>) -> Result<()> {
    install_signals()?;
    let settings = opts.config.watch.clone();
    let socket = source::subscribe(settings.receive_buffer)
        .map_err(|e| Error::Other(format!("cannot subscribe to rtnetlink: {e}")))?;
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("netlink".into())
        .spawn(move || source::read(socket, tx))
        .map_err(|e| Error::Other(format!("cannot start the netlink thread: {e}")))?;
    let mut current =
        source::dump().map_err(|e| Error::Other(format!("cannot read the links: {e}")))?;

    let stop = Arc::new(AtomicBool::new(false));
    let reported = match settings.initial {
        true => Table::new(),
        false => current.clone(),
    };
    let metrics = Arc::new(crate::metrics::WatchMetrics::default());
    if let Some(addr) = opts.config.metrics.listen {
        let bound = metrics
            .serve(addr)
            .map_err(|e| Error::Other(format!("[metrics] listen {addr}: {e}")))?;
        tracing::info!(address = %bound, "serving metrics at /metrics");
    }
    let worker = worker::Worker::new(opts, reported, stop.clone(), metrics.clone())?;
    let (jobs, queue) = mpsc::sync_channel(settings.queue);
    let handle = std::thread::Builder::new()
        .name("worker".into())
        .spawn(move || worker.run(queue))
        .map_err(|e| Error::Other(format!("cannot start the worker thread: {e}")))?;

    let mut settings = settings;
    let mut pending = Debounce::default();
    let started = Instant::now();
    let seen_now = crate::caps::time::monotonic_ns;
    if settings.initial {
        for index in current.keys() {
            pending.mark(*index, started, seen_now());
        }
    }
    tracing::info!(links = current.len(), initial = settings.initial, debounce = ?settings.debounce, "watching");
    let result = loop {
        if TERM.load(Ordering::SeqCst) {
            break Ok(());
        }
        if HUP.swap(false, Ordering::SeqCst) {
            match reload() {
                Ok(config) => {
                    settings.debounce = config.watch.debounce;
                    settings.max_delay = config.watch.max_delay;
                    if jobs.send(Job::Reload(Box::new(config))).is_err() {
                        break Err(Error::Other("the worker stopped".into()));
                    }
                }
                Err(e) => tracing::error!(
                    "SIGHUP: the new configuration is refused, the old one stays: {e}"
                ),
            }
        }
        let (due, mut wait) =
            pending.due(Instant::now(), settings.debounce, settings.max_delay, IDLE);
        for index in due {
            let seen_at = pending.seen_at(index);
            let job = Job::Link {
                index,
                now: current.get(&index).cloned(),
                seen_at,
            };
            match jobs.try_send(job) {
                Ok(()) => {
                    pending.take(index);
                    metrics.queue_depth.inc();
                }
                Err(TrySendError::Full(_)) => {
                    wait = wait.min(FULL_RETRY);
                    break;
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(Error::Other("the worker stopped".into()));
                }
            }
        }
        match rx.recv_timeout(wait) {
            Ok(Msg::Netlink(msgs, seen_at)) => {
                let at = Instant::now();
                for m in &msgs {
                    if let Some(index) = links::apply(&mut current, m) {
                        pending.mark(index, at, seen_at);
                    }
                }
            }
            Ok(Msg::Overrun) => {
                metrics.overruns.inc();
                tracing::warn!("rtnetlink overrun: the kernel dropped messages; reading every link and address again");
                let fresh = match source::dump() {
                    Ok(t) => t,
                    Err(e) => break Err(Error::Other(format!("cannot read the links: {e}"))),
                };
                let at = Instant::now();
                let touched: std::collections::HashSet<u32> =
                    current.keys().chain(fresh.keys()).copied().collect();
                for index in touched {
                    if current.get(&index) != fresh.get(&index) {
                        pending.mark(index, at, seen_now());
                    }
                }
                current = fresh;
            }
            Ok(Msg::SourceFailed(why)) => break Err(Error::Other(why)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                break Err(Error::Other("the netlink thread stopped".into()))
            }
        }
    };
    // The running hook finishes; what is queued is not started.
    stop.store(true, Ordering::SeqCst);
    drop(jobs);
    let left = handle
        .join()
        .map_err(|_| Error::Other("the worker thread panicked".into()))?;
    if left > 0 || !pending.is_empty() {
        tracing::warn!(
            queued = left,
            pending = pending.len(),
            "stopping: links with changes not handled"
        );
    }
    tracing::info!(elapsed = ?started.elapsed(), "watch stopped");
    result
}
