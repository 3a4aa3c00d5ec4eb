//! The shape of `src/`: the stages' arrows point one way and no modules import each other in a
//! circle. Read from the source text (every `crate::` path outside comments, and `super::`), so
//! an arrow a refactoring adds anywhere, a `use` or a path written in place, fails here with the
//! files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each stage's rank: a module may use its own stage and stages of a lower rank only. Stages of
/// the same rank (`client`, `offline`) may not use each other.
const STAGES: &[(&str, u8)] = &[
    ("event", 0),
    ("secrets", 0),
    ("language", 1),
    ("engine", 2),
    ("client", 3),
    ("offline", 3),
    ("sim", 4),
    ("service", 5),
    ("fuzzing", 6),
];

/// One library source file as a module path (`language::spec`) with the text of its code.
struct Module {
    path: String,
    file: PathBuf,
    code: String,
}

/// A dependency of one module on another, and the line that makes it.
#[derive(Clone)]
struct Arrow {
    to: String,
    line: usize,
}

fn module_path(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The library's files (not `main.rs`, `cli/` or `bin/`: the binaries sit on top of everything).
fn library_modules(src: &Path) -> Vec<Module> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    files
        .into_iter()
        .filter(|f| {
            let rel = f.strip_prefix(src).unwrap();
            !(rel.starts_with("bin") || rel.starts_with("cli") || rel == Path::new("main.rs"))
                && rel != Path::new("lib.rs")
        })
        .map(|file| Module {
            path: module_path(src, &file),
            code: without_comments(&std::fs::read_to_string(&file).unwrap()),
            file,
        })
        .collect()
}

/// The text with `//` comments blanked (doc links are not dependencies); line numbers kept.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module a module's code names: `crate::a::b::c` resolved to the longest known module
/// path, re-exports of a folder's `mod.rs` followed to the module that defines the item.
fn arrows(module: &Module, known: &BTreeSet<String>, reexports: &Reexports) -> Vec<Arrow> {
    let path_pattern =
        regex::Regex::new(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let group_pattern =
        regex::Regex::new(r"\bcrate((?:::[a-z_][a-z0-9_]*)*)::\{([^}]*)\}").unwrap();
    let is_folder = module.file.ends_with("mod.rs");
    let mut out = Vec::new();
    for (index, line) in module.code.lines().enumerate() {
        let mut named: Vec<Vec<String>> = Vec::new();
        for capture in path_pattern.captures_iter(line) {
            let mut segments: Vec<String> = match &capture[1] {
                "crate" => Vec::new(),
                _ => {
                    let mut base: Vec<String> =
                        module.path.split("::").map(str::to_string).collect();
                    if !is_folder {
                        base.pop();
                    }
                    base
                }
            };
            segments.extend(
                capture[2]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
            named.push(segments);
        }
        for capture in group_pattern.captures_iter(line) {
            let base: Vec<String> = capture[1]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
            for item in capture[2].split(',') {
                let item = item.trim().split("::").next().unwrap_or("").trim();
                if !item.is_empty() && item != "self" {
                    let mut segments = base.clone();
                    segments.push(item.to_string());
                    named.push(segments);
                }
            }
        }
        for segments in named {
            if let Some(to) = resolve(&segments, known, reexports)
                && to != module.path
            {
                out.push(Arrow {
                    to,
                    line: index + 1,
                });
            }
        }
    }
    out
}

/// `folder module -> item name -> the submodule that defines it`.
type Reexports = BTreeMap<String, BTreeMap<String, String>>;

fn resolve(segments: &[String], known: &BTreeSet<String>, reexports: &Reexports) -> Option<String> {
    for len in (1..=segments.len()).rev() {
        let candidate = segments[..len].join("::");
        if known.contains(&candidate) {
            if let Some(item) = segments.get(len)
                && let Some(defined_in) = reexports.get(&candidate).and_then(|r| r.get(item))
            {
                return Some(defined_in.clone());
            }
            return Some(candidate);
        }
    }
    None
}

/// The `pub use child::{A, B}` lines of every folder's `mod.rs`.
fn reexports(modules: &[Module]) -> Reexports {
    let pattern =
        regex::Regex::new(r"pub use ([a-z_]+)::(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))").unwrap();
    let mut table = Reexports::new();
    for module in modules.iter().filter(|m| m.file.ends_with("mod.rs")) {
        let code = module.code.replace('\n', " ");
        for capture in pattern.captures_iter(&code) {
            let child = format!("{}::{}", module.path, &capture[1]);
            let names = capture.get(2).or(capture.get(3)).map_or("", |m| m.as_str());
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                table
                    .entry(module.path.clone())
                    .or_default()
                    .insert(name.to_string(), child.clone());
            }
        }
    }
    table
}

fn stage_of(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

fn rank(stage: &str) -> Option<u8> {
    STAGES
        .iter()
        .find(|(name, _)| *name == stage)
        .map(|(_, r)| *r)
}

/// The module graph of a source tree: `module -> (module it uses, where)`.
fn graph(src: &Path) -> (Vec<Module>, BTreeMap<String, Vec<Arrow>>) {
    let modules = library_modules(src);
    let known: BTreeSet<String> = modules.iter().map(|m| m.path.clone()).collect();
    let table = reexports(&modules);
    let graph = modules
        .iter()
        .map(|m| (m.path.clone(), arrows(m, &known, &table)))
        .collect();
    (modules, graph)
}

/// The arrows that point from a stage to one it may not use, as readable lines.
fn wrong_way_arrows(modules: &[Module], graph: &BTreeMap<String, Vec<Arrow>>) -> Vec<String> {
    let mut wrong = Vec::new();
    for module in modules {
        let from = stage_of(&module.path);
        for arrow in &graph[&module.path] {
            let to = stage_of(&arrow.to);
            if from == to {
                continue;
            }
            let allowed = match (rank(from), rank(to)) {
                (Some(a), Some(b)) => b < a,
                _ => false,
            };
            if !allowed {
                wrong.push(format!(
                    "{}:{}: {from} uses {} ({to})",
                    module.file.display(),
                    arrow.line,
                    arrow.to
                ));
            }
        }
    }
    wrong
}

/// A cycle of modules, if there is one (depth-first search, shortest path back not promised).
fn find_cycle(graph: &BTreeMap<String, Vec<Arrow>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, Vec<Arrow>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for arrow in graph.get(node).into_iter().flatten() {
            match state.get(arrow.to.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| *n == arrow.to).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(arrow.to.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(cycle) = visit(&arrow.to, graph, state, stack) {
                        return Some(cycle);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, graph, &mut state, &mut stack) {
                return Some(cycle);
            }
        }
    }
    None
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every library module belongs to a stage, and stages use only the stages below them.
#[test]
fn stages_depend_downwards_only() {
    let (modules, graph) = graph(&src());
    let unplaced: Vec<&str> = modules
        .iter()
        .map(|m| stage_of(&m.path))
        .filter(|stage| rank(stage).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules outside every stage: {unplaced:?}"
    );
    let wrong = wrong_way_arrows(&modules, &graph);
    assert!(
        wrong.is_empty(),
        "arrows against the stages' order:\n{}",
        wrong.join("\n")
    );
}

/// No two modules (files) import each other, directly or around a longer circle.
#[test]
fn no_import_cycles() {
    let (_, graph) = graph(&src());
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// The checker itself sees a cycle and a wrong-way arrow when a tree has them.
#[test]
fn the_checker_finds_cycles_and_wrong_way_arrows() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("language")).unwrap();
    std::fs::create_dir_all(src.join("engine")).unwrap();
    std::fs::write(src.join("language/mod.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("language/a.rs"), "use crate::language::b::B;\n").unwrap();
    std::fs::write(
        src.join("language/b.rs"),
        "// crate::engine::E in a comment is no arrow\nuse super::a::A;\nfn f() { crate::engine::E::new(); }\n",
    )
    .unwrap();
    std::fs::write(src.join("engine/mod.rs"), "pub use task::E;\nmod task;\n").unwrap();
    std::fs::write(
        src.join("engine/task.rs"),
        "use crate::language::{a, b::B};\n",
    )
    .unwrap();
    let (modules, graph) = graph(src);
    let cycle = find_cycle(&graph).expect("a cycle");
    assert!(cycle.contains(&"language::a".to_string()), "{cycle:?}");
    let wrong = wrong_way_arrows(&modules, &graph);
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].contains("b.rs:3: language uses engine::task"),
        "{wrong:?}"
    );
}
