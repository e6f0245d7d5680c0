//! The layering rule of `src/ARCHITECTURE.md`, enforced: every top-level module imports only modules of
//! the layers below its own, never a peer of its layer or anything above it. The layer list is read from
//! ARCHITECTURE.md itself, so the document and the check cannot drift apart. The same pass holds every
//! source file under the size where a reader loses the thread.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 1200;

/// The layers, lowest first; each is the set of top-level modules on it.
fn layers(architecture: &str) -> Vec<Vec<String>> {
    let block = architecture
        .split("```layers")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("src/ARCHITECTURE.md has a ```layers block");
    let mut top_down: Vec<Vec<String>> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| !l.is_empty())
        .collect();
    top_down.reverse();
    top_down
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file under `src/` (`src/policy/gate/mod.rs` → `["policy", "gate"]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The code of a line without its `//` comment (doc comments name other modules freely).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// The top-level modules a line refers to: `crate::x`, and `super::…` chains that climb to the root.
fn referenced(line: &str, module: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && (rest.starts_with("crate::") || rest.starts_with("super::")) {
            let mut path = module.to_vec();
            let mut r = rest;
            if let Some(after) = r.strip_prefix("crate::") {
                path.clear();
                r = after;
            }
            while let Some(after) = r.strip_prefix("super::") {
                path.pop();
                r = after;
            }
            let name: String = r
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if path.is_empty() && r.starts_with('{') {
                // `use crate::{a, b}` hides its targets from a line scan: named as its own problem.
                out.push("{".to_owned());
            } else if path.is_empty() && !name.is_empty() {
                out.push(name);
            }
            i += rest.len() - r.len();
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    out
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let architecture = std::fs::read_to_string(src.join("ARCHITECTURE.md")).unwrap();
    let layers = layers(&architecture);
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.iter().map(move |m| (m.as_str(), i)))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut problems = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = module_path(rel);
        let top = module[0].as_str();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(&own) = rank.get(top) else {
            problems.push(format!(
                "src/{}: module `{top}` is on no layer of src/ARCHITECTURE.md",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for target in referenced(code(line), &module) {
                if target == top {
                    continue;
                }
                if target == "{" {
                    problems.push(format!(
                        "src/{}:{}: write `use crate::module::…` once per module, not `crate::{{…}}`, so the layer check can read it",
                        rel.display(),
                        n + 1
                    ));
                    continue;
                }
                match rank.get(target.as_str()) {
                    Some(&r) if r < own => {}
                    Some(&r) => problems.push(format!(
                        "src/{}:{}: `{top}` (layer {own}) uses `crate::{target}` (layer {r}): a module may only use the layers below its own",
                        rel.display(),
                        n + 1
                    )),
                    None => problems.push(format!(
                        "src/{}:{}: `crate::{target}` is on no layer of src/ARCHITECTURE.md",
                        rel.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_layer_check_sees_upward_and_peer_imports() {
    // The check itself must be able to fail: a `use` of a higher layer, a `super::` chain that climbs
    // to the root, and a peer on the same layer are all found.
    let m = |s: &str| s.split('/').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        referenced("use crate::report::html;", &m("probe/runner")),
        ["report"]
    );
    assert_eq!(
        referenced("let x = super::super::cli::run();", &m("policy/gate")),
        ["cli"]
    );
    assert_eq!(
        referenced("use super::detect;", &m("probe/runner")),
        Vec::<String>::new()
    );
    assert_eq!(referenced("use super::diff;", &m("policy")), ["diff"]);
    assert_eq!(
        referenced("supercrate::x", &m("policy")),
        Vec::<String>::new()
    );
    assert_eq!(
        referenced("use crate::{audit, report};", &m("probe")),
        ["{"]
    );
    let l = layers("```layers\ncli\npolicy diff # peers\nutil\n```");
    assert_eq!(l, [vec!["util"], vec!["policy", "diff"], vec!["cli"]]);
}

#[test]
fn no_source_file_is_over_the_size_a_reader_can_follow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines, split along their seams: {}",
        long.join(", ")
    );
}
