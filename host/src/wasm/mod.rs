//! Running WASM hooks: wasmtime's component model, sandboxed.
//!
//! A hook gets the `hook` world's imports and WASI with no preopens, no
//! environment, no arguments, no sockets and no name lookup; its stdout and
//! stderr are captured into the log. It runs under a deadline (epoch
//! interruption) and a memory cap (a resource limiter).

mod cache;
mod ctx;
mod glue;
mod link;
mod output;
mod world;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::events::EventHookPre;
use crate::bindings::{Context, EventContext, HookError, HookPre};
use crate::caps::Host;
use crate::error::{Error, Result};
use crate::hook::HookConfig;
use ctx::{Ctx, MemoryCap};

pub use cache::CacheOutcome;

/// Bytes kept of an error a guest returns.
const MAX_ERROR: usize = 4 << 10;

/// Captured guest output beyond this, per stream, is dropped.
const OUTPUT_CAPACITY: usize = 1 << 20;

/// The epoch advances every tick; a hook's deadline is counted in ticks, so
/// any number of stores share one engine, each with its own deadline.
const TICK: Duration = Duration::from_millis(10);

/// One engine, linker and compiled-code cache, made once per process and
/// shared by every hook it runs (`nethook watch` keeps it for its lifetime).
pub struct Runtime {
    engine: Engine,
    /// Interfaces are added as components import them.
    linker: Mutex<link::Lazy>,
    cache: cache::Cache,
    stop_ticker: Arc<AtomicBool>,
    /// Guest threads given up on while blocked in a host call.
    abandoned: Arc<AtomicUsize>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

/// A component that passed every check and is ready to instantiate: its
/// imports already resolved against our linker, once.
pub struct Loaded {
    pub component: Component,
    /// Exports `guest`: runs at the dataplane's points.
    pre: Option<HookPre<Ctx>>,
    /// Exports `event-guest`: runs at the event points.
    event_pre: Option<EventHookPre<Ctx>>,
    pub sha256: [u8; 32],
    pub cache: CacheOutcome,
    /// The version of our package it was built against, e.g. `0.1.0`.
    pub targets: String,
}

impl Loaded {
    /// It can run at the dataplane's points.
    pub fn is_hook(&self) -> bool {
        self.pre.is_some()
    }

    /// It can run at the event points.
    pub fn is_event_hook(&self) -> bool {
        self.event_pre.is_some()
    }
}

/// What a guest is called with.
enum Call {
    Point(Context),
    Event(EventContext),
}

impl Runtime {
    pub fn new(cache_dir: &Path) -> Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| Error::Other(format!("wasm engine: {e}")))?;
        let linker = Mutex::new(link::Lazy::new(&engine));
        let cache = cache::Cache::new(cache_dir, &engine);
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (ticking, stop) = (engine.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| Error::Other(format!("cannot start the epoch thread: {e}")))?;
        Ok(Runtime {
            engine,
            linker,
            cache,
            stop_ticker,
            abandoned: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Guest threads still blocked in a host call after their deadline.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Identify, pin-check, validate and compile (or take from the compiled
    /// store) a hook's component. A component file the store hashed before
    /// and that is unchanged since (same identity) is not read again; its
    /// bytes are read only to be compiled.
    pub fn load(&self, hook: &HookConfig) -> Result<Loaded> {
        let path = &hook.component;
        let cannot_read = |e: std::io::Error| Error::component(path, format!("cannot read: {e}"));
        let mut file = std::fs::File::open(path).map_err(cannot_read)?;
        let size = file.metadata().map_err(cannot_read)?.len();
        if size > crate::oci::MAX_COMPONENT_BYTES {
            return Err(Error::component(
                path,
                format!(
                    "is {size} bytes; a component may have at most {}",
                    crate::oci::MAX_COMPONENT_BYTES
                ),
            ));
        }
        let mut header = [0u8; 8];
        std::os::unix::fs::FileExt::read_at(&file, &mut header, 0).map_err(cannot_read)?;
        world::check_header(&header).map_err(|m| Error::component(path, m))?;
        let mut read = None;
        let sha256 = match self.cache.known_sha256(path, &file) {
            Some(sha) => sha,
            None => {
                let mut bytes = Vec::with_capacity(size as usize);
                std::io::Read::read_to_end(&mut file, &mut bytes).map_err(cannot_read)?;
                let sha: [u8; 32] = Sha256::digest(&bytes).into();
                self.cache.remember_sha256(path, &file, &sha);
                read = Some(bytes);
                sha
            }
        };
        if let Some(pin) = hook.sha256 {
            if pin != sha256 {
                return Err(Error::component(
                    path,
                    format!(
                        "sha256 is {} but [hooks.{}] pins {}; refusing to run it",
                        hex::encode(sha256),
                        hook.name,
                        hex::encode(pin)
                    ),
                ));
            }
        }
        // Compiled from bytes that hash to what was checked, whichever way
        // the digest was known.
        let bytes = || match read {
            Some(b) => Ok(b),
            None => {
                let b = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
                match <[u8; 32]>::from(Sha256::digest(&b)) == sha256 {
                    true => Ok(b),
                    false => Err("changed while it was being loaded".to_string()),
                }
            }
        };
        let (component, outcome) = self.cache.load(&self.engine, bytes, &sha256).map_err(|e| {
            let why = crate::text::bounded(&format!("{e:#}"), MAX_ERROR);
            Error::component(path, format!("invalid component: {why}"))
        })?;
        let world =
            world::check_world(&self.engine, &component).map_err(|m| Error::component(path, m))?;
        // Every import must be one we provide, before anything runs.
        let linked = self
            .linker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .instantiate_pre(&self.engine, &component)
            .map_err(|e| Error::component(path, format!("cannot be linked: {e:#}")))?;
        let typed = |e: wasmtime::Error| Error::component(path, format!("cannot be linked: {e:#}"));
        let pre = match world.hook {
            true => Some(HookPre::new(linked.clone()).map_err(typed)?),
            false => None,
        };
        let event_pre = match world.event_hook {
            true => Some(EventHookPre::new(linked).map_err(typed)?),
            false => None,
        };
        Ok(Loaded {
            component,
            pre,
            event_pre,
            sha256,
            cache: outcome,
            targets: world.version,
        })
    }

    /// Run the hook's `run` export once, within its deadline and memory cap.
    ///
    /// The epoch stops a guest running wasm at its deadline, but not one
    /// blocked inside a host call (a WASI sleep, a stuck command). So the
    /// guest runs on its own thread, and a watchdog gives up on it shortly
    /// after the deadline; the process then exits and takes the thread along.
    pub fn run(
        &self,
        hook: &HookConfig,
        loaded: &Loaded,
        host: Host,
        context: Context,
    ) -> Result<()> {
        self.call(hook, loaded, host, Call::Point(context))
    }

    /// Run the hook's `on-event` export once, like `run`.
    pub fn run_event(
        &self,
        hook: &HookConfig,
        loaded: &Loaded,
        host: Host,
        context: EventContext,
    ) -> Result<()> {
        self.call(hook, loaded, host, Call::Event(context))
    }

    /// A guest given up on keeps its thread until its host call returns:
    /// the process goes on (the transaction it held is closed by then, so
    /// it can change nothing more), and the count says how many there are.
    fn call(&self, hook: &HookConfig, loaded: &Loaded, host: Host, call: Call) -> Result<()> {
        let (point, name, timeout) = (host.caller.point, hook.name.clone(), hook.timeout);
        let work = match call {
            Call::Point(c) => loaded.pre.clone().map(|p| Work::Point(p, c)),
            Call::Event(c) => loaded.event_pre.clone().map(|p| Work::Event(p, c)),
        };
        let Some(work) = work else {
            return Err(Error::component(
                &hook.component,
                match loaded.pre {
                    None => format!("exports no {}/guest: it is an event hook, for `nethook watch`'s event points only", crate::bindings::PACKAGE),
                    Some(_) => format!("exports no {}/event-guest@0.1.1 or later: it runs only at the dataplane's points; build it with nethook_sdk::export_event_hook!", crate::bindings::PACKAGE),
                },
            ));
        };
        // Each guest given up on holds a thread and its memory until its
        // host call returns: a hook that blocks every time cannot make
        // `nethook watch` pile them up.
        let stuck = self.abandoned();
        if stuck >= MAX_ABANDONED {
            return Err(Error::HookFailed {
                hook: name,
                point,
                message: format!(
                    "not started: {stuck} earlier hook runs are still blocked in host calls past their deadlines (at most {MAX_ABANDONED})"
                ),
            });
        }
        let job = Job {
            engine: self.engine.clone(),
            hook: hook.clone(),
        };
        let (tx, rx) = mpsc::channel();
        // RUNNING until the thread finishes (DONE) or is given up on
        // (ABANDONED), whichever comes first.
        let fate = Arc::new(std::sync::atomic::AtomicU8::new(RUNNING));
        let (abandoned, thread_fate) = (self.abandoned.clone(), fate.clone());
        std::thread::Builder::new()
            .name(format!("hook {name}"))
            .spawn(move || {
                let _ = tx.send(job.run(host, work));
                let done =
                    thread_fate.compare_exchange(RUNNING, DONE, Ordering::SeqCst, Ordering::SeqCst);
                if done.is_err() {
                    abandoned.fetch_sub(1, Ordering::SeqCst);
                }
            })
            .map_err(|e| Error::Other(format!("cannot start a thread for {name}: {e}")))?;
        if let Ok(r) = rx.recv_timeout(timeout + WATCHDOG_GRACE) {
            return r;
        }
        // Counted first, so that the thread's decrement never comes first.
        self.abandoned.fetch_add(1, Ordering::SeqCst);
        if fate
            .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // It finished in between: its result is sent already.
            self.abandoned.fetch_sub(1, Ordering::SeqCst);
            if let Ok(r) = rx.recv() {
                return r;
            }
        }
        tracing::error!(hook = %name, %point, "hook still blocked in a host call {} after its deadline", humantime::format_duration(WATCHDOG_GRACE));
        Err(Error::HookTimedOut {
            hook: name,
            point,
            timeout,
        })
    }
}

const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

/// An export, and what it is called with.
enum Work {
    Point(HookPre<Ctx>, Context),
    Event(EventHookPre<Ctx>, EventContext),
}

/// Guest threads given up on that may be outstanding before no further
/// hook is started.
pub const MAX_ABANDONED: usize = 4;

/// How long past its deadline a hook blocked in a host call is waited for.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// One run, owned by the thread that performs it.
struct Job {
    engine: Engine,
    hook: HookConfig,
}

impl Job {
    fn run(self, host: Host, work: Work) -> Result<()> {
        let caller = host.caller.clone();
        let (stdout, stderr) = (
            output::Capture::new(OUTPUT_CAPACITY),
            output::Capture::new(OUTPUT_CAPACITY),
        );
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            Ctx {
                host,
                wasi,
                table: ResourceTable::new(),
                memory: MemoryCap::new(self.hook.memory),
            },
        );
        store.limiter(|c| &mut c.memory);
        // Ticks from now, rounded up, plus the one already under way.
        let ticks = self.hook.timeout.as_nanos().div_ceil(TICK.as_nanos()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let started = Instant::now();
        let result = match &work {
            Work::Point(pre, context) => pre
                .instantiate(&mut store)
                .and_then(|b| b.nethook_hooks_guest().call_run(&mut store, context)),
            Work::Event(pre, context) => pre.instantiate(&mut store).and_then(|b| {
                b.nethook_hooks_event_guest()
                    .call_on_event(&mut store, context)
            }),
        };
        let elapsed = started.elapsed();
        let past_deadline = elapsed >= self.hook.timeout;

        let host = &mut store.data_mut().host;
        for (name, pipe) in [("stdout", &stdout), ("stderr", &stderr)] {
            for line in pipe.contents().lines() {
                host.output(name, line);
            }
        }
        let (hook, point) = (caller.hook, caller.point);
        let timed_out = || Error::HookTimedOut {
            hook: hook.clone(),
            point,
            timeout: self.hook.timeout,
        };
        match result {
            Ok(Ok(())) => {
                tracing::debug!(%hook, %point, ?elapsed, "hook returned ok");
                Ok(())
            }
            // A host call cut short by the deadline makes the guest fail;
            // the cause is the deadline.
            Ok(Err(_)) if past_deadline => Err(timed_out()),
            Ok(Err(e)) => Err(Error::HookFailed {
                hook,
                point,
                // The guest's own text: one line, bounded.
                message: match e {
                    HookError::Failed(m) => crate::text::bounded(&m, MAX_ERROR),
                    HookError::InvalidConfig(m) => {
                        format!(
                            "invalid hook config: {}",
                            crate::text::bounded(&m, MAX_ERROR)
                        )
                    }
                },
            }),
            Err(e) => {
                if let Some(m) = store.data().memory.exceeded() {
                    return Err(Error::HookTrapped {
                        hook,
                        point,
                        message: m,
                    });
                }
                if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                    return Err(timed_out());
                }
                if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    return Err(Error::HookFailed {
                        hook,
                        point,
                        message: format!("guest exited with code {}", exit.0),
                    });
                }
                // A backtrace names the guest's own functions: its text.
                Err(Error::HookTrapped {
                    hook,
                    point,
                    message: crate::text::bounded(format!("{e:?}").trim(), 16 << 10),
                })
            }
        }
    }
}
