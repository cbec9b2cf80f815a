//! The Calico VPP overlay (deploy/calico-vpp) as the tools that consume it
//! see it: rendered by `kubectl kustomize` on a stand-in for the user's
//! calico-vpp.yaml (tests/deploy/calico-vpp.yaml), every rendered object
//! validated offline against the Kubernetes schemas by kubernetes-validate
//! (pinned in scripts/requirements.txt), and what the rendered objects say
//! asserted field by field.
//!
//! The overlay is rendered from a temporary copy of deploy/calico-vpp plus
//! the stand-in, so the repository's tree is never changed. kubectl,
//! kubernetes-validate and python3 (with the PyYAML kubernetes-validate
//! brings, to read the rendered YAML) are installed by scripts/setup.sh: a
//! missing one fails the test, it is never skipped.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Kubernetes version whose schemas the objects are validated against
/// (kubectl on these machines is 1.32 too).
const KUBERNETES: &str = "1.32.0";
const KUBERNETES_SHORT: &str = "1.32";

const POINTS: [&str; 5] = [
    "BEFORE_IF_READ",
    "BEFORE_VPP_RUN",
    "VPP_RUNNING",
    "VPP_DONE_OK",
    "VPP_ERRORED",
];
/// The README's value, the one tests/dataplane.rs drives nethook with.
const HOOK_VALUE: &str = r#"exec nethook hook "$0" "$1""#;
/// What the `images:` stanza of kustomization.yaml makes of
/// docker.io/calicovpp/vpp, whatever its tag.
const NETHOOK_IMAGE: &str = "registry.example.internal/calicovpp/vpp:latest-nethook";
const NAMESPACE: &str = "calico-vpp-dataplane";

// ---------------------------------------------------------------------
// The mounts: what the overlay mounts in which container, in one place.
// When deploy/calico-vpp/daemonset.yaml changes which container mounts
// which directory (and how), change these tables; every assertion about
// nethook's mounts and volumes reads them.
// ---------------------------------------------------------------------

const RO: bool = true;
const RW: bool = false;

/// A nethook volume a container mounts: (volume, mountPath, read-only).
type Mount = (&'static str, &'static str, bool);

/// Per container of calico-vpp-node: each nethook volume it mounts, where,
/// and whether read-only, in the rendered order.
const NETHOOK_MOUNTS: &[(&str, &[Mount])] = &[
    (
        "nethook-pull",
        &[
            ("nethook-config", "/etc/nethook", RO),
            ("nethook-blobs", "/var/cache/nethook", RW),
        ],
    ),
    (
        "nethook-check",
        &[
            ("nethook-config", "/etc/nethook", RO),
            ("nethook-blobs", "/var/cache/nethook", RO),
            ("nethook-compiled", "/var/lib/nethook-compiled", RW),
            ("nethook-state", "/var/lib/nethook", RW),
            ("nethook-host-root", "/host", RW),
        ],
    ),
    (
        "vpp",
        &[
            ("nethook-config", "/etc/nethook", RO),
            ("nethook-state", "/var/lib/nethook", RW),
            ("nethook-blobs", "/var/cache/nethook", RO),
            ("nethook-compiled", "/var/lib/nethook-compiled", RW),
        ],
    ),
    (
        "nethook-watch",
        &[
            ("nethook-config", "/etc/nethook", RO),
            ("nethook-state", "/var/lib/nethook", RW),
            ("nethook-blobs", "/var/cache/nethook", RO),
            ("nethook-compiled", "/var/lib/nethook-compiled", RW),
            ("nethook-host-root", "/host", RW),
        ],
    ),
    // The dataplane's agent gets none of nethook's.
    ("agent", &[]),
];

/// The volumes the overlay adds, as rendered (`nethook-config` names the
/// generated ConfigMap, whose name carries a content hash: checked apart).
fn nethook_host_path_volumes() -> Vec<Value> {
    vec![
        json!({"name": "nethook-host-root", "hostPath": {"path": "/"}}),
        json!({"name": "nethook-state",
               "hostPath": {"path": "/var/lib/nethook", "type": "DirectoryOrCreate"}}),
        json!({"name": "nethook-blobs",
               "hostPath": {"path": "/var/cache/nethook", "type": "DirectoryOrCreate"}}),
        json!({"name": "nethook-compiled",
               "hostPath": {"path": "/var/lib/nethook-compiled", "type": "DirectoryOrCreate"}}),
    ]
}

// ---------------------------------------------------------------------

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A command's output; a command that cannot be started fails the test,
/// naming it (scripts/setup.sh installs every one of them).
fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (scripts/setup.sh installs it): {e}"))
}

/// A temporary copy of deploy/calico-vpp with the stand-in manifest as the
/// user's calico-vpp.yaml (or without it).
fn overlay_copy(with_manifest: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let shipped = repo().join("deploy/calico-vpp");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    if with_manifest {
        std::fs::copy(
            repo().join("tests/deploy/calico-vpp.yaml"),
            dir.path().join("calico-vpp.yaml"),
        )
        .unwrap();
    }
    dir
}

/// `kubectl kustomize` of the overlay on the stand-in: the rendered YAML.
fn render() -> String {
    let dir = overlay_copy(true);
    let out = output(Command::new("kubectl").arg("kustomize").arg(dir.path()));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "kubectl kustomize: {}\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The objects of a YAML stream, read by PyYAML (the parser
/// kubernetes-validate reads them with).
fn objects(yaml: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("objects.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = output(Command::new("python3").arg("-c").arg(
        "import json, sys, yaml\n\
         json.dump([o for o in yaml.safe_load_all(open(sys.argv[1])) if o is not None], sys.stdout)",
    ).arg(&file));
    assert!(out.status.success(), "reading YAML: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// kubernetes-validate --strict on FILE (named relative to its directory,
/// so the messages are the same every run): (exit code, stdout lines).
fn validate(dir: &Path, file: &str, yaml: &str) -> (i32, Vec<String>, String) {
    std::fs::write(dir.join(file), yaml).unwrap();
    let out = output(
        Command::new("kubernetes-validate")
            .args(["--strict", "-k", KUBERNETES, file])
            .current_dir(dir),
    );
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout).lines().map(str::to_string).collect(),
        text(&out.stderr),
    )
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered objects"))
}

fn generated_config_name(objects: &[Value]) -> String {
    let names: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("nethook-config-"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let hash = &names[0]["nethook-config-".len()..];
    assert!(
        hash.len() == 10 && hash.bytes().all(|b| b.is_ascii_alphanumeric()),
        "configMapGenerator's name: {}",
        names[0]
    );
    names[0].to_string()
}

fn pod_spec(objects: &[Value]) -> &Value {
    &find(objects, "DaemonSet", "calico-vpp-node")["spec"]["template"]["spec"]
}

/// Every container of the pod, init containers first: (name, object).
fn containers(spec: &Value) -> Vec<(&str, &Value)> {
    let mut all = vec![];
    for list in ["initContainers", "containers"] {
        for c in spec[list].as_array().unwrap() {
            all.push((c["name"].as_str().unwrap(), c));
        }
    }
    all
}

fn container<'a>(spec: &'a Value, name: &str) -> &'a Value {
    containers(spec)
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no container {name}"))
        .1
}

#[test]
fn the_overlay_renders_on_the_calico_vpp_manifest() {
    let objects = objects(&render());
    let config_name = generated_config_name(&objects);

    // Exactly the stand-in's objects plus nethook's generated ConfigMap,
    // all in the dataplane's namespace.
    let listed: Vec<(String, String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap().to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect();
    let ns = NAMESPACE.to_string();
    let own = |k: &str, n: &str, s: &str| (k.to_string(), n.to_string(), s.to_string());
    assert_eq!(
        listed,
        [
            own("Namespace", NAMESPACE, ""),
            own("ServiceAccount", "calico-vpp-node-sa", &ns),
            own("ConfigMap", "calico-vpp-config", &ns),
            own("ConfigMap", &config_name, &ns),
            own("DaemonSet", "calico-vpp-node", &ns),
        ]
    );

    // The dataplane's ConfigMap gains the five hook variables, with the
    // README's value, and keeps what it had.
    let data = &find(&objects, "ConfigMap", "calico-vpp-config")["data"];
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    let mut want: Vec<String> = POINTS
        .iter()
        .map(|p| format!("CALICOVPP_HOOK_{p}"))
        .collect();
    want.extend(["CALICOVPP_INTERFACES".into(), "SERVICE_PREFIX".into()]);
    want.sort();
    assert_eq!(keys, want);
    for p in POINTS {
        assert_eq!(data[format!("CALICOVPP_HOOK_{p}")], HOOK_VALUE, "{p}");
    }
    assert_eq!(data["SERVICE_PREFIX"], "10.96.0.0/12");

    // nethook's config is the shipped file, byte for byte.
    let shipped = std::fs::read_to_string(repo().join("deploy/calico-vpp/nethook.toml")).unwrap();
    let generated = find(&objects, "ConfigMap", &config_name);
    assert_eq!(
        generated["data"].as_object().unwrap().len(),
        1,
        "{generated}"
    );
    assert_eq!(generated["data"]["nethook.toml"], shipped.as_str());

    let spec = pod_spec(&objects);
    let names: Vec<&str> = containers(spec).iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "nethook-pull",
            "nethook-check",
            "vpp",
            "nethook-watch",
            "agent"
        ]
    );
    // The dataplane's containers keep what they had: host network and pid,
    // the vpp container reads the hook variables from the ConfigMap.
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["hostPID"], true);
    assert_eq!(spec["terminationGracePeriodSeconds"], 45);
    let vpp = container(spec, "vpp");
    assert_eq!(
        vpp["envFrom"],
        json!([{"configMapRef": {"name": "calico-vpp-config"}}])
    );
    assert_eq!(vpp["securityContext"], json!({"privileged": true}));

    // Every container of nethook's image runs the image deploy/Containerfile
    // built, named by the `images:` stanza; the agent's is not touched.
    for (name, c) in containers(spec) {
        let want = if name == "agent" {
            "docker.io/calicovpp/agent:v3.30.0"
        } else {
            NETHOOK_IMAGE
        };
        assert_eq!(c["image"], want, "{name}");
    }
    for (name, cmd) in [
        ("nethook-pull", "pull"),
        ("nethook-check", "check"),
        ("nethook-watch", "watch"),
    ] {
        assert_eq!(
            container(spec, name)["command"],
            json!([
                "/usr/local/bin/nethook",
                cmd,
                "--config",
                "/etc/nethook/nethook.toml"
            ]),
            "{name}"
        );
    }
    for name in ["nethook-check", "nethook-watch"] {
        assert_eq!(
            container(spec, name)["securityContext"],
            json!({"privileged": true}),
            "{name}"
        );
    }

    // The mounts, as the table at the top says.
    assert_eq!(containers(spec).len(), NETHOOK_MOUNTS.len());
    for (name, want) in NETHOOK_MOUNTS {
        let mounts = container(spec, name)["volumeMounts"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let nethook: Vec<(String, String, bool)> = mounts
            .iter()
            .filter(|m| m["name"].as_str().unwrap().starts_with("nethook-"))
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["mountPath"].as_str().unwrap().to_string(),
                    m["readOnly"].as_bool().unwrap_or(false),
                )
            })
            .collect();
        let want: Vec<(String, String, bool)> = want
            .iter()
            .map(|(v, p, ro)| (v.to_string(), p.to_string(), *ro))
            .collect();
        assert_eq!(nethook, want, "nethook's mounts in {name}");
    }
    // The stand-in's own mounts of vpp are all still there.
    let vpp_paths: Vec<&str> = vpp["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["name"].as_str().unwrap().starts_with("nethook-"))
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    assert_eq!(vpp_paths, ["/var/run/vpp", "/dev", "/host"]);

    // The volumes those mounts name: the stand-in's, then nethook's.
    let volumes = spec["volumes"].as_array().unwrap();
    let mut want = vec![
        json!({"name": "vpp-rundir", "hostPath": {"path": "/var/run/vpp"}}),
        json!({"name": "devices", "hostPath": {"path": "/dev"}}),
        json!({"name": "host-root", "hostPath": {"path": "/"}}),
    ];
    want.extend(nethook_host_path_volumes());
    want.push(json!({"name": "nethook-config", "configMap": {"name": config_name}}));
    let mut got = volumes.clone();
    let by_name = |v: &Value| v["name"].as_str().unwrap().to_string();
    got.sort_by_key(by_name);
    want.sort_by_key(by_name);
    assert_eq!(got, want);
    // Every volume a container mounts exists.
    for (name, c) in containers(spec) {
        for m in c["volumeMounts"].as_array().cloned().unwrap_or_default() {
            assert!(
                volumes.iter().any(|v| v["name"] == m["name"]),
                "{name} mounts {} which is no volume",
                m["name"]
            );
        }
    }
}

#[test]
fn kubernetes_validate_accepts_every_rendered_object() {
    let yaml = render();
    let objects = objects(&yaml);
    let dir = tempfile::tempdir().unwrap();
    let (code, lines, stderr) = validate(dir.path(), "rendered.yaml", &yaml);
    // An object whose kind the schemas lack is only a warning (exit 0), and
    // an empty document passes silently: so each object must be named as
    // passed, and nothing else said.
    let want: Vec<String> = objects
        .iter()
        .map(|o| {
            format!(
                "INFO rendered.yaml passed for resource {}/{} against version {KUBERNETES_SHORT}",
                o["kind"].as_str().unwrap().to_lowercase(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!((code, &lines, stderr.as_str()), (0, &want, ""));
    assert_eq!(lines.len(), 5);
}

/// The validator really runs: a copy with an unknown field, or a field of
/// the wrong type, is rejected with its exact error.
#[test]
fn kubernetes_validate_rejects_a_broken_copy() {
    let objects = objects(&render());
    let dir = tempfile::tempdir().unwrap();
    let daemonset = objects
        .iter()
        .position(|o| o["kind"] == "DaemonSet")
        .unwrap();
    let yaml = |objects: &[Value]| {
        objects
            .iter()
            .map(|o| format!("---\n{}\n", serde_json::to_string_pretty(o).unwrap()))
            .collect::<String>()
    };
    // The unbroken copy, written the same way, passes.
    let (code, _, stderr) = validate(dir.path(), "copy.yaml", &yaml(&objects));
    assert_eq!(code, 0, "{stderr}");

    let vpp = pod_spec(&objects)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["name"] == "vpp")
        .unwrap();
    let mut broken = objects.clone();
    broken[daemonset]["spec"]["template"]["spec"]["containers"][vpp]["imagePullPolicyy"] =
        json!("Always");
    let (code, lines, _) = validate(dir.path(), "unknown-field.yaml", &yaml(&broken));
    assert_eq!(code, 1);
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "ERROR unknown-field.yaml did not validate for resource daemonset/calico-vpp-node \
             against version {KUBERNETES_SHORT}: spec.template.spec.containers.{vpp}: \
             Additional properties are not allowed ('imagePullPolicyy' was unexpected)"
        )
    );
    // The other objects still pass; only the DaemonSet is named in error.
    assert_eq!(lines.iter().filter(|l| l.starts_with("ERROR")).count(), 1);
    assert_eq!(lines.iter().filter(|l| l.starts_with("INFO")).count(), 4);

    let mut broken = objects.clone();
    broken[daemonset]["spec"]["template"]["spec"]["initContainers"][0]["volumeMounts"][0]
        ["readOnly"] = json!("yes");
    let (code, lines, _) = validate(dir.path(), "wrong-type.yaml", &yaml(&broken));
    assert_eq!(code, 1);
    assert_eq!(
        lines.last().unwrap(),
        &format!(
            "ERROR wrong-type.yaml did not validate for resource daemonset/calico-vpp-node \
             against version {KUBERNETES_SHORT}: spec.template.spec.initContainers.0.volumeMounts.0.readOnly: \
             'yes' is not of type 'boolean', 'null'"
        )
    );
}

/// What an operator sees who applies the overlay before copying the
/// dataplane's manifest in: kustomize names the missing file.
#[test]
fn the_overlay_without_the_dataplanes_manifest_names_it() {
    let dir = overlay_copy(false);
    let out = output(Command::new("kubectl").arg("kustomize").arg(dir.path()));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    let missing = dir.path().join("calico-vpp.yaml");
    assert!(
        stderr.contains("accumulating resources from 'calico-vpp.yaml'")
            && stderr.contains(&format!(
                "lstat {}: no such file or directory",
                missing.display()
            )),
        "{stderr}"
    );
}
