//! Running WASM hooks: wasmtime's component model, sandboxed.
//!
//! A hook gets the `hook` world's imports and WASI with no preopens, no
//! environment, no arguments, no sockets and no name lookup; its stdout and
//! stderr are captured into the log. It runs under a deadline (epoch
//! interruption) and a memory cap (a resource limiter).

mod cache;
mod ctx;
mod glue;
mod output;
mod world;

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::bindings::{Context, Hook, HookError, HookPre};
use crate::caps::Host;
use crate::config::HookConfig;
use crate::error::{Error, Result};
use ctx::{Ctx, MemoryCap};

pub use cache::CacheOutcome;

/// Captured guest output beyond this, per stream, is dropped.
const OUTPUT_CAPACITY: usize = 1 << 20;

pub struct Runtime {
    engine: Engine,
    linker: Linker<Ctx>,
    cache: cache::Cache,
}

/// A component that passed every check and is ready to instantiate: its
/// imports already resolved against our linker, once.
pub struct Loaded {
    pub component: Component,
    pre: HookPre<Ctx>,
    pub sha256: [u8; 32],
    pub cache: CacheOutcome,
}

impl Runtime {
    pub fn new(cache_dir: &Path) -> Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| Error::Other(format!("wasm engine: {e}")))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|_| Hook::add_to_linker::<_, HasSelf<Ctx>>(&mut linker, |c| c))
            .map_err(|e| Error::Other(format!("wasm linker: {e}")))?;
        let cache = cache::Cache::new(cache_dir, &engine);
        Ok(Runtime {
            engine,
            linker,
            cache,
        })
    }

    /// Read, pin-check, validate and compile (or fetch from the cache) a hook's component.
    pub fn load(&self, hook: &HookConfig) -> Result<Loaded> {
        let path = &hook.component;
        let bytes =
            std::fs::read(path).map_err(|e| Error::component(path, format!("cannot read: {e}")))?;
        let sha256: [u8; 32] = Sha256::digest(&bytes).into();
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
        world::check_header(&bytes).map_err(|m| Error::component(path, m))?;
        let (component, outcome) = self
            .cache
            .load(&self.engine, &bytes, &sha256)
            .map_err(|e| Error::component(path, format!("invalid component: {e:#}")))?;
        world::check_world(&self.engine, &component).map_err(|m| Error::component(path, m))?;
        // Every import must be one we provide, before anything runs.
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(HookPre::new)
            .map_err(|e| Error::component(path, format!("cannot be linked: {e:#}")))?;
        Ok(Loaded {
            component,
            pre,
            sha256,
            cache: outcome,
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
        let (point, name, timeout) = (host.caller.point, hook.name.clone(), hook.timeout);
        let job = Job {
            engine: self.engine.clone(),
            pre: loaded.pre.clone(),
            hook: hook.clone(),
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("hook {name}"))
            .spawn(move || {
                let _ = tx.send(job.run(host, context));
            })
            .map_err(|e| Error::Other(format!("cannot start a thread for {name}: {e}")))?;
        rx.recv_timeout(timeout + WATCHDOG_GRACE).unwrap_or_else(|_| {
            tracing::error!(hook = %name, %point, "hook still blocked in a host call {} after its deadline", humantime::format_duration(WATCHDOG_GRACE));
            Err(Error::HookTimedOut { hook: name, point, timeout })
        })
    }
}

/// How long past its deadline a hook blocked in a host call is waited for.
const WATCHDOG_GRACE: Duration = Duration::from_secs(2);

/// One run, owned by the thread that performs it.
struct Job {
    engine: Engine,
    pre: HookPre<Ctx>,
    hook: HookConfig,
}

impl Job {
    fn run(self, host: Host, context: Context) -> Result<()> {
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
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();

        let _timer = Deadline::start(&self.engine, self.hook.timeout);
        let started = Instant::now();
        let result = self.pre.instantiate(&mut store).and_then(|bindings| {
            bindings
                .nethook_hooks_guest()
                .call_run(&mut store, &context)
        });
        let elapsed = started.elapsed();
        let past_deadline = elapsed >= self.hook.timeout;

        let host = &store.data().host;
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
                message: match e {
                    HookError::Failed(m) => m,
                    HookError::InvalidConfig(m) => format!("invalid hook config: {m}"),
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
                Err(Error::HookTrapped {
                    hook,
                    point,
                    message: format!("{e:?}").trim().to_string(),
                })
            }
        }
    }
}

/// Advances the engine's epoch once `timeout` passes, which traps the guest
/// at its next loop header or function entry. Dropping it disarms it.
struct Deadline {
    _disarm: mpsc::Sender<()>,
}

impl Deadline {
    fn start(engine: &Engine, timeout: Duration) -> Deadline {
        let (tx, rx) = mpsc::channel::<()>();
        let engine = engine.clone();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(timeout) {
                engine.increment_epoch();
            }
        });
        Deadline { _disarm: tx }
    }
}
