//! The crate's layers, as `docs/architecture.md` declares them ("Layers"), held against its
//! imports: every path into the crate (`crate::…`, `super::…`, and a child module named from
//! its parent), read from the source with comments and string literals set aside. A file may
//! import its own layer and those below; no files may import each other round a circle.
//! Failures name the file, the line and the path.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A module of the crate: `oauth::server::token`, `config`, or `` (the crate root).
type Module = String;

#[derive(Debug, Clone)]
struct Import {
    from: Module,
    to: Module,
    line: usize,
    path: String,
    /// In a `pub use` (or `pub(crate) use`) statement: re-exported, not used here.
    reexport: bool,
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every source file by its module.
fn modules() -> BTreeMap<Module, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .map(|file| {
            let relative = file.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            (parts.join("::"), file)
        })
        .collect()
}

/// The source with comments, string and character literals blanked (line ends kept, so
/// offsets still give lines).
fn code_only(source: &str) -> String {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(bytes.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            blank(&mut out, i, i + end);
            i += end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, 2);
            while j < rest.len() && depth > 0 {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, i + j);
            i += j;
        } else if let Some(len) = raw_string_len(rest) {
            blank(&mut out, i, i + len);
            i += len;
        } else if rest[0] == b'"' || rest.starts_with(b"b\"") {
            let mut j = if rest[0] == b'"' { 1 } else { 2 };
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, i + j + 1);
            i += j + 1;
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&b| b == b'\'').map(|p| p + 3)
            } else {
                // `'` is ASCII, so the character after it starts at a boundary of the source.
                let c = source[i + 1..].chars().next();
                c.and_then(|c| {
                    (rest.get(1 + c.len_utf8()) == Some(&b'\'')).then(|| 2 + c.len_utf8())
                })
            };
            match len {
                Some(len) => {
                    blank(&mut out, i, i + len);
                    i += len;
                }
                None => i += 1,
            }
        } else if rest[0].is_ascii_alphanumeric() || rest[0] == b'_' {
            // Skip a whole identifier, so `br"` inside one is not taken for a literal.
            let end = rest
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
                .unwrap_or(rest.len());
            i += end;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The length of a raw string literal (`r"…"`, `r#"…"#`, `br#"…"#`) starting here.
fn raw_string_len(rest: &[u8]) -> Option<usize> {
    let start = if rest.starts_with(b"br") {
        2
    } else if rest.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = rest[start..].iter().take_while(|&&b| b == b'#').count();
    if rest.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"')
        .chain(std::iter::repeat_n(b'#', hashes))
        .collect();
    let body = start + hashes + 1;
    let end = rest[body..]
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(body + end + close.len())
}

/// Paths spelled from offset `at` on: `a::b::{c, d::{e}}` gives `a::b::c`, `a::b::d::e`.
fn paths_at(code: &str, at: usize) -> Vec<String> {
    fn parse(code: &[u8], i: &mut usize, prefix: &str, out: &mut Vec<String>) {
        let skip_ws = |i: &mut usize| {
            while *i < code.len() && code[*i].is_ascii_whitespace() {
                *i += 1;
            }
        };
        let mut path = prefix.to_string();
        loop {
            skip_ws(i);
            if *i < code.len() && code[*i] == b'{' {
                *i += 1;
                loop {
                    skip_ws(i);
                    if *i >= code.len() || code[*i] == b'}' {
                        *i += 1;
                        return;
                    }
                    parse(code, i, &path, out);
                    skip_ws(i);
                    if *i < code.len() && code[*i] == b',' {
                        *i += 1;
                    }
                }
            }
            let start = *i;
            while *i < code.len() && (code[*i].is_ascii_alphanumeric() || code[*i] == b'_') {
                *i += 1;
            }
            let ident = std::str::from_utf8(&code[start..*i]).unwrap();
            if !ident.is_empty() && ident != "self" {
                if !path.is_empty() {
                    path.push_str("::");
                }
                path.push_str(ident);
            }
            skip_ws(i);
            if code[*i..].starts_with(b"::") {
                *i += 2;
                continue;
            }
            // The end of this path: skip an `as` rename and stop.
            out.push(path);
            while *i < code.len() && !matches!(code[*i], b',' | b'}' | b';' | b'(' | b')') {
                if code[*i] == b'<' || code[*i] == b'{' || code[*i] == b'\n' {
                    break;
                }
                *i += 1;
            }
            return;
        }
    }
    let mut out = Vec::new();
    let mut i = at;
    parse(code.as_bytes(), &mut i, "", &mut out);
    out
}

/// The module a path from the crate root lands in: its longest prefix that is a module.
fn module_of(path: &str, known: &BTreeMap<Module, PathBuf>) -> Module {
    let parts: Vec<&str> = path.split("::").collect();
    (0..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|m| known.contains_key(m))
        .unwrap_or_default()
}

fn parent(module: &str) -> Module {
    module
        .rsplit_once("::")
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}::{rest}"),
    }
}

/// The offset of the brace that closes the one at `open`.
fn closing_brace(code: &str, open: usize) -> usize {
    let mut depth = 0;
    for (i, b) in code.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    code.len()
}

/// Inline modules (`mod name { … }`) as the byte ranges of their blocks.
fn inline_modules(code: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        let before_ok = at == 0 || !code.as_bytes()[at - 1].is_ascii_alphanumeric();
        let rest = &code[at + 4..];
        let ident_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let after = rest[ident_len..].trim_start();
        if before_ok && ident_len > 0 && after.starts_with('{') {
            let open = code.len() - after.len();
            out.push((open, closing_brace(code, open)));
        }
    }
    out
}

/// The code without test-only modules (`#[cfg(test)] mod … { … }`): tests may reach for what
/// they need; the layers are the shipped code's.
fn without_tests(code: &str) -> String {
    let mut out = code.to_string();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let rest = code[at + 12..].trim_start();
        let rest = match rest.strip_prefix("pub") {
            Some(after) if after.starts_with('(') => &after[after.find(')').map_or(0, |c| c + 1)..],
            Some(after) => after,
            None => rest,
        }
        .trim_start();
        if !rest.starts_with("mod ") {
            continue;
        }
        let start = code.len() - rest.len();
        let Some(open) = code[start..].find(['{', ';']).map(|o| start + o) else {
            continue;
        };
        let end = if code.as_bytes()[open] == b'{' {
            closing_brace(code, open)
        } else {
            open
        };
        out.replace_range(
            at..=end,
            &code[at..=end]
                .chars()
                .map(|c| if c == '\n' { '\n' } else { ' ' })
                .collect::<String>(),
        );
    }
    out
}

/// Every import into the crate, file by file.
fn imports(known: &BTreeMap<Module, PathBuf>) -> Vec<Import> {
    let mut all = Vec::new();
    for (module, file) in known {
        let code = without_tests(&code_only(&fs::read_to_string(file).unwrap()));
        let inline = inline_modules(&code);
        let bytes = code.as_bytes();
        let children: BTreeSet<&str> = known
            .keys()
            .filter(|m| parent(m) == *module && !m.is_empty())
            .map(|m| m.rsplit("::").next().unwrap())
            .collect();
        let line_of = |at: usize| code[..at].matches('\n').count() + 1;
        // Whether the statement around `at` is a `pub use`: its text since the last `;`, `{` or
        // `}` at the statement level starts so.
        let reexported = |at: usize| {
            let start = code[..at].rfind([';', '}']).map_or(0, |p| p + 1);
            let statement = code[start..at].trim_start();
            let statement = statement
                .strip_prefix("#[doc(inline)]")
                .unwrap_or(statement)
                .trim_start();
            statement.starts_with("pub use ") || statement.starts_with("pub(crate) use ")
        };
        let mut i = 0;
        while i < bytes.len() {
            let starts_path = i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':');
            if !starts_path || !(bytes[i].is_ascii_alphabetic() || bytes[i] == b'_') {
                i += 1;
                continue;
            }
            let end = i + code[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(code.len() - i);
            let word = &code[i..end];
            let followed = code[end..].trim_start().starts_with("::");
            let base = match word {
                _ if !followed => None,
                "crate" => Some(String::new()),
                "super" => {
                    // `super::super::x` climbs once per `super`: out of the inline modules
                    // around it first, then up the files.
                    let mut inside = inline.iter().filter(|(a, b)| (*a..*b).contains(&i)).count();
                    let mut base = module.clone();
                    let mut rest = code[end..].trim_start();
                    loop {
                        if inside > 0 {
                            inside -= 1;
                        } else {
                            base = parent(&base);
                        }
                        rest = rest.strip_prefix("::").unwrap_or(rest).trim_start();
                        match rest.strip_prefix("super") {
                            Some(after) if after.trim_start().starts_with("::") => {
                                rest = after.trim_start();
                            }
                            _ => break,
                        }
                    }
                    Some(base)
                }
                "self" => Some(module.clone()),
                w if children.contains(w) => Some(module.clone()),
                _ => None,
            };
            if let Some(base) = base {
                let from = if matches!(word, "crate" | "super" | "self") {
                    end + code[end..].find("::").unwrap() + 2
                } else {
                    i
                };
                for path in paths_at(&code, from) {
                    let path = path.trim_start_matches("super::").to_string();
                    let full = join(&base, &path);
                    let to = module_of(&full, known);
                    // The crate root declares every module; naming it imports nothing.
                    if to != *module && !to.is_empty() {
                        all.push(Import {
                            from: module.clone(),
                            to,
                            line: line_of(i),
                            reexport: reexported(i),
                            path: if children.contains(word) {
                                path.clone()
                            } else {
                                format!("{word}::{path}")
                            },
                        });
                    }
                }
            }
            i = end;
        }
    }
    all
}

/// The declared layers, bottom first: the "Layers" table of `docs/architecture.md`, each row's
/// modules in backticks.
fn layers() -> Vec<(String, Vec<String>)> {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = doc
        .split("\n## Layers")
        .nth(1)
        .expect("docs/architecture.md has a \"## Layers\" section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| layer"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].to_string();
            let modules = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|m| m.trim_end_matches("/").replace('/', "::"))
                .collect();
            (name, modules)
        })
        .collect()
}

/// A module's layer: the row naming its longest prefix.
fn layer_of(module: &str, layers: &[(String, Vec<String>)]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    for (index, (_, modules)) in layers.iter().enumerate() {
        for m in modules {
            let covers = module == m || module.starts_with(&format!("{m}::"));
            if covers && best.is_none_or(|(_, len)| m.len() > len) {
                best = Some((index, m.len()));
            }
        }
    }
    best.map(|(index, _)| index)
}

#[test]
fn every_module_has_a_layer_and_imports_only_its_own_and_those_below() {
    let known = modules();
    let layers = layers();
    assert!(layers.len() >= 5, "{layers:?}");
    let unplaced: Vec<&Module> = known
        .keys()
        .filter(|m| !m.is_empty() && layer_of(m, &layers).is_none())
        .collect();
    assert!(
        unplaced.is_empty(),
        "modules in no layer of docs/architecture.md: {unplaced:?}"
    );
    let mut upward = Vec::new();
    for import in imports(&known) {
        let (Some(from), Some(to)) = (
            layer_of(&import.from, &layers),
            layer_of(&import.to, &layers),
        ) else {
            continue;
        };
        if to > from {
            upward.push(format!(
                "{}:{} imports {} ({}, above {})",
                known[&import.from]
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap()
                    .display(),
                import.line,
                import.path,
                layers[to].0,
                layers[from].0,
            ));
        }
    }
    assert!(
        upward.is_empty(),
        "{} imports up the layers:\n{}",
        upward.len(),
        upward.join("\n")
    );
}

#[test]
fn no_files_import_each_other_round_a_circle() {
    let known = modules();
    let imports = imports(&known);
    // A module re-exporting what its own descendants define is their public face, not a use
    // of them: `pub use child::Thing` in a `mod.rs` whose child imports `super::` makes no
    // circle. Any other import does.
    let face = |i: &Import| i.reexport && i.to.starts_with(&format!("{}::", i.from));
    let imports: Vec<Import> = imports.into_iter().filter(|i| !face(i)).collect();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for import in &imports {
        edges.entry(&import.from).or_default().insert(&import.to);
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<&'a str, BTreeSet<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        circles: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for &w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut circle = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                circle.push(w);
                if w == v {
                    break;
                }
            }
            if circle.len() > 1 {
                s.circles.push(circle);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        circles: Vec::new(),
    };
    for &v in known.keys().map(String::as_str).collect::<Vec<_>>().iter() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    let report: Vec<String> = state
        .circles
        .iter()
        .map(|circle| {
            let members: BTreeSet<&str> = circle.iter().copied().collect();
            let ties: Vec<String> = imports
                .iter()
                .filter(|i| members.contains(i.from.as_str()) && members.contains(i.to.as_str()))
                .map(|i| {
                    format!(
                        "  {}:{} imports {}",
                        known[&i.from]
                            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                            .unwrap()
                            .display(),
                        i.line,
                        i.path
                    )
                })
                .collect();
            format!(
                "a circle of {} modules: {:?}\n{}",
                circle.len(),
                members,
                ties.join("\n")
            )
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n\n"));
}

#[test]
fn the_reader_sees_every_spelling_of_an_import() {
    let code = code_only(
        "use crate::{a::b, c::{d, e as f}};\n// crate::commented::out\nlet s = \"crate::in_a_string\";\nlet r = r#\"crate::raw\"#;\nfn x<'a>(c: char) { let q = '\"'; crate::g::h(); }\n",
    );
    let found: Vec<String> = code
        .match_indices("crate::")
        .flat_map(|(at, _)| paths_at(&code, at + 7))
        .collect();
    assert_eq!(found, ["a::b", "c::d", "c::e", "g::h"]);
}
