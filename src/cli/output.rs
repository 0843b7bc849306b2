//! Plain-text tables and JSON output shared by the commands.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// Set once standard output is gone (a closed pipe, as in `hyalto … | head -1`).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to standard output; what the binary's `print!` and `println!` expand to.
///
/// The standard macros panic when the reader has gone away, and Rust ignores SIGPIPE, so
/// `hyalto connectwise mappings | head -1` would end in a panic. Here a closed stdout only
/// stops the printing: the command still finishes what it was doing (a mapping stored, a sync
/// recorded) and exits with its own status.
pub fn write_stdout(args: fmt::Arguments<'_>) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }

    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout.write_fmt(args) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(error = %error, "could not write to standard output; output stops here");
        }
    }
}

/// An error and its causes as one line, each distinct cause once.
///
/// Many errors put their cause's text in their own message and also hand the cause out as
/// their source, so `{:#}` would print the same words twice or more: during an outage the
/// connection error came out several times in one line. A cause is left out when the text
/// before it already holds its message.
pub fn error_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A table printed with columns padded to their widest cell.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<I, S>(header: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, ending in a newline.
    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|cell| width(cell)).collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate().take(columns) {
                widths[index] = widths[index].max(width(cell));
            }
        }

        let mut text = String::new();
        let mut line = |cells: &[String]| {
            let mut rendered = String::new();
            for (index, width_wanted) in widths.iter().enumerate() {
                let cell = cells.get(index).map(String::as_str).unwrap_or("");
                if index + 1 == columns {
                    rendered.push_str(cell);
                } else {
                    let padding = width_wanted.saturating_sub(width(cell));
                    let _ = write!(rendered, "{cell}{}  ", " ".repeat(padding));
                }
            }
            text.push_str(rendered.trim_end());
            text.push('\n');
        };
        line(&self.header);
        for row in &self.rows {
            line(row);
        }
        text
    }
}

/// Display width, counted in characters: close enough for names with accents; wide CJK
/// characters make their row one column wider, which only shifts that row.
fn width(text: &str) -> usize {
    text.chars().count()
}

/// Prints `value` as pretty JSON on standard output.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_line_says_each_distinct_cause_once() {
        // Like many of hyalto's errors, it puts its cause in its message and hands it out as
        // its source as well.
        #[derive(Debug)]
        struct Wrapping(std::io::Error);
        impl fmt::Display for Wrapping {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "could not read the agreements: {}", self.0)
            }
        }
        impl std::error::Error for Wrapping {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let cause = std::io::Error::other("connection refused");
        let error = anyhow::Error::new(Wrapping(cause)).context("the refresh stopped");

        let line = error_line(&error);

        assert_eq!(
            line,
            "the refresh stopped: could not read the agreements: connection refused"
        );
    }

    #[test]
    fn columns_are_padded_to_the_widest_cell() {
        let mut table = Table::new(["ID", "NAME"]);
        table.row(["1", "Ødegaard Café"]);
        table.row(["1234", "A"]);

        let text = table.render();

        assert_eq!(text, "ID    NAME\n1     Ødegaard Café\n1234  A\n");
    }
}
