//! The source tree shows the architecture (src/lib.rs), and its imports run
//! one way: no module reaches, through the modules it uses, back to itself.
//! Read from the sources, the code only (each file's `#[cfg(test)]` part
//! left out).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every module of src/, by its path (`operator::report`), with its file.
fn modules() -> BTreeMap<String, PathBuf> {
    fn visit(dir: &Path, prefix: &[String], out: &mut BTreeMap<String, PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                visit(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let mut parts = prefix.to_vec();
                if !matches!(name.as_str(), "mod" | "lib" | "main") {
                    parts.push(name);
                }
                if !parts.is_empty() {
                    out.insert(parts.join("::"), path);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    visit(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out
}

/// The modules `code` names through `crate::` paths, `use` groups included.
fn used(code: &str, modules: &BTreeMap<String, PathBuf>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        // The longest prefix that is a module.
        let Some(module) = (1..=segments.len())
            .rev()
            .map(|n| segments[..n].join("::"))
            .find(|m| modules.contains_key(m))
        else {
            continue;
        };
        // `crate::mode::{exec, watch}`: the modules in the group.
        let after = &rest[path.len()..];
        if path.ends_with("::") && after.starts_with('{') {
            let group = &after[1..after.find('}').unwrap_or(after.len())];
            for name in group
                .split(',')
                .map(|n| n.trim().split("::").next().unwrap())
            {
                let inner = format!("{module}::{name}");
                if modules.contains_key(&inner) {
                    out.insert(inner);
                }
            }
        }
        out.insert(module);
    }
    out
}

#[test]
fn no_module_imports_its_way_back_to_itself() {
    let modules = modules();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, file)| {
            let source = fs::read_to_string(file).unwrap();
            let code = source.split("#[cfg(test)]").next().unwrap();
            let mut uses = used(code, &modules);
            // A group's own children (`lockfile` declares `lockfile::walk`)
            // and a module's parents are structure, not imports.
            uses.retain(|u| {
                !u.starts_with(&format!("{name}::")) && !name.starts_with(&format!("{u}::"))
            });
            uses.remove(name);
            (name.clone(), uses)
        })
        .collect();
    // Depth-first search for a cycle, reported with its path.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            panic!("import circle: {} -> {node}", path[at..].join(" -> "));
        }
        if done.contains(node) {
            return;
        }
        path.push(node.to_owned());
        for next in &graph[node] {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_owned());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    // The check sees real imports: the report is used by the sweep.
    assert!(graph["sweep"].contains("operator::report"), "{graph:?}");
    assert!(
        graph["lockfile::walk"].contains("operator::config"),
        "{graph:?}"
    );
}

#[test]
fn the_report_and_the_log_import_nothing_that_fills_them() {
    let modules = modules();
    for low in ["operator::report", "operator::log"] {
        let source = fs::read_to_string(&modules[low]).unwrap();
        let uses = used(source.split("#[cfg(test)]").next().unwrap(), &modules);
        for high in [
            "sweep",
            "profiles",
            "database",
            "lockfile",
            "gateway",
            "mode",
            "operator::cli",
        ] {
            assert!(
                !uses
                    .iter()
                    .any(|u| u == high || u.starts_with(&format!("{high}::"))),
                "{low} imports {high}: {uses:?}"
            );
        }
    }
}

#[test]
fn every_group_is_a_directory_of_modules() {
    let modules = modules();
    for group in ["lockfile", "database", "profiles", "operator", "mode"] {
        assert!(modules.contains_key(group), "{group}");
        assert!(
            modules.keys().any(|m| m.starts_with(&format!("{group}::"))),
            "{group} has no module"
        );
    }
}
