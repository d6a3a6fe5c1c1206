//! Broken links and stale commands in the book.

use std::collections::BTreeSet;
use std::path::Path;

/// One thing in one file that points at nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file, relative to the workspace root.
    pub file: String,
    /// What is wrong.
    pub what: String,
}

/// What exists in the project, for commands to refer to.
struct Inventory {
    examples: BTreeSet<String>,
    benches: BTreeSet<String>,
    recipes: BTreeSet<String>,
    scenarios: BTreeSet<String>,
    binaries: BTreeSet<String>,
    packages: BTreeSet<String>,
}

impl Inventory {
    fn read(root: &Path) -> Inventory {
        let stems = |dir: &str| -> BTreeSet<String> {
            std::fs::read_dir(root.join(dir))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.path().file_stem().map(|s| s.to_string_lossy().into_owned()))
                .collect()
        };
        let justfile = std::fs::read_to_string(root.join("justfile")).unwrap_or_default();
        let recipes = justfile
            .lines()
            .filter(|line| line.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .filter(|line| !line.contains(":=") && line.contains(':'))
            .filter_map(|line| line.split([' ', ':']).next().map(str::to_string))
            .collect();
        let mut packages = stems("crates");
        // The root package, which owns examples/ and benches/.
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap_or_default();
        if let Some(name) = manifest.lines().find_map(|l| l.strip_prefix("name = ")) {
            packages.insert(name.trim_matches('"').to_string());
        }
        let binaries =
            packages.iter().filter(|p| root.join("crates").join(p).join("src/main.rs").exists()).cloned().collect();
        Inventory {
            examples: stems("examples"),
            benches: stems("benches"),
            recipes,
            scenarios: harness::scenario::ALL.iter().map(|s| s.name().to_string()).collect(),
            binaries,
            packages,
        }
    }
}

/// Chapters written before their runs were captured: links and commands
/// are checked, figures are not (they are still empty).
const DRAFTS: &str = "docs/drafts/";

/// Checks every Markdown file of the book and the README.
pub fn check(root: &Path) -> Vec<Problem> {
    let inventory = Inventory::read(root);
    let pages = crate::read_pages(root);
    let (captures, duplicate_ids) = crate::figures::captures_by_id(&pages);
    let mut problems: Vec<Problem> =
        duplicate_ids.into_iter().map(|what| Problem { file: "the book".into(), what }).collect();
    for (file, text) in &pages {
        let path = root.join(file);
        let mut report = |what: String| problems.push(Problem { file: file.clone(), what });
        // A draft chapter (docs/drafts/, not in the book yet) keeps its
        // captures empty until `just docs-new` runs them.
        if !file.starts_with(DRAFTS) {
            for what in crate::figures::check_page(text, &captures) {
                report(what);
            }
        }
        for target in links(text) {
            let file_part = target.split('#').next().unwrap_or_default();
            if file_part.is_empty() {
                continue;
            }
            let resolved = path.parent().unwrap_or(root).join(file_part);
            if !resolved.exists() {
                report(format!("link to a missing file: {target}"));
            }
        }
        for code in code_spans(text) {
            for what in stale_commands(&code, &inventory) {
                report(what);
            }
        }
    }
    problems
}

/// Relative link targets: `[text](target)` and `![alt](target)`, not URLs.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("](") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = rest[..end].split_whitespace().next().unwrap_or_default();
        let is_url = target.contains("://") || target.starts_with("mailto:");
        if !target.is_empty() && !is_url {
            found.push(target.to_string());
        }
        rest = &rest[end..];
    }
    found
}

/// The text of fenced code blocks and of inline `code`.
fn code_spans(text: &str) -> Vec<String> {
    let mut spans = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match block.take() {
                Some(code) => spans.push(code),
                None => block = Some(String::new()),
            }
            continue;
        }
        match &mut block {
            Some(code) => {
                code.push_str(line);
                code.push('\n');
            }
            None => spans.extend(line.split('`').skip(1).step_by(2).map(str::to_string)),
        }
    }
    spans
}

/// Names after a command word that the project does not have.
fn stale_commands(code: &str, inventory: &Inventory) -> Vec<String> {
    let mut problems = Vec::new();
    for line in code.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for pair in words.windows(2) {
            let name = pair[1].trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            let (kind, known) = match pair[0] {
                "--example" => ("example", &inventory.examples),
                "--bench" => ("bench", &inventory.benches),
                "-p" | "--package" if words.first() == Some(&"cargo") => ("package", &inventory.packages),
                "just" if !name.is_empty() && !name.starts_with('-') => ("just recipe", &inventory.recipes),
                _ => continue,
            };
            if !known.contains(name) {
                problems.push(format!("`{}` names a {kind} that does not exist: {name}", pair.join(" ")));
            }
        }
        // `harness run SCENARIO` (also as target/release/harness run …).
        let run_at = words.iter().position(|w| w.ends_with("harness")).filter(|i| words.get(i + 1) == Some(&"run"));
        if let Some(scenario) = run_at.and_then(|i| words.get(i + 2))
            && !scenario.starts_with('-')
            && !scenario.contains("SCENARIO")
            && !inventory.scenarios.contains(*scenario)
        {
            problems.push(format!("`{line}` names a scenario that does not exist: {scenario}"));
        }
        for word in &words {
            if let Some(binary) = word.strip_prefix("target/release/").or_else(|| word.strip_prefix("target/debug/")) {
                let binary = binary.trim_end_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
                let is_dir = binary.is_empty() || binary.contains('/');
                if !is_dir && !inventory.binaries.contains(binary) {
                    problems.push(format!("`{word}` is not a binary of this project"));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inventory() -> Inventory {
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
        Inventory {
            examples: set(&["node_death"]),
            benches: set(&["session_lookup"]),
            recipes: set(&["demo", "test"]),
            scenarios: set(&["node-death"]),
            binaries: set(&["harness"]),
            packages: set(&["harness"]),
        }
    }

    #[test]
    fn known_commands_pass_and_stale_ones_are_named() {
        let good = "cargo run --release --example node_death\nredis-cli -p 6390 ping\ncargo run -p harness\njust demo\ntarget/release/harness run node-death --users 9\ncargo bench --bench session_lookup";
        assert_eq!(stale_commands(good, &inventory()), Vec::<String>::new());
        let bad = "cargo run --example gone\njust nope\nharness run vanished\ntarget/release/oldbin --port 0";
        assert_eq!(stale_commands(bad, &inventory()).len(), 4);
    }

    #[test]
    fn links_skip_urls_and_code_spans_cover_blocks_and_inline() {
        let text =
            "see [a](a.md#x) and [b](https://x.org) ![c](figures/c.svg)\n`just demo` text\n```sh\njust test\n```\n";
        assert_eq!(links(text), vec!["a.md#x", "figures/c.svg"]);
        assert_eq!(code_spans(text), vec!["just demo".to_string(), "just test\n".to_string()]);
    }
}
