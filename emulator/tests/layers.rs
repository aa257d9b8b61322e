//! The layer order `lib.rs` states is the law: a module may use only the modules listed after
//! it. This test reads the sources (test modules excepted) and fails on any upward import.

use std::path::{Path, PathBuf};

fn layer_order() -> Vec<String> {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).expect("lib.rs");
    // The module map in the crate docs (`//! * [`name`] — …`), top layer first; `pub mod`
    // lines cannot carry it because rustfmt sorts them.
    lib.lines().filter_map(|l| l.strip_prefix("//! * [`")?.split('`').next().map(str::to_string)).collect()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a source file belongs to (`src/api/converse.rs` → `api`).
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

fn crate_references(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i + "crate::".len()..];
        let name: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        out.push(name);
        rest = tail;
    }
    out
}

#[test]
fn no_module_imports_from_a_layer_above_it() {
    let order = layer_order();
    assert!(order.len() >= 10, "lib.rs lists the layers: {order:?}");
    let src = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let Some(module) = owner(&src, &file) else { continue };
        let Some(level) = order.iter().position(|m| *m == module) else { continue };
        let text = std::fs::read_to_string(&file).expect("readable");
        // Test modules may reach anywhere (they build requests the way the server does).
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for used in crate_references(code) {
            if let Some(used_level) = order.iter().position(|m| *m == used) {
                if used_level < level {
                    violations.push(format!("{} ({module}) uses crate::{used}, a layer above it", file.display()));
                }
            }
        }
    }
    violations.sort();
    violations.dedup();
    assert!(violations.is_empty(), "upward imports:\n{}", violations.join("\n"));
}
