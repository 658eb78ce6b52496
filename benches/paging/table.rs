//! Markdown tables, the bench's only output format.
//!
//! It owns the layout: a header row, an alignment row and padded cells, so
//! that the text reads well in a terminal and renders in the docs. It knows
//! nothing of what the cells mean.

/// A table being filled row by row.
pub struct Table {
    headers: Vec<String>,
    right_aligned: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers; a header starting with `>` is
    /// right-aligned (for numbers) and shown without the `>`.
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers
                .iter()
                .map(|h| h.trim_start_matches('>').to_owned())
                .collect(),
            right_aligned: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells are left empty, extra ones are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The table as markdown, ending in a newline.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                let cells = self.rows.iter().map(|row| row[i].chars().count());
                cells
                    .chain([self.headers[i].chars().count(), 3])
                    .max()
                    .unwrap_or(3)
            })
            .collect();

        let mut out = self.line(&self.headers, &widths);
        let rule: Vec<String> = widths
            .iter()
            .zip(&self.right_aligned)
            .map(|(w, right)| match right {
                true => format!("{}:", "-".repeat(w - 1)),
                false => "-".repeat(*w),
            })
            .collect();
        out.push_str(&self.line(&rule, &widths));
        for row in &self.rows {
            out.push_str(&self.line(row, &widths));
        }
        out
    }

    fn line(&self, cells: &[String], widths: &[usize]) -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .zip(&self.right_aligned)
            .map(|((cell, width), right)| match right {
                true => format!("{cell:>width$}"),
                false => format!("{cell:<width$}"),
            })
            .collect();
        format!("| {} |\n", padded.join(" | "))
    }
}
