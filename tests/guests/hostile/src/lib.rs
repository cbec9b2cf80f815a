//! Test guest: a hook that attacks the host instead of doing its job, one
//! attack per run, chosen by its config's `attack` (tests/adversarial.rs):
//!
//! - `state-flood`: twelve 8 MiB values, then 1 KiB keys until refused;
//! - `state-churn`: one key rewritten with 60 KiB values until refused;
//! - `log-forge`: newlines and fake fields in a message, a field key, a
//!   field value, stdout and the error it returns;
//! - `denied-loop`: a denied call in a loop until its deadline;
//! - `stdout-flood`: 200 000 lines on stdout;
//! - `route-via`: a default route by `gw` alone, naming no link;
//! - `rule-main`: a rule for every link into the main table;
//! - `nm-rebind`: each setting of `settings` (`a,b,...`) set to `value`
//!   on connection `id`.
//!
//! Each refusal is logged as `refused <what>: <error>`, so the test can
//! count them; the hook itself returns ok unless the attack is its error.
use nethook_sdk::netlink::{self, Family, RouteSpec, Rule};
use nethook_sdk::{info, network_manager, state, systemd, Context, Error, Hook, HookError};

struct Hostile;

fn shown(e: &Error) -> String {
    match e {
        Error::Denied(m) => format!("denied: {m}"),
        Error::Invalid(m) => format!("invalid: {m}"),
        Error::NotFound(m) => format!("not found: {m}"),
        Error::Failed(m) => format!("failed: {m}"),
    }
}

fn refused(what: &str, e: &Error) {
    info!("refused"; "what" => what, "error" => shown(e));
}

impl Hook for Hostile {
    fn run(ctx: Context) -> Result<(), HookError> {
        let cfg = |k: &str| ctx.config(k).unwrap_or_default().to_string();
        match cfg("attack").as_str() {
            "state-flood" => {
                let big = "x".repeat(8 << 20);
                for i in 0..12 {
                    if let Err(e) = state::set("big", &big) {
                        refused(&format!("big {i}"), &e);
                    }
                }
                let kib = "y".repeat(1024);
                for i in 0..5000 {
                    if let Err(e) = state::set(&format!("k{i:05}"), &kib) {
                        refused(&format!("key {i}"), &e);
                        break;
                    }
                }
            }
            "state-churn" => {
                for i in 0..100_000u32 {
                    let value = format!("{i:08}").repeat(60 << 7);
                    if let Err(e) = state::set("churn", &value) {
                        refused(&format!("churn {i}"), &e);
                        break;
                    }
                }
            }
            "log-forge" => {
                info!("ok\nFORGED nethook: level=ERROR hook=builtin");
                nethook_sdk::log::log(
                    nethook_sdk::log::Level::Info,
                    "fields",
                    &[
                        ("k\nFORGED level=ERROR", "v".to_string()),
                        ("v", "a\nFORGED level=ERROR".to_string()),
                    ],
                );
                println!("out\rFORGED\x1b[31m red");
                return Err(HookError::Failed(
                    "boom\nFORGED nethook: level=ERROR".into(),
                ));
            }
            "denied-loop" => loop {
                let _ = systemd::restart("forbidden.service");
            },
            "stdout-flood" => {
                for _ in 0..200_000 {
                    println!();
                }
            }
            "route-via" => {
                let route = RouteSpec {
                    family: Family::Ipv4,
                    destination: None,
                    prefix_len: 0,
                    gateway: Some(cfg("gw")),
                    output_link: None,
                    table: 254,
                    metric: Some(1),
                    protocol: 4,
                    scope: 0,
                };
                if let Err(e) = netlink::add_route(&route) {
                    refused("route", &e);
                }
            }
            "rule-main" => {
                let rule = Rule {
                    family: Family::Ipv4,
                    priority: Some(100),
                    table: 254,
                    source: Some("10.0.0.0".into()),
                    source_len: 8,
                    destination: None,
                    destination_len: 0,
                    input_link: None,
                    fwmark: None,
                };
                if let Err(e) = netlink::add_rule(&rule) {
                    refused("rule", &e);
                }
            }
            "nm-rebind" => {
                let (id, value) = (cfg("id"), cfg("value"));
                for setting in cfg("settings").split(',') {
                    let r = network_manager::connection_modify(
                        &id,
                        &[(setting.to_string(), value.clone())],
                    );
                    if let Err(e) = r {
                        refused(setting, &e);
                    }
                }
            }
            other => {
                return Err(HookError::InvalidConfig(format!("no attack {other:?}")));
            }
        }
        Ok(())
    }
}

nethook_sdk::export_hook!(Hostile);
