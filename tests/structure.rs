//! The host crate's modules depend on each other one way: no import cycle.
//!
//! Each file under host/src is a module (`a/mod.rs` is `a`, `a/b.rs` is
//! `a::b`). A `crate::x::y::z` path in it is an edge to the deepest module
//! among `x`, `x::y`, `x::y::z`; a module's own submodules and its parents
//! (`super::`) are its inside, not edges. Unit tests (`mod tests`) are left
//! out. Any strongly connected set of two or more modules fails the test,
//! named with the edges that close it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `a::b` for src/a/b.rs and src/a/b/mod.rs; none for the crate roots.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    match parts.as_slice() {
        [one] if one == "lib" || one == "main" => None,
        // The binary's own modules use the library by its name.
        [first, ..] if first == "commands" => None,
        _ => Some(parts.join("::")),
    }
}

/// Every `crate::...` path in `text`, with `crate::a::{b, c::d}` expanded.
fn crate_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("crate::") {
        let start = i + at + "crate::".len();
        // Not `some_crate::`.
        let before = text[..i + at].chars().next_back();
        i = start;
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_' || bytes[end] == b':')
        {
            end += 1;
        }
        let path = text[start..end].trim_end_matches(':').to_string();
        if end < bytes.len() && bytes[end] == b'{' {
            let close = text[end..].find('}').map_or(bytes.len(), |c| end + c);
            for item in text[end + 1..close].split(',') {
                let item = item.split_whitespace().next().unwrap_or("");
                if !item.is_empty() && item != "self" {
                    out.push(format!("{path}::{item}"));
                }
            }
            out.push(path);
        } else {
            out.push(path);
        }
    }
    out
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeMap<String, PathBuf> = all
        .into_iter()
        .filter_map(|f| module_of(&src, &f).map(|m| (m, f)))
        .collect();
    let deepest = |path: &str| -> Option<String> {
        let segs: Vec<&str> = path.split("::").collect();
        (1..=segs.len())
            .rev()
            .map(|n| segs[..n].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut g = Graph::new();
    for (m, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let edges = g.entry(m.clone()).or_default();
        for path in crate_paths(code) {
            let Some(to) = deepest(&path) else { continue };
            let inside = to.starts_with(&format!("{m}::")) || m.starts_with(&format!("{to}::"));
            if to != *m && !inside {
                edges.insert(to);
            }
        }
    }
    g
}

/// Strongly connected sets of two or more modules (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        t.index.insert(v, t.next);
        t.low.insert(v, t.next);
        t.next += 1;
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = t.stack.pop().unwrap();
                t.on.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.found.push(comp);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.found
}

#[test]
fn the_host_modules_have_no_import_cycle() {
    let g = graph();
    // The check sees what it must: the graph is not empty and has the
    // edges everyone knows of.
    assert!(
        g["run"].contains("txn") && g["txn"].contains("caps::journal"),
        "{g:#?}"
    );
    let found = cycles(&g);
    let shown: Vec<String> = found
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    g[a].iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("{a} -> {b}"))
                })
                .collect();
            format!("{} ({})", c.join(", "), edges.join("; "))
        })
        .collect();
    assert!(shown.is_empty(), "import cycles: {shown:#?}");
    println!("{} modules, no import cycle", g.len());
}

#[test]
fn a_cycle_is_found_and_paths_are_read_as_rust_writes_them() {
    let mut g = Graph::new();
    for (a, b) in [
        ("config", "builtin"),
        ("builtin", "error"),
        ("error", "config"),
        ("run", "config"),
    ] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    assert_eq!(cycles(&g), [["builtin", "config", "error"]]);
    assert_eq!(
        crate_paths(
            "use crate::caps::{journal::Txn, Host};\nlet x = crate::units::MAX; notcrate::y"
        ),
        ["caps::journal::Txn", "caps::Host", "caps", "units::MAX"]
    );
}
