//! Hooks from an OCI registry: pushed with `nethook push`, pulled by digest
//! or pinned tag, cached for running offline, refused when tampered with,
//! mistyped or not signed by the configured key. Every test runs its own
//! Debian `docker-registry` on 127.0.0.1.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use sha2::{Digest, Sha256};

const EXIT_SOURCE: i32 = 10;
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A registry process with its storage in a temporary directory; killed
/// when dropped.
struct Registry {
    child: Option<Child>,
    port: u16,
    storage: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        Registry::start_with("", 200)
    }

    /// A registry with `extra` config; up when `/v2/` answers `status`.
    fn start_with(extra: &str, status: u16) -> Registry {
        let port = free_port();
        let registry = Registry::spawn_with(Command::new(REGISTRY_BIN), "127.0.0.1", port, extra);
        let started = Instant::now();
        while http(port, "GET", "/v2/", &[], b"").map(|r| r.0) != Some(status) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not answer on 127.0.0.1:{port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// A registry on `ip`:5000 inside `netns`.
    fn start_in(netns: &Netns, ip: &str) -> Registry {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &netns.name, REGISTRY_BIN]);
        let registry = Registry::spawn(cmd, ip, 5000);
        let started = Instant::now();
        let probe = format!("exec 3<>/dev/tcp/{ip}/5000");
        while !Command::new("ip")
            .args(["netns", "exec", &netns.name, "bash", "-c", &probe])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "docker-registry did not answer on {ip}:5000"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    fn spawn(cmd: Command, ip: &str, port: u16) -> Registry {
        Registry::spawn_with(cmd, ip, port, "")
    }

    /// `extra`: more of the registry's YAML config, at top level.
    fn spawn_with(mut cmd: Command, ip: &str, port: u16, extra: &str) -> Registry {
        let storage = tempfile::Builder::new()
            .prefix("nethook-registry.")
            .tempdir()
            .unwrap();
        let config = storage.path().join("config.yml");
        let extra = extra.replace("STORAGE", &storage.path().display().to_string());
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ip}:{port}\n{extra}",
                storage.path().join("data").display()
            ),
        )
        .unwrap();
        let child = cmd
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{REGISTRY_BIN}: {e} (apt-get install docker-registry)"));
        Registry {
            child: Some(child),
            port,
            storage,
        }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The file the registry serves blob `sha256:<hex>` from.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`: the status, the headers and
/// the body; none if nothing answers.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let split = out.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head, out[split + 4..].to_vec()))
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Upload a blob: start an upload, then put its bytes.
fn put_blob(port: u16, repo: &str, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let (status, head, _) = http(
        port,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(status, 202, "{head}");
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .unwrap()
        .trim();
    let path = location
        .strip_prefix(&format!("http://127.0.0.1:{port}"))
        .unwrap_or(location);
    let (status, head, _) = http(
        port,
        "PUT",
        &format!("{path}&digest={digest}"),
        &[("Content-Type", "application/octet-stream")],
        bytes,
    )
    .unwrap();
    assert_eq!(status, 201, "{head}");
    digest
}

fn put_manifest(port: u16, repo: &str, reference: &str, manifest: &[u8]) {
    let (status, head, body) = http(
        port,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", OCI_MANIFEST)],
        manifest,
    )
    .unwrap();
    assert_eq!(status, 201, "{head}\n{}", String::from_utf8_lossy(&body));
}

fn get_manifest(port: u16, repo: &str, reference: &str) -> Vec<u8> {
    let (status, head, body) = http(
        port,
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", OCI_MANIFEST)],
        b"",
    )
    .unwrap();
    assert_eq!(status, 200, "{head}");
    body
}

/// The test hook: logs "built against 0.1.0" with its name, needs no grant.
fn hook_wasm() -> PathBuf {
    guest("v010")
}

/// The same component with a custom section appended: another digest,
/// still a valid component.
fn other_wasm(scratch: &Scratch) -> PathBuf {
    let mut bytes = std::fs::read(hook_wasm()).unwrap();
    let name = b"nethook-test";
    let payload = b"another build";
    bytes.push(0);
    bytes.push((1 + name.len() + payload.len()) as u8);
    bytes.push(name.len() as u8);
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    let path = scratch.path("other.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `nethook push`, which must succeed; the pinned reference it printed.
fn push(wasm: &Path, reference: &str) -> String {
    let mut cmd = nethook();
    cmd.arg("push").arg(wasm).arg(reference);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let printed = r.stdout.trim().to_string();
    let (repo, digest) = printed.split_once('@').expect("a pinned reference");
    assert_eq!(repo, reference.rsplit_once(':').unwrap().0, "{r:?}");
    assert_eq!(digest.len(), "sha256:".len() + 64, "{r:?}");
    printed
}

/// A config whose vpp-running hook "vendor" comes from `component`.
fn config(scratch: &Scratch, component: &str, extra: &str) -> PathBuf {
    scratch.config(&format!(
        "[points.vpp-running]\nhandler = \"wasm\"\nhook = \"vendor\"\n[hooks.vendor]\ncomponent = {component:?}\n{extra}\n"
    ))
}

fn run_point(config: &Path) -> Run {
    let mut cmd = nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(config);
    run(cmd)
}

fn pull(config: &Path) -> Run {
    let mut cmd = nethook();
    cmd.args(["pull", "--config"]).arg(config);
    run(cmd)
}

fn assert_ran(r: &Run) {
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert!(
        r.stderr.contains("built against 0.1.0 hook=vendor"),
        "the hook did not run: {r:?}"
    );
}

/// Refused with exit code SOURCE, the message naming the hook, and nothing run.
fn assert_refused(r: &Run, scratch: &Scratch, want: &str) {
    assert_eq!(r.code, EXIT_SOURCE, "{r:?}");
    let first = r
        .stderr
        .lines()
        .find(|l| l.starts_with("nethook: error:"))
        .unwrap_or_default();
    assert!(
        first.starts_with("nethook: error: hook \"vendor\": oci://") && first.contains(want),
        "want {want:?} in {r:?}"
    );
    assert!(!r.stderr.contains("built against"), "the hook ran: {r:?}");
    assert!(
        !scratch.path("state").exists(),
        "a refused hook touched state"
    );
}

fn wasm_sha256() -> String {
    hex::encode(Sha256::digest(std::fs::read(hook_wasm()).unwrap()))
}

#[test]
fn a_pushed_hook_runs_by_digest_and_by_pinned_tag() {
    let registry = Registry::start();
    let tag_ref = format!("oci://{}/vendor/v010:1.0", registry.addr());
    let pinned = push(&hook_wasm(), &tag_ref);
    // Nothing time-dependent in the artifact: the same bytes, the same digest.
    assert_eq!(push(&hook_wasm(), &tag_ref), pinned);

    let scratch = Scratch::new();
    let by_digest = config(&scratch, &pinned, "");
    assert_ran(&run_point(&by_digest));
    let cached = scratch.path(&format!("cache/oci/blobs/sha256/{}", wasm_sha256()));
    assert_eq!(
        std::fs::read(&cached).unwrap(),
        std::fs::read(hook_wasm()).unwrap()
    );

    let scratch = Scratch::new();
    let by_tag = config(&scratch, &tag_ref, &format!("sha256 = {:?}", wasm_sha256()));
    let p = pull(&by_tag);
    assert_eq!(p.code, EXIT_OK, "{p:?}");
    assert_eq!(
        p.stdout,
        format!(
            "vendor {pinned} wasm sha256:{} signature: not required\n",
            wasm_sha256()
        )
    );
    assert_ran(&run_point(&by_tag));
}

#[test]
fn a_pin_that_does_not_match_is_refused() {
    let registry = Registry::start();
    let tag_ref = format!("oci://{}/vendor/v010:1.0", registry.addr());
    push(&hook_wasm(), &tag_ref);
    let scratch = Scratch::new();
    let wrong = "ab".repeat(32);
    let config = config(&scratch, &tag_ref, &format!("sha256 = {wrong:?}"));
    let r = run_point(&config);
    assert_refused(
        &r,
        &scratch,
        &format!(
            ": the component is sha256:{} but sha256 pins sha256:{wrong}; refusing it",
            wasm_sha256()
        ),
    );
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_runs() {
    let registry = Registry::start();
    let pinned = push(
        &hook_wasm(),
        &format!("oci://{}/vendor/v010:1.0", registry.addr()),
    );
    let blob = format!("sha256:{}", wasm_sha256());
    let data = registry.blob_file(&blob);
    let mut bytes = std::fs::read(&data).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&data, &bytes).unwrap();

    let scratch = Scratch::new();
    let config = config(&scratch, &pinned, "");
    let r = run_point(&config);
    assert_refused(
        &r,
        &scratch,
        &format!(
            "{pinned}: blob {blob} was tampered with: its content hashes to {}; refusing it",
            sha256(&bytes)
        ),
    );
    assert!(
        !scratch.path("cache/oci/blobs").exists(),
        "a tampered blob was cached"
    );
}

#[test]
fn a_wrong_digest_is_refused() {
    let registry = Registry::start();
    let pinned = push(
        &hook_wasm(),
        &format!("oci://{}/vendor/v010:1.0", registry.addr()),
    );
    let wrong = format!(
        "{}@sha256:{}",
        pinned.split_once('@').unwrap().0,
        "0".repeat(64)
    );
    let scratch = Scratch::new();
    let r = run_point(&config(&scratch, &wrong, ""));
    assert_refused(
        &r,
        &scratch,
        &format!("{wrong}: no such manifest in the registry (manifest unknown)"),
    );
}

#[test]
fn a_layer_of_another_media_type_is_refused_naming_it() {
    let registry = Registry::start();
    let repo = "vendor/octets";
    let wasm = std::fs::read(hook_wasm()).unwrap();
    let layer = put_blob(registry.port, repo, &wasm);
    let config_blob = b"{}";
    let config_digest = put_blob(registry.port, repo, config_blob);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": layer, "size": wasm.len()}],
    }))
    .unwrap();
    put_manifest(registry.port, repo, "1.0", &manifest);
    let digest = sha256(&manifest);
    let reference = format!("oci://{}/{repo}@{digest}", registry.addr());

    let scratch = Scratch::new();
    let r = run_point(&config(&scratch, &reference, ""));
    assert_refused(
        &r,
        &scratch,
        &format!("{reference}: the layer of manifest {digest} has media type \"application/octet-stream\"; a hook's must be one of application/wasm, application/vnd.wasm.content.layer.v1+wasm, application/vnd.module.wasm.content.layer.v1+wasm"),
    );
}

#[test]
fn a_registry_gone_after_the_first_pull_changes_nothing() {
    let mut registry = Registry::start();
    let tag_ref = format!("oci://{}/vendor/v010:1.0", registry.addr());
    let pinned = push(&hook_wasm(), &tag_ref);
    let scratch = Scratch::new();
    let by_tag = config(&scratch, &tag_ref, &format!("sha256 = {:?}", wasm_sha256()));
    let p = pull(&by_tag);
    assert_eq!(p.code, EXIT_OK, "{p:?}");
    assert!(!p.stdout.contains("[cached]"), "{p:?}");

    registry.stop();
    // Anything connecting to the registry's address now lands here.
    let listener = TcpListener::bind(("127.0.0.1", registry.port)).unwrap();
    listener.set_nonblocking(true).unwrap();

    assert_ran(&run_point(&by_tag));
    let p = pull(&by_tag);
    assert_eq!(p.code, EXIT_OK, "{p:?}");
    assert_eq!(
        p.stdout,
        format!(
            "vendor {pinned} wasm sha256:{} signature: not required [cached]\n",
            wasm_sha256()
        )
    );
    // The digest reference resolves to the same cached manifest.
    let by_digest = Scratch::new();
    std::fs::create_dir_all(by_digest.path("cache")).unwrap();
    std::process::Command::new("cp")
        .arg("-a")
        .arg(scratch.path("cache/oci"))
        .arg(by_digest.path("cache/oci"))
        .status()
        .unwrap();
    assert_ran(&run_point(&config(&by_digest, &pinned, "")));
    assert!(
        listener
            .accept()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "nethook connected to the registry although everything was cached"
    );
}

#[test]
fn a_registry_down_before_any_pull_is_a_clear_error() {
    let port = free_port();
    let reference = format!(
        "oci://127.0.0.1:{port}/vendor/v010@sha256:{}",
        "1".repeat(64)
    );
    let scratch = Scratch::new();
    let config = config(&scratch, &reference, "");
    let r = run_point(&config);
    assert_refused(
        &r,
        &scratch,
        &format!("{reference}: cannot reach registry 127.0.0.1:{port}: "),
    );
    assert!(r.stderr.contains("; nothing is cached for it"), "{r:?}");
    let p = pull(&config);
    assert_eq!(p.code, EXIT_SOURCE, "{p:?}");
    assert!(p.stdout.is_empty(), "{p:?}");
}

#[test]
fn a_point_that_runs_no_registry_hook_needs_no_registry() {
    let port = free_port();
    let reference = format!(
        "oci://127.0.0.1:{port}/vendor/v010@sha256:{}",
        "1".repeat(64)
    );
    let scratch = Scratch::new();
    let config = config(
        &scratch,
        &reference,
        "[points.vpp-done-ok]\nhandler = \"none\"\n",
    );
    let mut cmd = nethook();
    cmd.args(["run", "vpp-done-ok", "--config"]).arg(&config);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    assert_eq!(run_point(&config).code, EXIT_SOURCE);
}

/// `nethook generate-key-pair` in `dir`; the public key's sha256 (hex).
fn key_pair(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let mut cmd = nethook();
    cmd.args(["generate-key-pair", "--dir"])
        .arg(dir)
        .env("COSIGN_PASSWORD", "s3cret");
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let private = std::fs::read_to_string(dir.join("cosign.key")).unwrap();
    assert!(
        private.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{private}"
    );
    let public = std::fs::read(dir.join("cosign.pub")).unwrap();
    assert!(public.starts_with(b"-----BEGIN PUBLIC KEY-----"));
    hex::encode(Sha256::digest(public))
}

fn sign(reference: &str, key: &Path) -> Run {
    let mut cmd = nethook();
    cmd.args(["sign", reference, "--key"])
        .arg(key)
        .env("COSIGN_PASSWORD", "s3cret");
    run(cmd)
}

#[test]
fn signatures_are_verified_with_the_configured_key() {
    let registry = Registry::start();
    let keys = Scratch::new();
    let ours = key_pair(&keys.path("ours"));
    key_pair(&keys.path("theirs"));
    let signed = push(
        &hook_wasm(),
        &format!("oci://{}/vendor/v010:1.0", registry.addr()),
    );
    let unsigned = push(
        &other_wasm(&keys),
        &format!("oci://{}/vendor/v010:2.0", registry.addr()),
    );
    let s = sign(&signed, &keys.path("ours/cosign.key"));
    assert_eq!(s.code, EXIT_OK, "{s:?}");
    let signed_hex = signed.rsplit_once("sha256:").unwrap().1;
    assert_eq!(
        s.stdout.trim(),
        format!("{}/vendor/v010:sha256-{signed_hex}.sig", registry.addr())
    );
    let verify = |key: &str| format!("[hooks.vendor.verify]\nkey = {:?}", keys.path(key));

    // Signed with our key: verified, and it runs.
    let scratch = Scratch::new();
    let ok = config(&scratch, &signed, &verify("ours/cosign.pub"));
    let p = pull(&ok);
    assert_eq!(p.code, EXIT_OK, "{p:?}");
    assert_eq!(
        p.stdout,
        format!(
            "vendor {signed} wasm sha256:{} signature: verified (key sha256:{ours})\n",
            wasm_sha256()
        )
    );
    assert_ran(&run_point(&ok));
    // The fleet view names where it came from and what was verified.
    let mut cmd = nethook();
    cmd.args(["check", "--json", "--config"]).arg(&ok);
    let c = run(cmd);
    assert_eq!(c.code, EXIT_OK, "{c:?}");
    let doc: serde_json::Value = serde_json::from_str(&c.stdout).unwrap();
    let component = &doc["points"][2]["chain"][0]["component"];
    assert_eq!(
        component,
        &serde_json::json!({
            "source": signed,
            "sha256": wasm_sha256(),
            "pinned": true,
            "targets": "nethook:hooks@0.1.0",
            "manifest": format!("sha256:{signed_hex}"),
            "signature": format!("verified (key sha256:{ours})"),
        }),
        "{c:?}"
    );

    // Not signed at all: refused before the component is downloaded.
    let scratch = Scratch::new();
    let unsigned_hex = unsigned.rsplit_once("sha256:").unwrap().1;
    let r = run_point(&config(&scratch, &unsigned, &verify("ours/cosign.pub")));
    assert_refused(
        &r,
        &scratch,
        &format!("{unsigned}: no cosign signature found for manifest sha256:{unsigned_hex} (looked for tag sha256-{unsigned_hex}.sig)"),
    );
    assert!(!scratch.path("cache/oci/blobs").exists(), "{r:?}");

    // Signed, but by another key than the one configured.
    let scratch = Scratch::new();
    let r = run_point(&config(&scratch, &signed, &verify("theirs/cosign.pub")));
    assert_refused(
        &r,
        &scratch,
        &format!(
            "{signed}: manifest sha256:{signed_hex} is not signed by key {} (sha256:",
            keys.path("theirs/cosign.pub").display()
        ),
    );
    assert!(
        r.stderr
            .contains("): its signature was made by another key"),
        "{r:?}"
    );

    // A signature of another manifest, copied to this one's tag.
    let sig = get_manifest(
        registry.port,
        "vendor/v010",
        &format!("sha256-{signed_hex}.sig"),
    );
    put_manifest(
        registry.port,
        "vendor/v010",
        &format!("sha256-{unsigned_hex}.sig"),
        &sig,
    );
    let scratch = Scratch::new();
    let r = run_point(&config(&scratch, &unsigned, &verify("ours/cosign.pub")));
    assert_refused(
        &r,
        &scratch,
        &format!("{unsigned}: the signature found for manifest sha256:{unsigned_hex} signs sha256:{signed_hex}, another manifest; refusing it"),
    );
}

#[test]
fn push_refuses_what_is_not_a_component() {
    let registry = Registry::start();
    let scratch = Scratch::new();
    let core = scratch.path("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let mut cmd = nethook();
    cmd.arg("push")
        .arg(&core)
        .arg(format!("oci://{}/vendor/core:1", registry.addr()));
    let r = run(cmd);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "nethook: error: {}: is a core WebAssembly module, not a component; wrap it with `nethook componentize`; nothing was pushed",
            core.display()
        )),
        "{r:?}"
    );
    let (status, _, _) = http(registry.port, "GET", "/v2/vendor/core/tags/list", &[], b"").unwrap();
    assert_eq!(status, 404, "something was pushed");
}

#[test]
fn a_remote_registry_is_reached_over_https_unless_listed_insecure() {
    // A non-loopback address of our own, in a namespace of our own.
    let netns = Netns::new();
    netns.exec(&["ip", "addr", "add", "10.99.0.1/32", "dev", "lo"]);
    let _registry = Registry::start_in(&netns, "10.99.0.1");
    let tag_ref = "oci://10.99.0.1:5000/vendor/v010:1.0";
    let not_https = "registry 10.99.0.1:5000 did not answer over HTTPS (";
    let listed =
        "plain HTTP is used only for loopback registries and those listed in [registries] insecure";

    let mut cmd = netns.nethook();
    cmd.arg("push").arg(hook_wasm()).arg(tag_ref);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("nethook: error: {tag_ref}: {not_https}"))
            && r.stderr.contains(listed),
        "{r:?}"
    );

    let scratch = Scratch::new();
    let insecure = scratch.write(
        "insecure.toml",
        "[registries]\ninsecure = [\"10.99.0.1:5000\"]\n",
    );
    let mut cmd = netns.nethook();
    cmd.arg("push")
        .arg(hook_wasm())
        .arg(tag_ref)
        .arg("--config")
        .arg(&insecure);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let pinned = r.stdout.trim().to_string();

    let plain = config(&scratch, &pinned, "");
    let mut cmd = netns.nethook();
    cmd.args(["run", "vpp-running", "--config"]).arg(&plain);
    let r = run(cmd);
    assert_refused(&r, &scratch, &format!("{pinned}: {not_https}"));

    let listed_config = config(
        &scratch,
        &pinned,
        "[registries]\ninsecure = [\"10.99.0.1:5000\"]",
    );
    let mut cmd = netns.nethook();
    cmd.args(["run", "vpp-running", "--config"])
        .arg(&listed_config);
    assert_ran(&run(cmd));
}

/// htpasswd of user `vendor`, password `pa55` (bcrypt, cost 4).
const HTPASSWD: &str = "vendor:$2b$04$dqZMzdJIxUs8S8Ur.6ArFO0MgBNOoHpYltbiWqz0vnfHTYrsQU2Qu\n";

#[test]
fn credentials_come_from_registries_auth() {
    let scratch = Scratch::new();
    let htpasswd = scratch.write("htpasswd", HTPASSWD);
    let registry = Registry::start_with(
        &format!(
            "auth:\n  htpasswd:\n    realm: nethook-test\n    path: {}\n",
            htpasswd.display()
        ),
        401,
    );
    let tag_ref = format!("oci://{}/vendor/v010:1.0", registry.addr());
    let want = format!(
        "registry {}: not authorized; give credentials for {} in [registries] auth (",
        registry.addr(),
        registry.addr()
    );

    let mut cmd = nethook();
    cmd.arg("push").arg(hook_wasm()).arg(&tag_ref);
    let r = run(cmd);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(&want), "{r:?}");
    assert!(r.stderr.contains("none is set)"), "{r:?}");

    // base64("vendor:pa55")
    scratch.write(
        "auth.json",
        &format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"dmVuZG9yOnBhNTU=\"}}}}}}",
            registry.addr()
        ),
    );
    let registries = "[registries]\nauth = \"auth.json\"\n";
    let settings = scratch.write("registries.toml", registries);
    let mut cmd = nethook();
    cmd.arg("push")
        .arg(hook_wasm())
        .arg(&tag_ref)
        .arg("--config")
        .arg(&settings);
    let r = run(cmd);
    assert_eq!(r.code, EXIT_OK, "{r:?}");
    let pinned = r.stdout.trim().to_string();

    // Signing and verifying go through the same credentials.
    let keys = Scratch::new();
    key_pair(keys.dir.path());
    let mut cmd = nethook();
    cmd.args(["sign", &pinned, "--key"])
        .arg(keys.path("cosign.key"))
        .arg("--config")
        .arg(&settings)
        .env("COSIGN_PASSWORD", "s3cret");
    let s = run(cmd);
    assert_eq!(s.code, EXIT_OK, "{s:?}");
    let verified = config(
        &scratch,
        &pinned,
        &format!(
            "[hooks.vendor.verify]\nkey = {:?}\n{registries}",
            keys.path("cosign.pub")
        ),
    );
    assert_ran(&run_point(&verified));

    let anonymous = Scratch::new();
    let r = run_point(&config(&anonymous, &pinned, ""));
    assert_refused(&r, &anonymous, &format!("{pinned}: {want}"));
}
