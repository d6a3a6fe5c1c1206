//! The one plain-text table writer of the harness (on `comfy-table`): a
//! header underlined with dashes, columns two spaces apart, no colours and
//! no borders, so a table reads the same in a terminal, a log and the book.

use comfy_table::{CellAlignment, Table};

/// No borders, a dashed line under the header (comfy-table's preset
/// notation: the sixth and seventh characters are the header line and its
/// crossings, a space is "nothing").
const PLAIN: &str = "     --            ";

/// A table whose first `left` columns are left-aligned and the rest
/// right-aligned (labels, then numbers).
pub fn plain(header: Vec<String>, rows: Vec<Vec<String>>, left: usize) -> String {
    let mut table = Table::new();
    table.load_preset(PLAIN).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for (index, column) in table.column_iter_mut().enumerate() {
        column.set_padding(if index == 0 { (0, 1) } else { (1, 1) });
        if index >= left {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // comfy-table's default arrangement never wraps: wide cells stay on one line.
    table.lines().map(|line| line.trim_end().to_string()).collect::<Vec<_>>().join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_left_numbers_right_and_a_dashed_header_line() {
        let text = plain(
            vec![String::new(), "stateful".into(), "stateless".into()],
            vec![vec!["requests".into(), "7".into(), "1234".into()]],
            1,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[1].chars().all(|c| c == '-' || c == ' ') && lines[1].contains("---"), "{text}");
        assert!(lines[2].starts_with("requests"), "{text}");
        assert!(lines[2].ends_with("1234"), "{text}");
        // Right-aligned: the short number ends where its header ends.
        assert_eq!(lines[0].find("stateful").map(|i| i + "stateful".len()), lines[2].find('7').map(|i| i + 1));
    }
}
