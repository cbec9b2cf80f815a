//! The WIT contract rendered as a reference for hook authors: every
//! interface and function with its doc comment, its signature, the grant
//! it needs and how it fails. Generated from `wit/` (the copy built into
//! this binary), so docs/wit-reference.md cannot drift: a test compares it
//! with this output, and `nethook wit-reference` regenerates it.

use std::fmt::Write;
use std::path::Path;

use wit_parser::{Function, Resolve, Type, TypeDefKind, TypeId};

/// The grant a function needs, in config terms; none for a function
/// nethook has not documented yet (the test refuses that).
pub fn grant(interface: &str, function: &str) -> Option<&'static str> {
    let g = match (interface, function) {
        ("log", _) => "none (lines beyond the hook's log budget are dropped)",
        ("state", _) => "none: the hook's own keys, kept under its name",
        ("time", _) => "none; counted against the hook's deadline",
        ("undo", _) => "none: only this hook's own journaled changes, each checked against the grants it was made under",
        ("netlink", "list-links" | "get-link" | "list-addresses" | "list-routes" | "list-rules") => "`netlink = \"read\"` (or `\"write\"`)",
        ("netlink", "add-route" | "del-route" | "add-rule" | "del-rule") => "`netlink = \"write\"`, the link in `links` (routes through a link), the table in `tables`",
        ("netlink", "move-to-netns") => "`netlink = \"write\"`, the link in `links`, the namespace in `netns` (or `netns_by_pid = true`)",
        ("netlink", _) => "`netlink = \"write\"` and the link in `links`",
        ("host-fs", "write" | "remove") => "the path in `write_paths`",
        ("host-fs", _) => "the path in `read_paths` (or `write_paths`)",
        ("systemd", "daemon-reload") => "`daemon_reload = true`",
        ("systemd", _) => "the unit in `units`",
        ("network-manager", "reload") => "`nm_reload = true`",
        ("network-manager", "device-connection") => "the link in `links`",
        ("network-manager", _) => "the connection id in `connections`",
        ("udev", "properties") => "the link in `links`",
        ("udev", _) => "`udev = true`",
        ("l3", "to-json" | "from-json") => "none (no node access)",
        ("l3", "capture" | "list-neighbours") => "`netlink = \"read\"`; another namespace: `netns` (or `netns_by_pid`)",
        ("l3", "sysctl-get" | "sysctl-set") => "the dotted key in `sysctls` (`net.ipv4.conf.<link>.<name>` or `net.ipv6.conf.<link>.<name>` only)",
        ("l3", "apply") => "`netlink = \"write\"`, the link in `links`, every route's and rule's table in `tables`, each setting in `sysctls`; another namespace: `netns`",
        ("l3", _) => "`netlink = \"write\"` and the link in `links`; another namespace: `netns` (or `netns_by_pid`)",
        _ => return None,
    };
    Some(g)
}

const ERRORS: &str = "`denied` (a grant is missing; nothing was done), `invalid` (a malformed argument; nothing was done), `not-found`, `failed` (attempted and failed; a change is journaled only once made)";

/// The embedded contract, resolved.
fn resolve() -> Result<(Resolve, wit_parser::PackageId), String> {
    let mut map = wit_parser::SourceMap::default();
    for (file, text) in crate::scaffold::WIT {
        map.push(Path::new(file), text);
    }
    let group = map.parse().map_err(|(_, e)| e.to_string())?;
    let mut resolve = Resolve::default();
    let id = resolve.push_group(group).map_err(|e| e.to_string())?;
    Ok((resolve, id))
}

fn ty(r: &Resolve, t: &Type) -> String {
    match t {
        Type::Id(id) => type_id(r, *id),
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn type_id(r: &Resolve, id: TypeId) -> String {
    let def = &r.types[id];
    if let Some(name) = &def.name {
        return name.clone();
    }
    match &def.kind {
        TypeDefKind::List(t) => format!("list<{}>", ty(r, t)),
        TypeDefKind::Option(t) => format!("option<{}>", ty(r, t)),
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types
                .iter()
                .map(|t| ty(r, t))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        TypeDefKind::Result(res) => format!(
            "result<{}, {}>",
            res.ok.as_ref().map_or("_".into(), |t| ty(r, t)),
            res.err.as_ref().map_or("_".into(), |t| ty(r, t))
        ),
        TypeDefKind::Type(t) => ty(r, t),
        _ => "?".into(),
    }
}

fn signature(r: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, ty(r, &p.ty)))
        .collect();
    let result = f
        .result
        .as_ref()
        .map_or(String::new(), |t| format!(" -> {}", ty(r, t)));
    format!("{}: func({}){result}", f.name, params.join(", "))
}

fn docs(text: &Option<String>) -> String {
    text.as_deref().unwrap_or("").trim().to_string()
}

/// The reference, as Markdown; an error names a function without a
/// documented grant.
pub fn reference() -> Result<String, String> {
    let (r, id) = resolve()?;
    let pkg = &r.packages[id];
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# WIT reference: `{}`\n\nGenerated from `wit/` by `nethook wit-reference` (do not edit: a test compares this file with its output).\nEvery capability call that can fail returns `result<_, error>`; `error` is one of {ERRORS}.\nA failure the hook does not handle becomes a hook error with `?` (Rust SDK): the point fails and what the hook changed is rolled back.\n",
        pkg.name
    );
    let version = pkg
        .name
        .version
        .as_ref()
        .map_or(String::new(), |v| format!("@{v}"));
    let _ = writeln!(
        out,
        "## Names in each language\n\n\
| | Rust (`nethook-sdk`) | Python (componentize-py) | JavaScript (componentize-js) |\n\
|---|---|---|---|\n\
| a function, e.g. `netlink.list-links` | `nethook_sdk::netlink::list_links()` | `from wit_world.imports import netlink`; `netlink.list_links()` | `import {{ listLinks }} from 'nethook:hooks/netlink{version}'`; `listLinks()` |\n\
| a capability error | `Err(Error::Denied(m))` (`?` makes it a hook error) | raises `Err(Error_Denied(m))` | throws; `e.payload` is `{{ tag: 'denied', val: m }}` |\n\
| failing the hook | `return Err(HookError::Failed(m))` | `raise Err(HookError_Failed(m))` | `throw {{ tag: 'failed', val: m }}` |\n\
| the entry point | `impl Hook`, `export_hook!` | `class Guest(exports.Guest)`, `def run(self, ctx)` | `export const guest = {{ run(ctx) {{ ... }} }}` |\n\n\
`nethook new NAME --lang rust|python|js` makes a project with all of this in place, and (Python, JavaScript) the shim that turns an uncaught error into a hook error.\n"
    );
    let _ = writeln!(out, "## Worlds\n");
    for (name, wid) in &pkg.worlds {
        let w = &r.worlds[*wid];
        let _ = writeln!(
            out,
            "- `{name}`: {}",
            docs(&w.docs.contents).replace('\n', " ")
        );
    }
    let _ = writeln!(out);
    let mut missing = Vec::new();
    for (name, iid) in &pkg.interfaces {
        let iface = &r.interfaces[*iid];
        let _ = writeln!(out, "## `{name}`\n\n{}\n", docs(&iface.docs.contents));
        let exported = matches!(name.as_str(), "guest" | "event-guest");
        for (fname, f) in &iface.functions {
            let _ = writeln!(
                out,
                "### `{name}.{fname}`\n\n```wit\n{}\n```\n",
                signature(&r, f)
            );
            let d = docs(&f.docs.contents);
            if !d.is_empty() {
                let _ = writeln!(out, "{d}\n");
            }
            if exported {
                let _ = writeln!(out, "- Exported by the hook; nethook calls it.\n");
                continue;
            }
            match grant(name, fname) {
                Some(g) => {
                    let _ = writeln!(out, "- Grant: {g}.");
                }
                None => missing.push(format!("{name}.{fname}")),
            }
            let fails = f
                .result
                .as_ref()
                .is_some_and(|t| ty(&r, t).starts_with("result<"));
            let _ = writeln!(
                out,
                "- Errors: {}.\n",
                if fails {
                    "see `error` above"
                } else {
                    "none (it cannot fail)"
                }
            );
        }
        if iface.functions.is_empty() {
            let types: Vec<&str> = iface.types.keys().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "Types: {}.\n",
                types
                    .iter()
                    .map(|t| format!("`{t}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    match missing.is_empty() {
        true => Ok(out),
        false => Err(format!(
            "functions with no documented grant in witdoc::grant: {}",
            missing.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_reference_is_what_wit_generates() {
        let generated = super::reference().unwrap();
        let committed = include_str!("../../docs/wit-reference.md");
        assert!(
            generated == committed,
            "docs/wit-reference.md is stale: run `cargo run -p nethook -- wit-reference > docs/wit-reference.md`"
        );
    }
}
