//! Text helpers shared by every layer: unified diffs of task definitions and service settings
//! (as `wharf diff` and `wharf deploy --dry-run` show them), "did you mean" suggestions, hex.

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// Pretty JSON with sorted keys, so diffs show changes and not ordering.
pub fn pretty(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut s = serde_json::to_string_pretty(&sorted(v)).expect("JSON values serialize");
    s.push('\n');
    s
}

/// A unified diff of `old` and `new` (empty when they are equal), coloured when `color`.
pub fn unified(old: &str, new: &str, old_name: &str, new_name: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let mut out = format!("--- {old_name}\n+++ {new_name}\n");
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&format!("{}\n", hunk.header()));
        for change in hunk.iter_changes() {
            let (sign, styled): (&str, fn(String) -> String) = match change.tag() {
                ChangeTag::Delete => ("-", |s| console::style(s).red().to_string()),
                ChangeTag::Insert => ("+", |s| console::style(s).green().to_string()),
                ChangeTag::Equal => (" ", |s| s),
            };
            let mut line = format!("{sign}{}", change.value());
            if !line.ends_with('\n') {
                line.push('\n');
            }
            if color {
                let trimmed = line.trim_end_matches('\n').to_string();
                out.push_str(&styled(trimmed));
                out.push('\n');
            } else {
                out.push_str(&line);
            }
        }
    }
    out
}

/// Lower-case hexadecimal of `bytes` (digests in S3 ETags, registry digests, cache names).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The candidate closest to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(name, c),
                strsim::jaro_winkler(name, c),
                c,
            )
        })
        .filter(|(distance, score, _)| *distance <= limit || *score >= 0.85)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_shows_changed_lines_only_in_context() {
        let a = pretty(&json!({"family": "web", "cpu": "256"}));
        let b = pretty(&json!({"cpu": "512", "family": "web"}));
        assert_eq!(
            unified(&a, &b, "live web:3", "rendered", false),
            "--- live web:3\n+++ rendered\n@@ -1,4 +1,4 @@\n {\n-  \"cpu\": \"256\",\n+  \"cpu\": \"512\",\n   \"family\": \"web\"\n }\n"
        );
        assert_eq!(unified(&a, &a, "x", "y", false), "");
    }
}
