//! A stand-in for Calico VPP's vpp-manager, run inside the test bed's VM
//! nodes (tests/vm.rs, whose binary it is part of). It plays the dataplane's part of a lifecycle the way
//! vpp-manager does with its `af_packet` uplink driver
//! (vpp-manager/vpp_runner.go, uplink/af_packet.go, config/config.go):
//!
//! 1. BEFORE_IF_READ; read the uplink's Linux config (MAC, MTU, up, promisc,
//!    addresses and main-table routes, link-local left out);
//! 2. promisc on (the driver's PreconfigureLinux); BEFORE_VPP_RUN;
//! 3. start "VPP" (`vpp` below) in a network namespace of its own, move the
//!    uplink into it (which flushes its addresses), create a tap in the root
//!    namespace with the uplink's name, MAC and MTU, bring it up and put the
//!    captured addresses and routes on it (EEXIST tolerated); VPP_RUNNING;
//! 4. VPP runs, forwarding frames between the uplink and the tap;
//! 5. VPP stops (SIGTERM) or crashes (SIGKILL): its tap dies with it and its
//!    namespace with it, which gives the uplink back to the root namespace;
//!    the config is restored (link up, promisc, MTU, addresses, routes);
//!    then VPP_DONE_OK, which is what vpp-manager runs after any exit of a
//!    VPP that came up. `--end fail` plays a VPP whose setup fails after
//!    the uplink was moved: restore, then VPP_ERRORED.
//!
//! Hooks are run as vpp-manager runs them: `/bin/bash -c VALUE POINT
//! UPLINK0`, VALUE from `CALICOVPP_HOOK_<POINT>` after templating, the
//! whole environment inherited, no timeout, failure only reported.
//!
//! Why a namespace move and not a driver unbind: with af_packet (the
//! driver Calico VPP uses when it cannot take a NIC over with DPDK or
//! virtio) the uplink leaves the root namespace exactly like this, and the
//! kernel driver stays, so this process can forward frames with AF_PACKET
//! as VPP's af_packet input does. An unbound virtio NIC would need a
//! userspace virtio driver to carry any traffic at all.

mod linux;
mod manager;
mod vpp;

/// `vm standin run|vpp ...`: the test binary, copied into the VM, is the
/// stand-in too, so it is always built with the suite.
pub fn main(args: &[String]) -> ! {
    let result = match args.first().map(String::as_str) {
        Some("run") => manager::run(&args[1..]),
        Some("vpp") => vpp::run(&args[1..]),
        _ => Err(anyhow::anyhow!(
            "usage: vm standin run --uplink IF --label L --end stop|kill|fail \
             [--hold SECS] [--measure CMD]"
        )),
    };
    if let Err(e) = result {
        eprintln!("nethook stand-in dataplane: {e:#}");
        std::process::exit(1);
    }
    std::process::exit(0)
}

/// `--key value` from an argument list.
fn arg<'a>(args: &'a [String], key: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == key)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}
