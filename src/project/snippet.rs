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
    let line_chars = text.chars().count();
    let span_chars = source
        .get(span.start.min(source.len())..span.end.min(source.len()))
        .map(|s| s.lines().next().unwrap_or("").chars().count())
        .unwrap_or(1);
    let carets = span_chars.clamp(1, line_chars.saturating_sub(column - 1).max(1));
    // A long line (minified JSON, a one-line file) is shown as a window around the column.
    let (shown, caret_start, carets) = if line_chars > WINDOW {
        let from = (column - 1).saturating_sub(WINDOW / 2);
        let to = (from + WINDOW).min(line_chars);
        let from = to.saturating_sub(WINDOW).min(from);
        let cut: String = text.chars().skip(from).take(to - from).collect();
        let lead = if from > 0 { "…" } else { "" };
        let tail = if to < line_chars { "…" } else { "" };
        let caret_start = column - 1 - from + lead.chars().count();
        let carets = carets.min(to - (column - 1)).max(1);
        (format!("{lead}{cut}{tail}"), caret_start, carets)
    } else {
        (text.to_string(), column - 1, carets)
    };
    format!(
        "{message}\n{pad} --> {file}:{line}:{column}\n{pad} |\n{line} | {shown}\n{pad} | {spaces}{carets}",
        pad = " ".repeat(width),
        file = file.display(),
        spaces = " ".repeat(caret_start),
        carets = "^".repeat(carets),
    )
}

/// Characters of a line a snippet shows at most.
const WINDOW: usize = 120;

/// The text of a file the user wrote (project file, template): a leading UTF-8 byte-order mark
/// is dropped (editors and the AWS console write one at times), and what cannot be read is
/// named precisely: a folder, a symbolic-link loop, a missing file, bytes that are not UTF-8
/// (with the line and column of the first one). `what` names the file ("project file").
pub fn read_text(path: &Path, what: &str) -> Result<String, String> {
    let shown = path.display();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            return Err(match e.kind() {
                _ if path.is_dir() => format!("{what} {shown} is a folder, not a file"),
                std::io::ErrorKind::NotFound if path.symlink_metadata().is_ok() => {
                    format!("{what} {shown} is a symbolic link to a file that does not exist")
                }
                std::io::ErrorKind::NotFound => format!("{what} {shown} does not exist"),
                _ if e.raw_os_error() == Some(40) => {
                    format!("{what} {shown} is a symbolic link loop (a link that points back at itself)")
                }
                _ => format!("cannot read {what} {shown}: {e}"),
            })
        }
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let good = e.valid_up_to();
            let lossy = String::from_utf8_lossy(bytes);
            // Up to `good` the lossy text is the file itself, so the offset carries over.
            let byte = bytes[good];
            Err(snippet(
                path,
                &lossy,
                good..good + 1,
                &format!("error: {what} {shown} is not UTF-8 text: byte 0x{byte:02X} here is not valid UTF-8 (save the file as UTF-8; Latin-1 or Windows-1252 text is the usual cause)"),
            ))
        }
    }
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
    fn long_lines_show_a_window_around_the_column() {
        let line = format!("{}BAD{}", "a".repeat(5_000_000), "b".repeat(5_000_000));
        let out = snippet(Path::new("x.json"), &line, 5_000_000..5_000_003, "error: e");
        assert!(out.len() < 600, "{} bytes", out.len());
        assert!(out.contains("--> x.json:1:5000001"), "{out}");
        let lines: Vec<&str> = out.lines().collect();
        let text = lines[3];
        let carets = lines[4];
        let at = carets.find('^').unwrap();
        assert_eq!(&carets[at..], "^^^");
        // The caret sits under the B of BAD (counted in characters: the window starts with …).
        let shown: Vec<char> = text.chars().collect();
        let caret_col = carets.chars().position(|c| c == '^').unwrap();
        assert_eq!(shown[caret_col], 'B', "{text}\n{carets}");
    }

    #[test]
    fn files_that_cannot_be_read_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("folder")).unwrap();
        assert!(read_text(&d.join("folder"), "template")
            .unwrap_err()
            .contains("is a folder"));
        std::os::unix::fs::symlink(d.join("loop"), d.join("loop")).unwrap();
        assert!(read_text(&d.join("loop"), "template")
            .unwrap_err()
            .contains("symbolic link loop"));
        std::os::unix::fs::symlink(d.join("nowhere"), d.join("dangling")).unwrap();
        assert!(read_text(&d.join("dangling"), "template")
            .unwrap_err()
            .contains("link to a file that does not exist"));
        assert!(read_text(&d.join("missing"), "template")
            .unwrap_err()
            .contains("does not exist"));
        std::fs::write(d.join("bom"), b"\xEF\xBB\xBF{}").unwrap();
        assert_eq!(read_text(&d.join("bom"), "template").unwrap(), "{}");
        std::fs::write(d.join("latin1"), b"a = 1\nname = \"caf\xE9\"\n").unwrap();
        let e = read_text(&d.join("latin1"), "project file").unwrap_err();
        assert!(e.contains("not UTF-8") && e.contains("0xE9"), "{e}");
        assert!(e.contains(":2:12"), "{e}");
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
