//! Test guest: makes the capability calls its config lists and logs the
//! outcome of each, so tests can drive every import through the real stack.
//!
//! Config: keys sorted by name (`c01`, `c02`, ...), each `op|arg|arg...`,
//! e.g. `systemd.restart|NetworkManager.service`.
use nethook_sdk::{
    host_fs, info, netlink, network_manager, systemd, time, udev, Context, Error, Hook, HookError,
};

struct CapCaller;

fn show(r: Result<String, Error>) -> String {
    match r {
        Ok(v) => format!("ok {v}"),
        Err(Error::Denied(m)) => format!("denied: {m}"),
        Err(Error::Invalid(m)) => format!("invalid: {m}"),
        Err(Error::NotFound(m)) => format!("not found: {m}"),
        Err(Error::Failed(m)) => format!("failed: {m}"),
    }
}

fn ok<T: std::fmt::Debug>(r: Result<T, Error>) -> Result<String, Error> {
    r.map(|v| format!("{v:?}"))
}

fn call(op: &str, a: &[&str]) -> Result<String, Error> {
    let arg = |i: usize| a.get(i).copied().unwrap_or("");
    let num = |i: usize| arg(i).parse::<u32>().unwrap_or(0);
    match op {
        "systemd.start" => ok(systemd::start(arg(0))),
        "systemd.stop" => ok(systemd::stop(arg(0))),
        "systemd.restart" => ok(systemd::restart(arg(0))),
        "systemd.reload" => ok(systemd::reload(arg(0))),
        "systemd.is-active" => ok(systemd::is_active(arg(0))),
        "systemd.daemon-reload" => ok(systemd::daemon_reload()),
        "systemd.wait-active" => ok(systemd::wait_active(arg(0), num(1))),
        "nm.modify" => ok(network_manager::connection_modify(
            arg(0),
            &[(arg(1).to_string(), arg(2).to_string())],
        )),
        "nm.up" => ok(network_manager::connection_up(arg(0))),
        "nm.down" => ok(network_manager::connection_down(arg(0))),
        "nm.reload" => ok(network_manager::reload()),
        "nm.get" => ok(network_manager::get_setting(arg(0), arg(1))),
        "nm.device" => ok(network_manager::device_connection(arg(0))),
        "udev.properties" => ok(udev::properties(arg(0))),
        "udev.reload" => ok(udev::reload_rules()),
        "udev.trigger" => ok(udev::trigger(arg(0), arg(1))),
        "udev.settle" => ok(udev::settle(num(0))),
        "fs.read" => host_fs::read(arg(0)).map(|b| String::from_utf8_lossy(&b).into_owned()),
        "fs.write" => ok(host_fs::write(arg(0), arg(1).as_bytes(), None)),
        "fs.remove" => ok(host_fs::remove(arg(0))),
        "fs.exists" => ok(host_fs::exists(arg(0))),
        "fs.list" => ok(host_fs::list_dir(arg(0))),
        "netlink.links" => netlink::list_links().map(|l| l.len().to_string()),
        "netlink.up" => ok(netlink::set_up(arg(0))),
        "netlink.mtu" => ok(netlink::set_mtu(arg(0), num(1))),
        "time.sleep" => {
            time::sleep(num(0));
            Ok(String::new())
        }
        other => Err(Error::Invalid(format!("capcaller does not know {other}"))),
    }
}

impl Hook for CapCaller {
    fn run(ctx: Context) -> Result<(), HookError> {
        for (_, spec) in &ctx.config {
            let mut parts = spec.split('|');
            let op = parts.next().unwrap_or("");
            let args: Vec<&str> = parts.collect();
            info!("call"; "op" => op, "outcome" => show(call(op, &args)));
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(CapCaller);
