//! `nethook new`: a hook project a vendor can build outside this
//! repository. The WIT contract and (for Rust) the SDK's sources are copied
//! in, so the project builds with nothing of ours but the `nethook` binary.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::names::HookName;

/// The languages a project can be made in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// The contract, as this nethook provides it.
pub const WIT: [(&str, &str); 12] = [
    ("hook.wit", include_str!("../../../wit/hook.wit")),
    ("host-fs.wit", include_str!("../../../wit/host-fs.wit")),
    ("l3.wit", include_str!("../../../wit/l3.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("netlink.wit", include_str!("../../../wit/netlink.wit")),
    (
        "network-manager.wit",
        include_str!("../../../wit/network-manager.wit"),
    ),
    ("state.wit", include_str!("../../../wit/state.wit")),
    ("systemd.wit", include_str!("../../../wit/systemd.wit")),
    ("time.wit", include_str!("../../../wit/time.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("udev.wit", include_str!("../../../wit/udev.wit")),
    ("undo.wit", include_str!("../../../wit/undo.wit")),
];

const SDK: [(&str, &str); 4] = [
    ("Cargo.toml", include_str!("../../../sdk/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../sdk/src/lib.rs")),
    (
        "src/context.rs",
        include_str!("../../../sdk/src/context.rs"),
    ),
    ("src/log.rs", include_str!("../../../sdk/src/log.rs")),
];

/// Versions the SDK's dependencies were tested with (the guests' lock
/// file); cargo keeps the entries the project uses.
const LOCK: &str = include_str!("../../../guest-hooks/Cargo.lock");

const RUST_LIB: &str = include_str!("rust/lib.rs");
const RUST_CARGO: &str = include_str!("rust/Cargo.toml");
const RUST_BUILD: &str = include_str!("rust/build.sh");
const RUST_README: &str = include_str!("rust/README.md");
const CONFIG: &str = include_str!("nethook.toml");
const PY_APP: &str = include_str!("python/app.py");
const PY_SHIM: &str = include_str!("python/nethook_shim.py");
const PY_BUILD: &str = include_str!("python/build.sh");
const PY_README: &str = include_str!("python/README.md");
const JS_HOOK: &str = include_str!("js/hook.js");
const JS_SHIM: &str = include_str!("js/nethook-shim.js");
const JS_PACKAGE: &str = include_str!("js/package.json");
const JS_BUILD: &str = include_str!("js/build.sh");
const JS_README: &str = include_str!("js/README.md");

/// Make `dir/<name>`; refuses an existing directory. Returns the project dir.
pub fn new(dir: &Path, name: &str, lang: Lang) -> Result<PathBuf> {
    let name = HookName::parse(name)
        .map_err(|e| Error::Setting(format!("nethook new {name:?}: {}", e.0)))?;
    let name: &str = name.as_ref();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(Error::Setting(format!(
            "nethook new {name:?}: a project name starts with a letter (it is also the crate's name)"
        )));
    }
    let project = dir.join(name);
    if project.exists() {
        return Err(Error::Setting(format!(
            "nethook new: {} exists already; choose another name or directory",
            project.display()
        )));
    }
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &name.replace('-', "_"))
    };
    let mut files: Vec<(String, String)> = Vec::new();
    for (f, text) in WIT {
        files.push((format!("wit/{f}"), text.to_string()));
    }
    match lang {
        Lang::Rust => {
            for (f, text) in SDK {
                files.push((format!("nethook-sdk/{f}"), text.to_string()));
            }
            files.push(("Cargo.toml".into(), fill(RUST_CARGO)));
            files.push(("Cargo.lock".into(), LOCK.to_string()));
            files.push(("src/lib.rs".into(), fill(RUST_LIB)));
            files.push(("build.sh".into(), fill(RUST_BUILD)));
            files.push(("README.md".into(), fill(RUST_README)));
            files.push((".gitignore".into(), format!("/target\n/{name}.wasm\n")));
        }
        Lang::Python => {
            files.push(("app.py".into(), fill(PY_APP)));
            files.push(("nethook_shim.py".into(), PY_SHIM.to_string()));
            files.push(("build.sh".into(), fill(PY_BUILD)));
            files.push(("README.md".into(), fill(PY_README)));
            files.push((
                ".gitignore".into(),
                format!("/{name}.wasm\n/wit_world/\n__pycache__/\n"),
            ));
        }
        Lang::Js => {
            files.push(("hook.js".into(), fill(JS_HOOK)));
            files.push(("nethook-shim.js".into(), JS_SHIM.to_string()));
            files.push(("package.json".into(), fill(JS_PACKAGE)));
            files.push(("build.sh".into(), fill(JS_BUILD)));
            files.push(("README.md".into(), fill(JS_README)));
            files.push((
                ".gitignore".into(),
                format!("/{name}.wasm\n/node_modules/\n"),
            ));
        }
    }
    files.push(("nethook.toml".into(), fill(CONFIG)));
    // Written into a sibling first and renamed: never half a project.
    let staging = dir.join(format!(".{name}.new-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        for (rel, text) in &files {
            let p = staging.join(rel);
            std::fs::create_dir_all(p.parent().expect("a file has a parent"))?;
            std::fs::write(&p, text)?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            staging.join("build.sh"),
            std::fs::Permissions::from_mode(0o755),
        )?;
        std::fs::rename(&staging, &project)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_dir_all(&staging);
        Error::Other(format!("nethook new: writing {}: {e}", project.display()))
    })?;
    Ok(project)
}
