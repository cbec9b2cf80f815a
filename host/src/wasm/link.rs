//! The linker, built as components need it.
//!
//! WASI and our own package together are some 40 interfaces and 200
//! functions; defining all of them is most of what a one-shot run spends
//! before it loads anything. A hook imports a fraction (a Rust hook through
//! the preview1 adapter about a dozen), so an interface is added the first
//! time a component imports it, and kept for every later component of the
//! process (`nethook watch` adds each at most once). The definitions are
//! the ones `wasmtime_wasi::p2::add_to_linker_sync` and
//! `Hook::add_to_linker` make, interface by interface: what a component
//! can link, and to what, is unchanged, and an import we do not provide
//! still fails `instantiate_pre` with wasmtime's own message.

use std::collections::HashSet;

use wasmtime::component::{Component, HasData, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::Engine;
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sockets, sync};
use wasmtime_wasi::random::{WasiRandom, WasiRandomView};
use wasmtime_wasi::sockets::{WasiSockets, WasiSocketsView};

use super::ctx::Ctx;
use crate::bindings::nethook::hooks as ours;

type Add = fn(&mut Linker<Ctx>) -> wasmtime::Result<()>;

/// The resource table, for `wasi:io`.
struct HasTable;

impl HasData for HasTable {
    type Data<'a> = &'a mut ResourceTable;
}

fn table(c: &mut Ctx) -> &mut ResourceTable {
    &mut c.table
}

/// Every interface a hook may import, by name without its version, and
/// what defines it.
const INTERFACES: &[(&str, Add)] = &[
    // wasmtime_wasi::p2::add_to_linker_sync, in its order.
    ("wasi:clocks/wall-clock", |l| {
        clocks::wall_clock::add_to_linker::<Ctx, WasiClocks>(l, Ctx::clocks)
    }),
    ("wasi:clocks/monotonic-clock", |l| {
        clocks::monotonic_clock::add_to_linker::<Ctx, WasiClocks>(l, Ctx::clocks)
    }),
    ("wasi:filesystem/preopens", |l| {
        filesystem::preopens::add_to_linker::<Ctx, WasiFilesystem>(l, Ctx::filesystem)
    }),
    ("wasi:random/random", |l| {
        random::random::add_to_linker::<Ctx, WasiRandom>(l, Ctx::random)
    }),
    ("wasi:random/insecure", |l| {
        random::insecure::add_to_linker::<Ctx, WasiRandom>(l, Ctx::random)
    }),
    ("wasi:random/insecure-seed", |l| {
        random::insecure_seed::add_to_linker::<Ctx, WasiRandom>(l, Ctx::random)
    }),
    ("wasi:cli/exit", |l| {
        cli::exit::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/environment", |l| {
        cli::environment::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/stdin", |l| {
        cli::stdin::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/stdout", |l| {
        cli::stdout::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/stderr", |l| {
        cli::stderr::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/terminal-input", |l| {
        cli::terminal_input::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/terminal-output", |l| {
        cli::terminal_output::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/terminal-stdin", |l| {
        cli::terminal_stdin::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/terminal-stdout", |l| {
        cli::terminal_stdout::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:cli/terminal-stderr", |l| {
        cli::terminal_stderr::add_to_linker::<Ctx, WasiCli>(l, Ctx::cli)
    }),
    ("wasi:sockets/tcp-create-socket", |l| {
        sockets::tcp_create_socket::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    ("wasi:sockets/instance-network", |l| {
        sockets::instance_network::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    ("wasi:sockets/network", |l| {
        sockets::network::add_to_linker::<Ctx, WasiSockets>(l, &Default::default(), Ctx::sockets)
    }),
    ("wasi:sockets/ip-name-lookup", |l| {
        sockets::ip_name_lookup::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    ("wasi:io/error", |l| {
        sync::io::error::add_to_linker::<Ctx, HasTable>(l, table)
    }),
    ("wasi:io/poll", |l| {
        sync::io::poll::add_to_linker::<Ctx, HasTable>(l, table)
    }),
    ("wasi:io/streams", |l| {
        sync::io::streams::add_to_linker::<Ctx, HasTable>(l, table)
    }),
    ("wasi:filesystem/types", |l| {
        sync::filesystem::types::add_to_linker::<Ctx, WasiFilesystem>(l, Ctx::filesystem)
    }),
    ("wasi:sockets/tcp", |l| {
        sync::sockets::tcp::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    ("wasi:sockets/udp", |l| {
        sync::sockets::udp::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    ("wasi:sockets/udp-create-socket", |l| {
        sync::sockets::udp_create_socket::add_to_linker::<Ctx, WasiSockets>(l, Ctx::sockets)
    }),
    // Hook::add_to_linker: the `hook` world's imports (the `event-hook`
    // world's are the same).
    ("nethook:hooks/types", |l| {
        ours::types::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/log", |l| {
        ours::log::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/state", |l| {
        ours::state::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/netlink", |l| {
        ours::netlink::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/host-fs", |l| {
        ours::host_fs::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/systemd", |l| {
        ours::systemd::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/network-manager", |l| {
        ours::network_manager::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/udev", |l| {
        ours::udev::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/time", |l| {
        ours::time::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/undo", |l| {
        ours::undo::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
    ("nethook:hooks/l3", |l| {
        ours::l3::add_to_linker::<Ctx, HasSelf<Ctx>>(l, |c| c)
    }),
];

/// A linker that holds the interfaces the components linked so far import.
pub struct Lazy {
    linker: Linker<Ctx>,
    added: HashSet<&'static str>,
}

impl Lazy {
    pub fn new(engine: &Engine) -> Lazy {
        Lazy {
            linker: Linker::new(engine),
            added: HashSet::new(),
        }
    }

    /// `component`'s imports resolved: the interfaces it imports that we
    /// provide are added first (once each).
    pub fn instantiate_pre(
        &mut self,
        engine: &Engine,
        component: &Component,
    ) -> wasmtime::Result<InstancePre<Ctx>> {
        for (name, _) in component.component_type().imports(engine) {
            let unversioned = name.split_once('@').map_or(name, |(n, _)| n);
            if let Some((known, add)) = INTERFACES.iter().find(|(n, _)| *n == unversioned) {
                if !self.added.contains(known) {
                    add(&mut self.linker)?;
                    self.added.insert(known);
                }
            }
        }
        self.linker.instantiate_pre(component)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each entry defines only what the full set-up defines: on top of an
    /// entry, `add_to_linker_sync` and `Hook::add_to_linker` fail, each
    /// name being defined twice. (That the table has all of them, 27 WASI
    /// interfaces and our 11, the guest suites show: a Python component
    /// imports most of WASI.)
    #[test]
    fn each_interface_is_the_full_linkers() {
        let engine = Engine::default();
        let mut seen = HashSet::new();
        for (name, add) in INTERFACES {
            assert!(seen.insert(*name), "{name} twice");
            let mut l = Linker::<Ctx>::new(&engine);
            add(&mut l).unwrap();
            let full = wasmtime_wasi::p2::add_to_linker_sync(&mut l).and_then(|()| {
                crate::bindings::Hook::add_to_linker::<_, HasSelf<Ctx>>(&mut l, |c| c)
            });
            // Types alone define nothing that could be defined twice.
            if *name != "nethook:hooks/types" {
                assert!(full.is_err(), "{name} is not one of the full linker's");
            }
        }
        assert_eq!(INTERFACES.len(), 27 + 11);
    }
}
