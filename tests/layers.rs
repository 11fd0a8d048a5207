//! The layering of `pipeline/src` (ARCHITECTURE.md, "Layers"): a module imports only from
//! its own layer or the layers before it, and no import between files closes a loop.
//! Read from the sources' `use crate::…` lines and the `crate::…` / `super::…` paths in
//! code (comments left out), each resolved to the file that defines the module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers in order, by the first segment of a module's path. A module may import from
/// its own layer or an earlier one, never a later one.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["domain"],
    &["io"],
    &["config"],
    &["tables"],
    &["stages"],
    &["run"],
    &["audit", "generate", "bench"],
    &["portal"],
    &["cli"],
];

fn layer_of(module: &[String]) -> Option<usize> {
    let first = module.first()?;
    LAYERS.iter().position(|l| l.contains(&first.as_str()))
}

/// Inside `stages`, the order the stages run in, by the second segment of a module's path:
/// `stage` (what a stage is, what the stages share) first, then one folder per stage. A stage
/// may import from itself or an earlier stage, never a later one (what two stages share is
/// a type of `tables/` or `domain/`).
fn stage_rank(name: &str) -> Option<usize> {
    if name == "stage" {
        return Some(0);
    }
    crate::common::STAGES
        .iter()
        .position(|s| *s == name)
        .map(|i| i + 1)
}

/// The place of a module of `stages` in the run order (`stage_rank`); `None` outside
/// `stages` and for `stages` itself.
fn stage_of(module: &[String]) -> Option<usize> {
    match module {
        [first, second, ..] if first == "stages" => stage_rank(second),
        _ => None,
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `stages/lists/mod.rs` → `stages::lists`; `io/frame.rs` → `io::frame`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut m: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if m.last().is_some_and(|l| l == "mod" || l == "lib") {
        m.pop();
    }
    m
}

/// The code of a file without its comments (line comments, doc comments, block comments).
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut in_block = false;
    for line in text.lines() {
        let mut l = line;
        if in_block {
            match l.find("*/") {
                Some(i) => {
                    l = &l[i + 2..];
                    in_block = false;
                }
                None => continue,
            }
        }
        if let Some(i) = l.find("/*") {
            in_block = !l[i..].contains("*/");
            l = &l[..i];
        }
        if let Some(i) = l.find("//") {
            l = &l[..i];
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The paths after `root` in `text` (`crate::a::b`, `super::x`), each made absolute from
/// `base`; a group (`a::{b, c::d}`) gives one path per member.
fn paths_after(text: &str, root: &str, base: &[String], out: &mut Vec<Vec<String>>) {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(i) = text[from..].find(root) {
        let at = from + i;
        from = at + root.len();
        if text[..at]
            .chars()
            .last()
            .is_some_and(|c| ident(c) || c == ':')
        {
            continue;
        }
        let mut path = base.to_vec();
        let mut r = &text[from..];
        while let Some(s) = r.strip_prefix("super::") {
            path.pop();
            r = s;
        }
        loop {
            let n = r.find(|c: char| !ident(c)).unwrap_or(r.len());
            if n == 0 {
                break;
            }
            path.push(r[..n].to_string());
            r = &r[n..];
            match r.strip_prefix("::") {
                Some(s) => r = s,
                None => break,
            }
        }
        if let Some(group) = r.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let mut p = path.clone();
                for seg in member.trim().split("::") {
                    let seg = seg.split_whitespace().next().unwrap_or("");
                    if seg.is_empty() || seg == "self" || !seg.chars().all(ident) {
                        break;
                    }
                    p.push(seg.to_string());
                }
                out.push(p);
            }
        } else {
            out.push(path);
        }
    }
}

/// Every path the code names in the crate: `crate::…`, and `super::…` made absolute (in a
/// file's test module, at the end of the file, `super` is the file itself).
fn paths_in(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let (main, tests) = code.split_at(code.find("#[cfg(test)]").unwrap_or(code.len()));
    paths_after(code, "crate::", &[], &mut out);
    let parent = &module[..module.len().saturating_sub(1)];
    paths_after(main, "super::", parent, &mut out);
    paths_after(tests, "super::", module, &mut out);
    out
}

struct Graph {
    /// module → (imported module, the path as written).
    edges: BTreeMap<Vec<String>, BTreeSet<(Vec<String>, String)>>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.retain(|f| !f.ends_with("main.rs"));
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for f in &files {
        let module = module_of(&src, f);
        let code = code_of(&std::fs::read_to_string(f).unwrap());
        let mut to = BTreeSet::new();
        for path in paths_in(&code, &module) {
            // The longest prefix of the path that is a module (a file) of the crate.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(t) = target
                && t != module
                && !module.starts_with(&t)
            {
                to.insert((t, path.join("::")));
            }
        }
        edges.insert(module, to);
    }
    Graph { edges }
}

#[test]
fn every_module_is_in_a_layer() {
    let g = graph();
    let unplaced: Vec<String> = g
        .edges
        .keys()
        .filter(|m| !m.is_empty() && layer_of(m).is_none())
        .map(|m| m.join("::"))
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer (add them to LAYERS in tests/layers.rs and to ARCHITECTURE.md): {unplaced:?}"
    );
    let unordered: Vec<String> = g
        .edges
        .keys()
        .filter(|m| m.len() > 1 && m[0] == "stages" && stage_of(m).is_none())
        .map(|m| m.join("::"))
        .collect();
    assert!(
        unordered.is_empty(),
        "stage modules in no place of the run order (add them to STAGES in tests/common and to ARCHITECTURE.md): {unordered:?}"
    );
}

#[test]
fn no_stage_imports_from_a_later_stage() {
    let later = imports_from_later(&graph(), stage_of);
    assert!(
        later.is_empty(),
        "imports from a stage that runs later:\n{}",
        later.join("\n")
    );
}

/// The imports from a module placed later by `place` than the importing module ("from ->
/// path as written"); modules `place` does not place are left out.
fn imports_from_later(g: &Graph, place: fn(&[String]) -> Option<usize>) -> Vec<String> {
    let mut later = Vec::new();
    for (from, to) in &g.edges {
        let Some(pf) = place(from) else { continue };
        for (t, written) in to {
            if place(t).is_some_and(|pt| pt > pf) {
                later.push(format!("{} -> {written}", from.join("::")));
            }
        }
    }
    later
}

#[test]
fn no_module_imports_from_a_later_layer() {
    let upward = imports_from_later(&graph(), layer_of);
    assert!(
        upward.is_empty(),
        "imports from a later layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_cycle_between_files() {
    let g = graph();
    // Depth-first search; a module met again while on the stack closes a cycle.
    fn visit<'a>(
        m: &'a Vec<String>,
        g: &'a Graph,
        stack: &mut Vec<&'a Vec<String>>,
        done: &mut BTreeSet<&'a Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| *s == m) {
            let mut c: Vec<String> = stack[i..].iter().map(|s| s.join("::")).collect();
            c.push(m.join("::"));
            cycles.push(c.join(" -> "));
            return;
        }
        stack.push(m);
        for (t, _) in g.edges.get(m).into_iter().flatten() {
            visit(t, g, stack, done, cycles);
        }
        stack.pop();
        done.insert(m);
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for m in g.edges.keys() {
        visit(m, &g, &mut Vec::new(), &mut done, &mut cycles);
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn stages_are_placed_by_their_folder() {
    let m = |s: &str| s.split("::").map(str::to_string).collect::<Vec<_>>();
    assert_eq!(stage_of(&m("stages::stage")), Some(0));
    assert_eq!(stage_of(&m("stages::lists::select")), Some(6));
    assert!(stage_of(&m("stages::report")) > stage_of(&m("stages::evaluate::fairness")));
    assert_eq!(stage_of(&m("stages")), None);
    assert_eq!(stage_of(&m("tables::scores")), None);
}

#[test]
fn the_layer_reader_resolves_paths_to_files() {
    // A check of the reader itself: the paths it finds and the files they name.
    let code = code_of(
        "use crate::io::frame::{self, id_head};\n// use crate::run::Nothing;\nuse crate::{config, domain::month::Month};\nlet x = super::sibling::f();\n",
    );
    let module = vec![
        "stages".to_string(),
        "lists".to_string(),
        "select".to_string(),
    ];
    let paths: Vec<String> = paths_in(&code, &module)
        .into_iter()
        .map(|p| p.join("::"))
        .collect();
    assert_eq!(
        paths,
        [
            "io::frame",
            "io::frame::id_head",
            "config",
            "domain::month::Month",
            "stages::lists::sibling::f"
        ]
    );
}
