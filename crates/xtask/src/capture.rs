//! Re-running the commands whose output the book shows.
//!
//! A captured figure in a page looks like this:
//!
//! ````text
//! <!-- capture: harness run node-death | svg: figures/node-death.svg -->
//! ```text
//! …the command's output…
//! ```
//! <!-- end capture -->
//! ````
//!
//! [`run`] executes the command (a `harness …` command runs the release
//! build of the harness, writing its reports under `target/harness/docs`),
//! replaces the block with what it printed, and copies the SVG chart the run
//! made to the path named after `svg:` (relative to the page). A run that
//! makes more than one chart (`overload` also writes `overload-load.svg`)
//! names the other with `svg: PATH from NAME`, one `svg:` per chart. A `cargo
//! bench …` capture keeps only the lines that contain one of its `keep:`
//! texts: the summary lines, not criterion's whole report.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::figures::{CLOSE_PREFIX, close_marker};

const OPEN: &str = "<!-- capture:";
/// Where runs made for the book write their reports.
const OUT_DIR: &str = "target/harness/docs";

/// One captured figure in a page.
#[derive(Debug, PartialEq, Eq)]
pub struct Capture {
    /// The command as the page shows it.
    pub command: String,
    /// Where to copy the run's charts, relative to the page: `PATH` for the
    /// run's own chart, `PATH from NAME` for its chart `NAME.svg`.
    pub svg: Vec<String>,
    /// Keep only the output lines that contain one of these texts
    /// (criterion prints much more than the summary lines a page wants).
    pub keep: Vec<String>,
    /// The name prose figures use to read numbers from this block
    /// (see [`crate::figures`]).
    pub id: Option<String>,
}

/// Parses a marker line; `None` if the line is not one.
pub fn parse_marker(line: &str) -> Option<Capture> {
    let inner = line.trim().strip_prefix(OPEN)?.strip_suffix("-->")?.trim();
    let mut parts = inner.split('|').map(str::trim);
    let command = parts.next()?.to_string();
    let options: Vec<&str> = parts.collect();
    let keep = options.iter().filter_map(|p| p.strip_prefix("keep:")).map(|p| p.trim().to_string()).collect();
    let svg = options.iter().filter_map(|p| p.strip_prefix("svg:")).map(|p| p.trim().to_string()).collect();
    let id = options.iter().find_map(|p| p.strip_prefix("id:")).map(|p| p.trim().to_string());
    Some(Capture { command, svg, keep, id })
}

/// Re-runs every capture in every page whose path contains `filter` (all
/// when `None`), rewrites the pages, then fills every page's figures from
/// the captures as they now are.
pub fn run(root: &Path, filter: Option<&str>, which: Which) -> anyhow::Result<()> {
    for page in crate::markdown_files(root) {
        if filter.is_some_and(|f| !page.to_string_lossy().contains(f)) {
            continue;
        }
        let text = std::fs::read_to_string(&page)?;
        if !text.contains(OPEN) {
            continue;
        }
        let rewritten = rewrite(root, &page, &text, which).with_context(|| format!("capturing {}", page.display()))?;
        if rewritten != text {
            std::fs::write(&page, rewritten)?;
            eprintln!("rewrote {}", page.strip_prefix(root).unwrap_or(&page).display());
        }
    }
    fill_figures(root)
}

/// Fills every figure of every page from the captured blocks, without
/// running anything (`cargo run -p xtask -- figures`).
pub fn fill_figures(root: &Path) -> anyhow::Result<()> {
    let pages = crate::read_pages(root);
    let (captures, problems) = crate::figures::captures_by_id(&pages);
    if let Some(problem) = problems.first() {
        bail!("{problem}");
    }
    let mut unreadable = Vec::new();
    for (file, text) in &pages {
        let (filled, problems) = crate::figures::fill(text, &captures);
        unreadable.extend(problems.into_iter().map(|p| format!("{file}: {p}")));
        if filled != *text {
            std::fs::write(root.join(file), filled)?;
            eprintln!("filled the figures of {file}");
        }
    }
    if !unreadable.is_empty() {
        bail!("figures that could not be read:\n{}", unreadable.join("\n"));
    }
    Ok(())
}

/// Which captures [`run`] runs again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Every capture (`just docs`).
    All,
    /// Only captures whose block is still empty: a page just written
    /// (`just docs-new`). The others keep their run and their seal.
    New,
}

fn rewrite(root: &Path, page: &Path, text: &str, which: Which) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        out.push_str(line);
        out.push('\n');
        let Some(capture) = parse_marker(line) else { continue };
        // Take the old block up to its closing marker, which must come
        // before the next capture: a page is never rewritten past it.
        let mut old = Vec::new();
        loop {
            match lines.next() {
                Some(l) if l.trim().starts_with(CLOSE_PREFIX) => {
                    old.push(l);
                    break;
                }
                Some(l) if !l.trim().starts_with(OPEN) => old.push(l),
                _ => bail!("`{}` has no `{CLOSE_PREFIX} …-->` line before the next capture", capture.command),
            }
        }
        let has_output = old
            .iter()
            .any(|l| !l.trim().is_empty() && !l.trim().starts_with("```") && !l.trim().starts_with(CLOSE_PREFIX));
        if which == Which::New && has_output {
            for l in old {
                out.push_str(l);
                out.push('\n');
            }
            continue;
        }
        eprintln!("running: {}", capture.command);
        let mut output = execute(root, &capture.command)?;
        if !capture.keep.is_empty() {
            let kept = |line: &&str| capture.keep.iter().any(|k| line.contains(k.as_str()));
            output = output.lines().filter(kept).map(|l| format!("{l}\n")).collect();
        }
        let mut block = String::from("```text\n");
        block.push_str(&output);
        if !output.ends_with('\n') {
            block.push('\n');
        }
        block.push_str("```\n");
        out.push_str(&block);
        out.push_str(&close_marker(&block));
        out.push('\n');
        for svg in &capture.svg {
            let scenario = scenario_of(&capture.command).context("svg: needs a `harness run SCENARIO` command")?;
            let (svg, chart) = match svg.split_once(" from ") {
                Some((path, chart)) => (path.trim(), chart.trim().to_string()),
                None => (svg.as_str(), scenario),
            };
            let made = root.join(OUT_DIR).join(format!("{chart}.svg"));
            let dest = page.parent().unwrap_or(root).join(svg);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::copy(&made, &dest).with_context(|| format!("copying {}", made.display()))?;
        }
    }
    Ok(out)
}

/// `demo` for `harness demo`, the scenario for `harness run SCENARIO …`.
fn scenario_of(command: &str) -> Option<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["harness", "run", scenario, ..] => Some(scenario.to_string()),
        ["harness", "demo", ..] => Some("node-death".to_string()),
        _ => None,
    }
}

/// Runs a page's command from the workspace root and returns its stdout.
fn execute(root: &Path, command: &str) -> anyhow::Result<String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut process = match words.as_slice() {
        ["harness", rest @ ..] => {
            let mut c = Command::new(release_binary(root, "harness"));
            c.args(rest);
            if matches!(rest.first(), Some(&"run" | &"demo")) {
                c.args(["--out", OUT_DIR]);
            }
            c
        }
        ["cargo", verb @ ("run" | "bench"), rest @ ..] => {
            let mut c = Command::new("cargo");
            c.arg(verb).arg("--quiet").args(rest);
            c
        }
        _ => bail!("`{command}`: only `harness …`, `cargo run …` and `cargo bench …` commands can be captured"),
    };
    let output = process.current_dir(root).output().with_context(|| format!("running `{command}`"))?;
    if !output.status.success() {
        bail!("`{command}` failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut text = String::from_utf8(output.stdout)?;
    // Some benches report from a child process on stderr (the memory one
    // does); their lines are picked out by `keep:`.
    if command.starts_with("cargo bench") {
        text.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    Ok(text)
}

fn release_binary(root: &Path, name: &str) -> PathBuf {
    root.join("target/release").join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capture_without_its_own_end_marker_is_refused() {
        let page = "<!-- capture: harness list -->\n```text\nold```<!-- end capture -->\nkept\n<!-- capture: harness list -->\n```text\n```\n<!-- end capture -->\n";
        let error = rewrite(Path::new("."), Path::new("page.md"), page, Which::All).unwrap_err();
        assert!(error.to_string().contains("before the next capture"), "{error}");
    }

    #[test]
    fn markers_name_the_command_and_the_chart() {
        assert_eq!(
            parse_marker("<!-- capture: harness run node-death --users 50 | svg: figures/nd.svg -->"),
            Some(Capture {
                command: "harness run node-death --users 50".into(),
                svg: vec!["figures/nd.svg".into()],
                keep: vec![],
                id: None,
            })
        );
        assert!(parse_marker("<!-- capture: harness demo -->").unwrap().svg.is_empty());
        let two =
            parse_marker("<!-- capture: harness run overload | svg: f/o.svg | svg: f/l.svg from overload-load -->");
        assert_eq!(two.unwrap().svg, ["f/o.svg", "f/l.svg from overload-load"]);
        let bench =
            parse_marker("<!-- capture: cargo bench --bench x | keep: paired ratio | keep: B/session -->").unwrap();
        assert_eq!(
            (bench.command.as_str(), bench.keep),
            ("cargo bench --bench x", vec!["paired ratio".into(), "B/session".into()])
        );
        assert_eq!(parse_marker("<!-- a comment -->"), None);
        assert_eq!(scenario_of("harness run scale-out --nodes 2"), Some("scale-out".into()));
    }
}
