//! Reading a project file so that one run reports every problem, not only the first. The `toml`
//! crate stops at the first error; this module asks it again and again, each time with the
//! offending entry blanked out (bytes replaced by spaces, so every later offset and line number
//! stays that of the file the user wrote):
//!
//! - syntax errors: the offending line is blanked, and parsing goes on below it;
//! - errors of meaning (unknown keys, wrong types): the key-value (or the table) that holds the
//!   error is found with `toml_edit`'s spans and blanked, and deserialising goes on.
//!
//! The errors come back in file order with the file's own locations.

use std::ops::Range;

/// At most this many problems from one file (past that, the rest is noise).
pub const MAX_PROBLEMS: usize = 50;

/// One error of the `toml` crate: its message and span (in the file's offsets).
#[derive(Debug, Clone)]
pub struct Found {
    pub message: String,
    pub span: Range<usize>,
}

/// Every syntax error of `source`. `clean` says whether blanking them left a file whose other
/// problems can be trusted (only plain `key = value` lines were blanked, no table header and no
/// part of a multi-line value).
pub fn syntax_errors(source: &str) -> (Vec<Found>, bool, String) {
    let mut text = source.to_string();
    let mut found: Vec<Found> = Vec::new();
    let mut clean = true;
    while found.len() < MAX_PROBLEMS {
        let Err(e) = text.parse::<toml::Table>() else {
            break;
        };
        let span = e.span().unwrap_or(0..0);
        let line = line_bounds(&text, span.start);
        if found
            .last()
            .is_some_and(|last| line.start <= line_bounds(&text, last.span.start).start)
        {
            // No progress past the last error (it reaches further than its line): stop.
            clean = false;
            break;
        }
        let raw = &text[line.clone()];
        if !plain_key_value(raw) {
            clean = false;
        }
        found.push(Found {
            message: e.message().to_string(),
            span,
        });
        if raw.trim().is_empty() {
            clean = false;
            break;
        }
        blank(&mut text, line);
    }
    (found, clean, text)
}

/// Deserialises `text` into `T`, blanking each entry an error points at and going on; the
/// errors, and the value once `text` deserialises (None when an error could not be stepped
/// over, a missing key for one).
pub fn deserialize<T: serde::de::DeserializeOwned>(text: &str) -> (Vec<Found>, Option<T>) {
    let mut text = text.to_string();
    let mut found = Vec::new();
    loop {
        match toml::from_str::<T>(&text) {
            Ok(value) => return (found, Some(value)),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                found.push(Found {
                    message: e.message().to_string(),
                    span: span.clone(),
                });
                // A missing key cannot be stepped over by blanking anything.
                if found.len() >= MAX_PROBLEMS || e.message().starts_with("missing field") {
                    return (found, None);
                }
                match entry_at(&text, span.start) {
                    Some(entry) if !entry.is_empty() => blank(&mut text, entry),
                    _ => return (found, None),
                }
            }
        }
    }
}

/// The line of `offset` (without its newline).
fn line_bounds(text: &str, offset: usize) -> Range<usize> {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    start..end
}

/// `key = value` on one line, nothing that opens a table or a value going on below.
fn plain_key_value(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with('[') {
        return false;
    }
    let Some((_, value)) = t.split_once('=') else {
        return false;
    };
    let v = value.trim_start();
    !(v.starts_with('[') || v.starts_with('{') || v.starts_with("\"\"\"") || v.starts_with("'''"))
}

/// Replaces `range` of `text` by spaces (newlines kept), so offsets and lines stay.
fn blank(text: &mut String, range: Range<usize>) {
    let blanked: String = text[range.clone()]
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' {
                c.to_string()
            } else {
                " ".repeat(c.len_utf8())
            }
        })
        .collect();
    text.replace_range(range, &blanked);
}

/// The entry (key and value, or a whole table with its header) innermost around `offset`,
/// with the comma that separates it from its neighbours inside an inline table.
fn entry_at(text: &str, offset: usize) -> Option<Range<usize>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let range = in_table(doc.as_table(), offset)?;
    Some(with_separator(text, range))
}

fn union(a: Option<Range<usize>>, b: Option<Range<usize>>) -> Option<Range<usize>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.start.min(b.start)..a.end.max(b.end)),
        (a, b) => a.or(b),
    }
}

/// Everything `item` covers in the file.
fn extent(item: &toml_edit::Item) -> Option<Range<usize>> {
    match item {
        toml_edit::Item::Table(t) => t.iter().fold(t.span(), |acc, (k, i)| {
            union(union(acc, t.key(k).and_then(|k| k.span())), extent(i))
        }),
        toml_edit::Item::ArrayOfTables(a) => a.iter().fold(a.span(), |acc, t| {
            union(acc, extent(&toml_edit::Item::Table(t.clone())))
        }),
        toml_edit::Item::Value(v) => v.span(),
        toml_edit::Item::None => None,
    }
}

fn in_table(table: &toml_edit::Table, offset: usize) -> Option<Range<usize>> {
    for (k, item) in table.iter() {
        let key = table.key(k).and_then(|k| k.span());
        let Some(full) = union(key, extent(item)) else {
            continue;
        };
        if !full.contains(&offset) {
            continue;
        }
        let inner = match item {
            toml_edit::Item::Table(t) => in_table(t, offset),
            toml_edit::Item::ArrayOfTables(a) => a.iter().find_map(|t| {
                let r = extent(&toml_edit::Item::Table(t.clone()))?;
                if r.contains(&offset) {
                    in_table(t, offset).or(Some(r))
                } else {
                    None
                }
            }),
            toml_edit::Item::Value(v) => in_value(v, offset),
            toml_edit::Item::None => None,
        };
        return Some(inner.unwrap_or(full));
    }
    None
}

fn in_value(value: &toml_edit::Value, offset: usize) -> Option<Range<usize>> {
    match value {
        toml_edit::Value::InlineTable(t) => {
            for (k, v) in t.iter() {
                let key = t.key(k).and_then(|k| k.span());
                let Some(full) = union(key, v.span()) else {
                    continue;
                };
                if full.contains(&offset) {
                    return Some(in_value(v, offset).unwrap_or(full));
                }
            }
            None
        }
        toml_edit::Value::Array(a) => a.iter().find_map(|v| match v {
            toml_edit::Value::InlineTable(_) => in_value(v, offset),
            _ => None,
        }),
        _ => None,
    }
}

/// `range` and the comma after it (or else before it), when it sits in an inline table or array.
fn with_separator(text: &str, range: Range<usize>) -> Range<usize> {
    let after = &text[range.end..];
    let skipped = after.len() - after.trim_start_matches([' ', '\t']).len();
    if after[skipped..].starts_with(',') {
        return range.start..range.end + skipped + 1;
    }
    let before = &text[..range.start];
    let trimmed = before.trim_end_matches([' ', '\t']);
    if trimmed.ends_with(',') {
        return trimmed.len() - 1..range.end;
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        app: String,
        #[serde(default)]
        services: std::collections::BTreeMap<String, Svc>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Svc {
        count: Option<u32>,
        deployment: Option<Dep>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Dep {
        max: Option<u32>,
        min: Option<u32>,
    }

    fn messages(found: &[Found], text: &str) -> Vec<String> {
        found
            .iter()
            .map(|f| {
                let (l, c) = crate::project::snippet::line_col(text, f.span.start);
                format!("{l}:{c} {}", f.message.lines().next().unwrap_or(""))
            })
            .collect()
    }

    #[test]
    fn every_syntax_error_is_found() {
        let src = "app = \"x\nb = 1\nc = = 2\nd = 3\n";
        let (found, clean, _) = syntax_errors(src);
        let m = messages(&found, src);
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("1:"), "{m:?}");
        assert!(m[1].starts_with("3:"), "{m:?}");
        assert!(clean);
    }

    #[test]
    fn every_unknown_key_and_wrong_type_is_found() {
        let src = "app = \"x\"\n[services.web]\ncont = 2\ndeployment = { max = \"x\", min = 1, mix = 2 }\n[services.api]\ncount = -1\n[servics.db]\ncount = 1\n";
        let (found, value) = deserialize::<Doc>(src);
        let m = messages(&found, src);
        assert_eq!(m.len(), 5, "{m:?}");
        assert!(m[0].starts_with("3:1 unknown field `cont`"), "{m:?}");
        assert!(m[1].starts_with("4:22 invalid type"), "{m:?}");
        assert!(m[2].starts_with("4:36 unknown field `mix`"), "{m:?}");
        assert!(m[3].starts_with("6:9 invalid value"), "{m:?}");
        assert!(m[4].starts_with("7:2 unknown field `servics`"), "{m:?}");
        assert!(value.is_some());
    }

    #[test]
    fn a_missing_key_ends_the_search() {
        let (found, value) = deserialize::<Doc>("[services.web]\ncount = 1\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("missing field `app`"));
        assert!(value.is_none());
    }
}
