//! Chores that keep the book (`docs/`, built by mdBook from `book/book.toml`)
//! honest.
//!
//! - [`capture`]: `just docs` runs every command the book shows output of,
//!   and writes that output (and the SVG chart it made) back into the page,
//!   so every figure in the book comes from a run of the project's own code.
//! - [`figures`]: numbers in prose are read from those captures, not typed:
//!   `just docs` fills them in, and the check below fails on one that was
//!   edited by hand, left stale, or never came from a capture.
//! - [`check`]: a test (run by `just test`) that fails on a link to a file
//!   that does not exist, on an example command that names an example,
//!   scenario, recipe, bench or binary the project no longer has, and on a
//!   figure that no capture backs.

pub mod capture;
pub mod check;
pub mod figures;

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("crates/xtask is two levels deep").to_path_buf()
}

/// Every Markdown file of the book, and the README.
pub fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut dirs = vec![root.join("docs")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every page of the book and the README, as (path relative to the root, text).
pub fn read_pages(root: &Path) -> Vec<(String, String)> {
    markdown_files(root)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (path.strip_prefix(root).unwrap_or(&path).display().to_string(), text)
        })
        .collect()
}
