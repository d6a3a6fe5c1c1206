//! Figures in prose, tied to the captured runs they come from.
//!
//! A measured number belongs in a captured block (see [`crate::capture`]),
//! where `just docs` writes what the command printed. When a page's prose
//! needs one of those numbers, it does not type it: it names where the number
//! is, and `just docs` fills it in.
//!
//! ```text
//! <!-- capture: harness demo | id: demo -->
//! …users logged out    67 of 200 (33.5%)    0 of 200 (0.0%) …
//! <!-- end capture -->
//!
//! The stateful twin logged out <!--fig demo "users logged out" 1-->67<!--/fig--> users.
//! ```
//!
//! A figure names a capture by its `id`, a text that its line contains, and
//! which number on that line, counting after the text (1 is the first). The
//! rendered page shows only the number.
//!
//! The book check ([`check_page`]) then holds every page to three rules:
//!
//! - every figure reads what its capture says now (a number edited by hand,
//!   or left behind when the capture changed, is reported);
//! - every capture block still has the seal `just docs` put on it: a digest
//!   of its text in the closing marker, so a block edited by hand is
//!   reported too;
//! - prose holds no bare measurement: a number followed by a unit of
//!   measure (`ms`, `µs`, `ns`, `%`, `×`, `req/s`, …) outside code, captures
//!   and figures is reported. Settings a reader types (`--think 50ms`) belong
//!   in code spans, where they read as what they are.

use std::collections::BTreeMap;

/// The closing marker of a captured block, with the digest of its text.
pub const CLOSE_PREFIX: &str = "<!-- end capture";
const FIG_OPEN: &str = "<!--fig ";
const FIG_CLOSE: &str = "<!--/fig-->";

/// Units after which a number is a measurement.
const UNITS: &[&str] = &["ms", "µs", "us", "ns", "%", "×", "req/s", "k req/s", "rps", "x"];

/// FNV-1a, 64 bits: a seal against hand edits, not a secret.
pub fn digest(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The closing marker for a block whose text (the fenced block, fences
/// included) is `block`.
pub fn close_marker(block: &str) -> String {
    format!("{CLOSE_PREFIX} {} -->", digest(block))
}

/// One captured block of a page: its id (if any), its text, and whether its
/// seal matches.
#[derive(Debug)]
pub struct Block {
    /// `id:` of the marker.
    pub id: Option<String>,
    /// The fenced block between the markers.
    pub text: String,
    /// The digest in the closing marker, if it has one.
    pub sealed: Option<String>,
    /// The marker line's number (1-based), for messages.
    pub line: usize,
}

/// Every captured block of a page.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(Option<String>, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(capture) = crate::capture::parse_marker(trimmed) {
            open = Some((capture.id, i + 1, String::new()));
            continue;
        }
        if trimmed.starts_with(CLOSE_PREFIX) {
            if let Some((id, line, text)) = open.take() {
                let sealed = trimmed
                    .strip_prefix(CLOSE_PREFIX)
                    .and_then(|r| r.strip_suffix("-->"))
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_string);
                found.push(Block { id, text, sealed, line });
            }
            continue;
        }
        if let Some((_, _, body)) = &mut open {
            body.push_str(line);
            body.push('\n');
        }
    }
    found
}

/// A figure in prose: where its number comes from.
#[derive(Debug, PartialEq, Eq)]
pub struct Fig {
    /// The capture's id.
    pub capture: String,
    /// A text the capture's line contains.
    pub line: String,
    /// Which number after that text, from 1.
    pub nth: usize,
}

/// Parses the inside of `<!--fig ID "TEXT" N-->`. The text is quoted,
/// not split on `|`, so a figure can stand in a table cell.
pub fn parse_fig(inner: &str) -> Option<Fig> {
    let (capture, rest) = inner.trim().split_once(char::is_whitespace)?;
    let rest = rest.trim().strip_prefix('"')?;
    let (line, rest) = rest.split_once('"')?;
    let nth = rest.trim().parse().ok().filter(|&n| n > 0)?;
    if capture.is_empty() || line.is_empty() {
        return None;
    }
    Some(Fig { capture: capture.to_string(), line: line.to_string(), nth })
}

/// The numbers of a line, in order: `67 of 200 (33.5%)` gives 67, 200,
/// 33.5. Digits that end a word (`p50`, `redis_64`) are not numbers.
fn numbers(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let in_word = start > 0 && (bytes[start - 1].is_ascii_alphabetic() || bytes[start - 1] == b'_');
            if !in_word {
                found.push(text[start..i].trim_end_matches('.'));
            }
        } else {
            i += 1;
        }
    }
    found
}

/// Runs of white space folded to one space: table columns may be
/// re-aligned without breaking the figures that read them.
fn folded(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a figure reads from the captured blocks, or why it cannot.
pub fn value(fig: &Fig, captures: &BTreeMap<String, String>) -> Result<String, String> {
    let text = captures.get(&fig.capture).ok_or_else(|| format!("no capture with id `{}`", fig.capture))?;
    let wanted = folded(&fig.line);
    let line = text
        .lines()
        .map(folded)
        .find(|l| l.contains(wanted.as_str()))
        .ok_or_else(|| format!("capture `{}` has no line with `{}`", fig.capture, fig.line))?;
    let after = &line[line.find(wanted.as_str()).unwrap_or(0) + wanted.len()..];
    numbers(after).get(fig.nth - 1).map(|n| n.to_string()).ok_or_else(|| {
        format!("the `{}` line of capture `{}` has fewer than {} numbers", fig.line, fig.capture, fig.nth)
    })
}

/// Rewrites every figure of `text` with what its capture says now. A figure
/// that cannot be read keeps its old value, and the reason is returned.
pub fn fill(text: &str, captures: &BTreeMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(FIG_OPEN) {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let Some(inner_end) = from.find("-->") else {
            problems.push("a figure marker is not closed".to_string());
            break;
        };
        let marker = &from[..inner_end + 3];
        let after_open = &from[inner_end + 3..];
        let (Some(fig), Some(close)) = (parse_fig(&from[FIG_OPEN.len()..inner_end]), after_open.find(FIG_CLOSE)) else {
            problems.push(format!("a figure marker is malformed or has no {FIG_CLOSE}: {marker}"));
            out.push_str(marker);
            rest = after_open;
            continue;
        };
        out.push_str(marker);
        match value(&fig, captures) {
            Ok(value) => out.push_str(&value),
            Err(problem) => {
                problems.push(problem);
                out.push_str(&after_open[..close]);
            }
        }
        out.push_str(FIG_CLOSE);
        rest = &after_open[close + FIG_CLOSE.len()..];
    }
    out.push_str(rest);
    (out, problems)
}

/// The captured blocks of every page, by id.
pub fn captures_by_id(pages: &[(String, String)]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut by_id = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, text) in pages {
        for block in blocks(text) {
            if let Some(id) = block.id
                && by_id.insert(id.clone(), block.text).is_some()
            {
                problems.push(format!("{file}: capture id `{id}` is used twice"));
            }
        }
    }
    (by_id, problems)
}

/// What is wrong with one page: broken seals, stale or unreadable figures,
/// bare measurements in prose.
pub fn check_page(text: &str, captures: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for block in blocks(text) {
        let expected = digest(&block.text);
        match &block.sealed {
            Some(seal) if *seal == expected => {}
            Some(_) => problems.push(format!(
                "the capture at line {} was edited by hand (its seal does not match): run `just docs`",
                block.line
            )),
            None => problems.push(format!("the capture at line {} has no seal: run `just docs`", block.line)),
        }
    }
    let (filled, unreadable) = fill(text, captures);
    problems.extend(unreadable);
    for (i, (now, then)) in text.lines().zip(filled.lines()).enumerate() {
        if now != then {
            problems.push(format!(
                "line {}: a figure does not read what its capture says (`just docs` fills it in)",
                i + 1
            ));
        }
    }
    for (line, figure) in bare_figures(text) {
        problems.push(format!(
            "line {line}: `{figure}` is a measurement no capture produced: put it in a capture, or refer to one \
             with <!--fig ID \"TEXT\" N-->"
        ));
    }
    problems
}

/// Numbers followed by a unit of measure in prose: outside fenced blocks,
/// inline code, HTML comments and figures. Returns (line, the figure).
pub fn bare_figures(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut fenced = false;
    let mut in_comment = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let prose = strip_non_prose(line, &mut in_comment);
        for figure in measurements(&prose) {
            found.push((i + 1, figure));
        }
    }
    found
}

/// The line without figures (marker and value), HTML comments and inline
/// code. `in_comment` carries a comment over to the next line.
fn strip_non_prose(line: &str, in_comment: &mut bool) -> String {
    let mut without_figs = String::new();
    let mut rest = line;
    while let Some(open) = rest.find(FIG_OPEN) {
        let Some(close) = rest[open..].find(FIG_CLOSE) else { break };
        without_figs.push_str(&rest[..open]);
        without_figs.push(' ');
        rest = &rest[open + close + FIG_CLOSE.len()..];
    }
    without_figs.push_str(rest);
    let mut out = String::new();
    let mut rest = without_figs.as_str();
    loop {
        if *in_comment {
            let Some(end) = rest.find("-->") else { return out };
            rest = &rest[end + 3..];
            *in_comment = false;
            out.push(' ');
            continue;
        }
        let comment = rest.find("<!--");
        let code = rest.find('`');
        match (comment, code) {
            (Some(c), k) if k.is_none_or(|k| c < k) => {
                out.push_str(&rest[..c]);
                rest = &rest[c + 4..];
                *in_comment = true;
            }
            (_, Some(k)) => {
                out.push_str(&rest[..k]);
                let Some(end) = rest[k + 1..].find('`') else { return out };
                rest = &rest[k + 1 + end + 1..];
                out.push(' ');
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// `12 ms`, `0.71×`, `33.5%`, `139k req/s`: numbers followed by a unit.
fn measurements(prose: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<(usize, char)> = prose.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let starts_number = c.is_ascii_digit() && (i == 0 || !is_word(chars[i - 1].1));
        if !starts_number {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && (chars[j].1.is_ascii_digit() || chars[j].1 == '.' || chars[j].1 == ',') {
            j += 1;
        }
        let number_end = chars.get(j).map_or(prose.len(), |&(at, _)| at);
        let number = prose[start..number_end].trim_end_matches(['.', ',']);
        let after = &prose[number_end..];
        let after_space = after.strip_prefix(' ').unwrap_or(after);
        let is_decimal = number.contains('.');
        let unit = UNITS.iter().find(|unit| {
            // `0.6x` only right after the number; other units may follow a space.
            let text = if **unit == "x" { after } else { after_space };
            text.starts_with(**unit)
                && !text[unit.len()..].chars().next().is_some_and(|n| n.is_alphanumeric())
                && (**unit != "x" || is_decimal)
        });
        if let Some(unit) = unit {
            found.push(format!("{number} {unit}").replace(" %", "%").replace(" ×", "×"));
        }
        i = j.max(i + 1);
    }
    found
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '/' || c == ':'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captures() -> BTreeMap<String, String> {
        let table = "```text\nusers logged out    67 of 200 (33.5%)    0 of 200 (0.0%)\nlatency p50 / p99   0.13 / 0.39 ms\nGET: 105596.62 requests per second, p50=0.247 msec\n```\n";
        BTreeMap::from([("demo".to_string(), table.to_string())])
    }

    #[test]
    fn a_figure_reads_the_nth_number_after_its_text() {
        let fig = parse_fig("demo \"users logged out\" 4").unwrap();
        assert_eq!(value(&fig, &captures()).unwrap(), "0");
        let p99 = parse_fig("demo \"p50 / p99\" 2").unwrap();
        assert_eq!(value(&p99, &captures()).unwrap(), "0.39");
        let spaced = parse_fig("demo \"users   logged out\" 1").unwrap();
        assert_eq!(value(&spaced, &captures()).unwrap(), "67", "white space is folded");
        let p50 = parse_fig("demo \"GET:\" 2").unwrap();
        assert_eq!(value(&p50, &captures()).unwrap(), "0.247", "the 50 of p50 is not a number");
        assert!(value(&parse_fig("demo \"nowhere\" 1").unwrap(), &captures()).is_err());
        assert!(value(&parse_fig("gone \"users\" 1").unwrap(), &captures()).is_err());
        assert_eq!(parse_fig("demo \"text\" 0"), None);
    }

    #[test]
    fn fill_rewrites_stale_values_and_check_reports_them() {
        let page = "Logged out: <!--fig demo \"users logged out\" 1-->12<!--/fig--> users.\n";
        let (filled, problems) = fill(page, &captures());
        assert!(problems.is_empty());
        assert_eq!(filled, "Logged out: <!--fig demo \"users logged out\" 1-->67<!--/fig--> users.\n");
        assert_eq!(check_page(&filled, &captures()), Vec::<String>::new());
        assert_eq!(check_page(page, &captures()).len(), 1);
    }

    #[test]
    fn a_capture_edited_by_hand_breaks_its_seal() {
        let block = "```text\nfine\n```\n";
        let page = format!("<!-- capture: harness list -->\n{block}{}\n", close_marker(block));
        assert!(check_page(&page, &BTreeMap::new()).is_empty());
        let edited = page.replace("fine", "finer");
        assert_eq!(check_page(&edited, &BTreeMap::new()).len(), 1);
        let unsealed = format!("<!-- capture: harness list -->\n{block}<!-- end capture -->\n");
        assert_eq!(check_page(&unsealed, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn bare_measurements_in_prose_are_found_and_code_is_not() {
        let text = "A lookup takes 0.3 µs, stateless is 0.71× of it (33.5%), 139k req/s and 0.6x.\n\
                    Run `--think 50ms` with 3 nodes and 200 users; see table 2.\n\
                    ```\n12 ms in a block\n```\n\
                    A figure: <!--fig demo \"users logged out\" 1-->67<!--/fig--> ms.\n\
                    An HTML comment <!-- 5 ms --> hides nothing measured.\n";
        let found: Vec<String> = bare_figures(text).into_iter().map(|(_, f)| f).collect();
        assert_eq!(found, vec!["0.3 µs", "0.71×", "33.5%", "139 k req/s", "0.6 x"]);
    }
}
