//! What the charts are drawn with: a small SVG writer, the Okabe–Ito
//! colour-blind-safe palette with hatch patterns for the classes a reader
//! must tell apart without colour, round axis ticks, and event labels
//! placed in rows so that labels close in time do not overlap.

use std::fmt::Write as _;

/// The Okabe–Ito palette (Okabe and Ito, "Color Universal Design"): eight
/// colours that stay distinct for the common kinds of colour blindness.
pub mod colour {
    /// Orange.
    pub const ORANGE: &str = "#E69F00";
    /// Sky blue.
    pub const SKY_BLUE: &str = "#56B4E9";
    /// Bluish green.
    pub const BLUISH_GREEN: &str = "#009E73";
    /// Yellow.
    pub const YELLOW: &str = "#F0E442";
    /// Blue.
    pub const BLUE: &str = "#0072B2";
    /// Vermillion.
    pub const VERMILLION: &str = "#D55E00";
    /// Reddish purple.
    pub const REDDISH_PURPLE: &str = "#CC79A7";
    /// Neutral grey for totals, beside which a part is drawn hatched.
    pub const GREY: &str = "#D9D9D9";
    /// Axis text and grid.
    pub const AXIS: &str = "#555555";
    /// Grid lines.
    pub const GRID: &str = "#E4E4E4";
}

/// Fills that do not rely on colour: each is a colour with a pattern over
/// it, so a reader in greyscale still tells them apart (`fill="url(#…)"`).
pub mod fill {
    /// A 401 after login: orange, black stripes rising to the right.
    pub const UNAUTHORIZED: &str = "url(#hatch-401)";
    /// A failed request: vermillion, black cross-hatch.
    pub const FAILED: &str = "url(#hatch-failed)";
    /// What a scenario counts as lost (an add, a replay accepted):
    /// vermillion, black stripes falling to the right.
    pub const LOST: &str = "url(#hatch-lost)";
    /// Stripes over any colour (a node that joined mid-run).
    pub const OVERLAY: &str = "url(#hatch-overlay)";
}

/// The `<defs>` the fills of [`fill`] refer to.
fn patterns() -> String {
    let striped = |id: &str, colour: &str, angle: i32| {
        format!(
            r#"<pattern id="{id}" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate({angle})"><rect width="5" height="5" fill="{colour}"/><line x1="1" y1="0" x2="1" y2="5" stroke="black" stroke-width="1.4"/></pattern>"#
        )
    };
    let mut defs = String::from("<defs>");
    defs.push_str(&striped("hatch-401", colour::ORANGE, 45));
    defs.push_str(&striped("hatch-lost", colour::VERMILLION, -45));
    defs.push_str(&format!(
        r#"<pattern id="hatch-failed" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="5" height="5" fill="{}"/><line x1="1" y1="0" x2="1" y2="5" stroke="black" stroke-width="1"/><line x1="0" y1="1" x2="5" y2="1" stroke="black" stroke-width="1"/></pattern>"#,
        colour::VERMILLION
    ));
    defs.push_str(
        r#"<pattern id="hatch-overlay" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)"><line x1="1" y1="0" x2="1" y2="6" stroke="black" stroke-width="1.5"/></pattern>"#,
    );
    defs.push_str("</defs>");
    defs
}

/// An SVG document written as text, element by element. Text given to it
/// is escaped.
pub struct Svg {
    out: String,
}

impl Svg {
    /// A `width` × `height` document on a white background, with `title`
    /// (what a screen reader announces) and the patterns of [`fill`].
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::new();
        let _ = writeln!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12" role="img">"#
        );
        let _ = writeln!(out, "<title>{}</title>", escape(title));
        out.push_str(&patterns());
        out.push('\n');
        out.push_str(r#"<rect width="100%" height="100%" fill="white"/>"#);
        out.push('\n');
        Svg { out }
    }

    /// A rectangle; `tip`, when given, shows on hover.
    pub fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, fill: &str, tip: Option<&str>) {
        let _ = write!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}""#,
            width.max(0.0),
            height.max(0.0)
        );
        match tip {
            Some(tip) => {
                let _ = writeln!(self.out, "><title>{}</title></rect>", escape(tip));
            }
            None => self.out.push_str("/>\n"),
        }
    }

    /// A rectangle with an outline.
    pub fn outlined(&mut self, x: f64, y: f64, width: f64, height: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}" stroke="{stroke}" stroke-width="0.6"/>"#,
            width.max(0.0),
            height.max(0.0)
        );
    }

    /// A line; `dash` is an SVG dash array (`"4,3"`), empty for solid.
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, dash: &str) {
        let _ = write!(self.out, r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}""#);
        if !dash.is_empty() {
            let _ = write!(self.out, r#" stroke-dasharray="{dash}""#);
        }
        self.out.push_str("/>\n");
    }

    /// Text at (`x`, `y`); `attributes` are added as they are
    /// (`text-anchor="end" fill="…"`).
    pub fn text(&mut self, x: f64, y: f64, text: &str, attributes: &str) {
        let _ = writeln!(self.out, r#"<text x="{x:.1}" y="{y:.1}" {attributes}>{}</text>"#, escape(text));
    }

    /// Bold text followed by plain text, in one line.
    pub fn bold_then_plain(&mut self, x: f64, y: f64, bold: &str, plain: &str, attributes: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{x:.1}" y="{y:.1}" {attributes}><tspan font-weight="bold">{}</tspan> {}</text>"#,
            escape(bold),
            escape(plain)
        );
    }

    /// Text turned a quarter to the left, centred on (`x`, `y`): a y axis's
    /// label.
    pub fn vertical_text(&mut self, x: f64, y: f64, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text transform="translate({x:.1},{y:.1}) rotate(-90)" text-anchor="middle" font-size="11" fill="{}">{}</text>"#,
            colour::AXIS,
            escape(text)
        );
    }

    /// A legend entry starting at `x`: a swatch painted with `fills` one
    /// over the other (a dashed line when there are none), then its label;
    /// returns where the next entry starts.
    pub fn legend_entry(&mut self, x: f64, y: f64, fills: &[&str], label: &str) -> f64 {
        for fill in fills {
            self.outlined(x, y - 9.0, 12.0, 10.0, fill, colour::AXIS);
        }
        if fills.is_empty() {
            self.line((x + 6.0, y - 11.0), (x + 6.0, y + 2.0), "black", "4,3");
        }
        self.text(x + 16.0, y, label, "");
        x + 16.0 + text_width(label, 12.0) + 14.0
    }

    /// A legend's lead-in text at `x`; returns where its first entry starts.
    pub fn legend_entry_title(&mut self, x: f64, y: f64, title: &str) -> f64 {
        self.text(x, y, title, r#"font-weight="bold""#);
        x + text_width(title, 12.0) + 10.0
    }

    /// The document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// About how wide `text` is in the chart's sans-serif at `size` px (a
/// little wide, so that estimated gaps are real gaps).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.6
}

/// Escapes text for SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Round tick values from 0 that cover `peak` in at most about `most`
/// steps of 1, 2 or 5 × 10ⁿ (never below `smallest`): the last one is the
/// top of the axis.
pub fn ticks(peak: f64, most: usize, smallest: f64) -> Vec<f64> {
    let peak = if peak > 0.0 { peak } else { smallest.max(f64::MIN_POSITIVE) };
    let raw = peak / most.max(1) as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw).max(smallest);
    let steps = (peak / step - 1e-9).ceil().max(1.0) as usize;
    (0..=steps).map(|i| i as f64 * step).collect()
}

/// Where an event label goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    /// Its row, 0 the top one.
    pub row: usize,
    /// Where its text starts (left edge).
    pub x: f64,
}

/// Places labels of `width` px for lines at `x` (in order of `x`): each
/// to the right of its line, or to its left near the `right` edge, in the
/// first row where it keeps clear of the labels already there.
pub fn place_labels(labels: &[(f64, f64)], right: f64) -> Vec<Placement> {
    const GAP: f64 = 3.0;
    const CLEAR: f64 = 8.0;
    let mut ends: Vec<f64> = Vec::new();
    labels
        .iter()
        .map(|&(x, width)| {
            let start = if x + GAP + width <= right { x + GAP } else { x - GAP - width };
            let row = match ends.iter().position(|&end| end + CLEAR <= start) {
                Some(row) => row,
                None => {
                    ends.push(f64::NEG_INFINITY);
                    ends.len() - 1
                }
            };
            ends[row] = start + width;
            Placement { row, x: start }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_peak() {
        assert_eq!(ticks(437.0, 5, 1.0), vec![0.0, 100.0, 200.0, 300.0, 400.0, 500.0]);
        assert_eq!(ticks(437.0, 2, 1.0), vec![0.0, 500.0]);
        assert_eq!(ticks(100.0, 4, 1.0), vec![0.0, 50.0, 100.0]);
        assert_eq!(ticks(3.0, 4, 1.0), vec![0.0, 1.0, 2.0, 3.0]);
        // Counts: never a step below one.
        assert_eq!(ticks(0.4, 4, 1.0), vec![0.0, 1.0]);
        assert_eq!(ticks(0.0, 4, 1.0), vec![0.0, 1.0]);
    }

    #[test]
    fn labels_close_in_time_go_to_different_rows_and_never_overlap() {
        // A restart and a start 100 ms apart, then one alone, then two near
        // the right edge.
        let labels = [(100.0, 120.0), (105.0, 110.0), (400.0, 100.0), (890.0, 90.0), (895.0, 80.0)];
        let placed = place_labels(&labels, 900.0);
        assert_eq!(placed[0].row, 0);
        assert_eq!(placed[1].row, 1);
        assert_eq!(placed[2].row, 0, "a label far from the others goes back to the top row");
        assert!(placed[3].x + labels[3].1 <= 900.0, "a label near the edge turns left of its line");
        for (i, a) in placed.iter().enumerate() {
            for (j, b) in placed.iter().enumerate().skip(i + 1) {
                let overlap = a.x < b.x + labels[j].1 && b.x < a.x + labels[i].1;
                assert!(a.row != b.row || !overlap, "labels {i} and {j} overlap: {placed:?}");
            }
        }
    }
}
