//! The store's data: the capability layer, WASI state and the memory cap.

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::caps::Host;

pub struct Ctx {
    pub host: Host,
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub memory: MemoryCap,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps the sum of all linear memories of one hook. Growth past the cap
/// traps instead of failing softly, so a runaway guest stops at once with a
/// clear reason rather than limping on in its allocator's error path.
pub struct MemoryCap {
    cap: u64,
    used: u64,
    exceeded: Option<String>,
}

impl MemoryCap {
    pub fn new(cap: u64) -> MemoryCap {
        MemoryCap {
            cap,
            used: 0,
            exceeded: None,
        }
    }

    /// Why the cap stopped the guest, if it did.
    pub fn exceeded(&self) -> Option<String> {
        self.exceeded.clone()
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let wanted = self.used + (desired - current) as u64;
        if wanted > self.cap {
            let msg = format!(
                "memory cap of {} exceeded: the guest asked for {} in all",
                mib(self.cap),
                mib(wanted)
            );
            self.exceeded = Some(msg.clone());
            return Err(wasmtime::format_err!("{msg}"));
        }
        self.used = wanted;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}
