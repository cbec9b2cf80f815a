//! Every parser of untrusted input, fed mutated inputs for a bounded time:
//! the config (TOML), the dataplane's CALICOVPP_INTERFACES, journal and
//! state files, udev database entries, OCI manifests and references. A
//! parser may refuse an input, never panic and never hang: each input is
//! parsed on the test's thread with unwinding caught, and the slowest is
//! reported. Seconds per target: NETHOOK_FUZZ_SECS (default 3). Each
//! target prints how many inputs it tried.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per target, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of `input`: bit flips, byte and token insertions,
/// deletions, duplications, splices with another seed, truncation.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>], tokens: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(8) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => out.insert(at, rng.next() as u8),
            2 => {
                let t = tokens[rng.below(tokens.len())];
                out.splice(at..at, t.iter().copied());
            }
            3 if !out.is_empty() => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at.min(end)..end);
            }
            4 if !out.is_empty() => {
                let start = rng.below(out.len());
                let end = (start + rng.below(64)).min(out.len());
                let piece: Vec<u8> = out[start..end].to_vec();
                out.splice(at..at, piece);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                out.truncate(at);
                out.extend_from_slice(&other[cut..]);
            }
            6 => out.truncate(at),
            _ => {
                // A run of one byte: deep nesting, long names.
                let b = tokens[rng.below(tokens.len())]
                    .first()
                    .copied()
                    .unwrap_or(b'a');
                out.splice(at..at, std::iter::repeat_n(b, rng.below(512)));
            }
        }
    }
    out.truncate(1 << 20);
    out
}

/// Feed `parse` mutated inputs for the time budget; panics fail the test.
fn fuzz(name: &str, seed: u64, seeds: &[&[u8]], tokens: &[&[u8]], parse: impl Fn(&[u8])) {
    let secs: u64 = std::env::var("NETHOOK_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| s.to_vec()).collect();
    let mut rng = Rng(seed);
    let (started, mut tried, mut slowest) = (Instant::now(), 0u64, Duration::ZERO);
    // Quiet: a panic is reported once, with its input, below.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failure = None;
    while started.elapsed() < Duration::from_secs(secs) {
        let base = &seeds[rng.below(seeds.len())];
        let input = if tried < seeds.len() as u64 {
            seeds[tried as usize].clone()
        } else {
            mutate(&mut rng, base, &seeds, tokens)
        };
        let t = Instant::now();
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| parse(&input)));
        slowest = slowest.max(t.elapsed());
        tried += 1;
        if let Err(p) = r {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failure = Some((input, why));
            break;
        }
    }
    std::panic::set_hook(hook);
    println!(
        "fuzz {name}: {tried} inputs in {:.1} s, slowest {:.1} ms",
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64() * 1e3
    );
    if let Some((input, why)) = failure {
        panic!(
            "{name}: the parser panicked ({why}) on {:?}",
            String::from_utf8_lossy(&input)
        );
    }
    assert!(tried >= 100, "{name}: only {tried} inputs in {secs} s");
    assert!(
        slowest < Duration::from_secs(2),
        "{name}: one input took {slowest:?}"
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_config_parser() {
    let example = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/nethook.toml"
    ))
    .unwrap();
    let deploy = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/calico-vpp/nethook.toml"
    ))
    .unwrap();
    let small = b"[points.vpp-running]\nhandler = \"wasm\"\nhook = \"h\"\n[hooks.h]\ncomponent = \"h.wasm\"\ntimeout = \"5s\"\nmemory = \"64MiB\"\n[hooks.h.grants]\nlinks = [\"ens*\"]\ntables = [254]\n[[points.vpp-done-ok.handlers]]\nhandler = \"builtin\"\n";
    fuzz(
        "config",
        1,
        &[&example, &deploy, small],
        &[
            b"[",
            b"]",
            b"[[",
            b"=",
            b"\"",
            b"'",
            b"\n",
            b"{",
            b"}",
            b",",
            b".",
            b"hooks",
            b"points",
            b"handler",
            b"grants",
            b"oci://",
            b"@sha256:",
            b"timeout = \"",
            b"9999999999999999999",
            b"-1",
            b"1e308",
            b"\\u0000",
        ],
        |b| {
            let _ = nethook::config::Config::parse(Path::new("fuzz.toml"), &text(b));
        },
    );
}

#[test]
fn the_dataplane_interfaces_variable() {
    fuzz(
        "CALICOVPP_INTERFACES",
        2,
        &[
            br#"{"uplinkInterfaces":[{"interfaceName":"ens3","vppDriver":"af_packet"},{"interfaceName":"ens4"}]}"#,
            br#"{"maxPodIfSpec":{"rx":1},"defaultPodIfSpec":{},"uplinkInterfaces":null}"#,
        ],
        &[b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"interfaceName", b"\\u0000", b"/"],
        |b| {
            let json = text(b);
            let _ = nethook::dataplane::Environment::from_vars(|k| {
                (k == "CALICOVPP_INTERFACES").then(|| json.clone())
            });
        },
    );
}

#[test]
fn the_journal_parser() {
    let good = concat!(
        r#"{"record":"begin","point":"vpp-running","hook":"eks","boot_id":"b","pid":7,"time":"2026-12-03T00:00:00Z"}"#,
        "\n",
        r#"{"record":"change","seq":1,"hook":"eks","change":{"change":"unit-restart","unit":"x.service"},"inverse":{"inverse":"changes","changes":[{"change":"unit-restart","unit":"x.service"}]}}"#,
        "\n",
        r#"{"record":"done","seq":1,"outcome":"ok"}"#,
        "\n",
        r#"{"record":"change","seq":2,"hook":"eks","change":{"change":"state-set","key":"k","value":"v"},"inverse":{"inverse":"nothing"}}"#,
        "\n",
        r#"{"record":"commit"}"#,
        "\n"
    );
    fuzz(
        "journal",
        3,
        &[good.as_bytes()],
        &[
            b"{",
            b"}",
            b"\n",
            b"\"record\":\"",
            b"begin",
            b"commit",
            b"rolled-back",
            b"\xff",
            b"\"seq\":4294967296",
        ],
        |b| {
            let _ = nethook::caps::journal::TxnLog::parse(Path::new("fuzz.jsonl"), b);
        },
    );
}

#[test]
fn the_state_file_parser() {
    fuzz(
        "state",
        4,
        &[b"{\n  \"version\": 1,\n  \"hooks\": {\n    \"builtin\": {\n      \"uplinks\": \"[\\\"ens3\\\"]\"\n    }\n  }\n}\n"],
        &[b"{", b"}", b"\"", b":", b",", b"\\\\", b"\\u", b"[", b"]"],
        |b| {
            let _ = serde_json::from_slice::<nethook::caps::state::StateFile>(b);
        },
    );
}

#[test]
fn the_udev_database_parser() {
    fuzz(
        "udev database",
        5,
        &[b"I:1234\nE:ID_NET_NAME_SLOT=ens3\nE:ID_NET_NAME_PATH=enp0s3\nE:ID_NET_DRIVER=virtio_net\nG:systemd\nQ:systemd\nV:1\n"],
        &[b"E:", b"=", b"\n", b"\r", b"\xff", b"ID_NET_NAME_"],
        |b| {
            let _ = nethook::caps::udev::parse_db(&text(b));
        },
    );
}

#[test]
fn oci_manifests_and_references() {
    let reference = nethook::oci::OciRef::parse(&format!(
        "oci://reg.example:5000/vendor/hook@sha256:{}",
        "a".repeat(64)
    ))
    .unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:{}","size":2}},"layers":[{{"mediaType":"application/wasm","digest":"sha256:{}","size":1234}}]}}"#,
        "1".repeat(64),
        "2".repeat(64)
    );
    fuzz(
        "OCI manifest",
        6,
        &[manifest.as_bytes()],
        &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b"layers",
            b"mediaType",
            b"size",
            b"-1",
            b"18446744073709551616",
        ],
        |b| {
            let _ = nethook::oci::wasm_layer(&reference, "sha256:0", b);
        },
    );
    fuzz(
        "OCI reference",
        7,
        &[
            format!(
                "oci://reg.example:5000/vendor/hook@sha256:{}",
                "a".repeat(64)
            )
            .as_bytes(),
            b"oci://127.0.0.1:5000/a/b/c:v1.2",
            b"oci://[::1]:5000/x:y",
        ],
        &[
            b"oci://", b"/", b":", b"@", b"sha256:", b"[", b"]", b"..", b"%", b"\0",
        ],
        |b| {
            let _ = nethook::oci::OciRef::parse(&text(b));
        },
    );
}
