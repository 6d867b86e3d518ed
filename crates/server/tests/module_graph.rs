//! No import cycles between the server's modules. Every source file is a module; a `use`
//! or a path naming `crate::...`, `super::...` or `self::...` is an edge to the module it
//! names. The graph must be acyclic: shared state and types below the domains, the router
//! composed above them, domains calling each other only downward. A cycle fails this test
//! with the modules that form it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// Module path (`records::documents::service`) of every source file of the library.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            let name = parts.join("::");
            if name == "main" {
                continue;
            }
            out.insert(if name == "lib" { String::new() } else { name }, path);
        }
    }
    out
}

/// Collects the module paths a file names.
struct Refs<'a> {
    here: &'a [String],
    found: BTreeSet<Vec<String>>,
    /// Names bound by this file's `use` items, with the absolute path they stand for.
    aliases: BTreeMap<String, Vec<String>>,
}

impl Refs<'_> {
    /// `segments` as an absolute path from the crate root, if it is `crate`/`super`/`self`
    /// relative.
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.here.to_vec(),
            "super" => {
                let mut up = self.here.to_vec();
                up.pop();
                up
            }
            name => self.aliases.get(name)?.clone(),
        };
        let mut rest = rest;
        while rest.first().is_some_and(|s| s == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    }

    fn add(&mut self, segments: Vec<String>) {
        if let Some(abs) = self.absolute(&segments) {
            self.found.insert(abs);
        }
    }

    /// A `use` of `segments`: an edge, and its last name bound for the paths that follow.
    fn bind(&mut self, segments: Vec<String>) {
        if let Some(abs) = self.absolute(&segments)
            && let Some(name) = segments.last()
        {
            self.aliases.insert(name.clone(), abs);
        }
        self.add(segments);
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                let name = n.ident.to_string();
                if name != "self" {
                    full.push(name);
                }
                self.bind(full);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                if r.ident != "self" {
                    full.push(r.ident.to_string());
                }
                if let Some(abs) = self.absolute(&full) {
                    self.aliases.insert(r.rename.to_string(), abs);
                }
                self.add(full);
            }
            syn::UseTree::Glob(_) => self.add(prefix.clone()),
            syn::UseTree::Group(g) => {
                for item in &g.items {
                    self.use_tree(prefix, item);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Refs<'_> {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &item.tree);
    }

    /// `pub(super)` names no module to use.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.add(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }

    fn visit_item_mod(&mut self, item: &'ast syn::ItemMod) {
        match &item.content {
            // `mod child;`: paths may start with the child's name.
            None => {
                let mut child = self.here.to_vec();
                child.push(item.ident.to_string());
                self.aliases.insert(item.ident.to_string(), child);
            }
            // Inline test modules (`mod tests { use super::*; }`) belong to their file.
            Some(_) if item.ident == "tests" => {}
            Some(_) => syn::visit::visit_item_mod(self, item),
        }
    }
}

/// The longest known module that `path` starts with.
fn owner<'m>(path: &[String], known: &'m BTreeMap<String, PathBuf>) -> Option<&'m String> {
    (0..=path.len())
        .rev()
        .find_map(|n| known.get_key_value(&path[..n].join("::")).map(|(k, _)| k))
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                let low = s.low[v].min(s.low[w.as_str()]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w.as_str()) {
                let low = s.low[v].min(s.index[w.as_str()]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

/// The import graph of the server's library, module → modules it names.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known = modules(&src);
    let mut graph = BTreeMap::new();
    for (module, path) in &known {
        let file = syn::parse_file(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let here: Vec<String> = if module.is_empty() {
            Vec::new()
        } else {
            module.split("::").map(str::to_owned).collect()
        };
        let mut refs = Refs {
            here: &here,
            found: BTreeSet::new(),
            aliases: BTreeMap::new(),
        };
        refs.visit_file(&file);
        let edges: BTreeSet<String> = refs
            .found
            .iter()
            .filter_map(|p| owner(p, &known))
            // The crate root only declares modules.
            .filter(|target| *target != module && !target.is_empty())
            .cloned()
            .collect();
        graph.insert(module.clone(), edges);
    }
    graph
}

#[test]
fn the_server_modules_import_each_other_without_cycles() {
    let graph = graph();
    assert!(graph.len() > 60, "read {} modules", graph.len());
    assert!(
        graph["vm_ops::service"].contains("agents::service"),
        "the graph sees a domain calling another"
    );
    let found = cycles(&graph);
    assert!(
        found.is_empty(),
        "import cycles between server modules:\n{}",
        found
            .iter()
            .map(|c| format!("  {}", c.join(" <-> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_check_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    graph.insert("d".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&graph), [["a", "b", "c"]]);
}
