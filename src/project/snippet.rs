//! Source locations for errors: turns a byte span in a file into `file:line:column` and the
//! offending line with a caret under it, the way compilers show mistakes.

use std::ops::Range;
use std::path::Path;

/// A location in a file the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

/// Line and column (both 1-based) of a byte offset in `source`.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Formats an error message located at `span` of `source` (read from `file`):
///
/// ```text
/// error message
///   --> wharf.toml:12:1
///    |
/// 12 | desird_count = 2
///    | ^^^^^^^^^^^^
/// ```
pub fn snippet(file: &Path, source: &str, span: Range<usize>, message: &str) -> String {
    let (line, column) = line_col(source, span.start);
    let text = source.lines().nth(line - 1).unwrap_or("");
    let width = line.to_string().len();
    let caret_start = column - 1;
    let line_chars = text.chars().count();
    let span_chars = source
        .get(span.start.min(source.len())..span.end.min(source.len()))
        .map(|s| s.lines().next().unwrap_or("").chars().count())
        .unwrap_or(1);
    let carets = span_chars.clamp(1, line_chars.saturating_sub(caret_start).max(1));
    format!(
        "{message}\n{pad} --> {file}:{line}:{column}\n{pad} |\n{line} | {text}\n{pad} | {spaces}{carets}",
        pad = " ".repeat(width),
        file = file.display(),
        spaces = " ".repeat(caret_start),
        carets = "^".repeat(carets),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 6), (2, 1));
        assert_eq!(line_col(src, 9), (2, 4));
    }

    #[test]
    fn snippet_points_at_the_span() {
        let src = "app = \"x\"\ndesird_count = 2\n";
        let out = snippet(Path::new("wharf.toml"), src, 10..22, "error: unknown key");
        assert_eq!(
            out,
            "error: unknown key\n  --> wharf.toml:2:1\n  |\n2 | desird_count = 2\n  | ^^^^^^^^^^^^"
        );
    }
}
