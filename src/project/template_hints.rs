//! Where a template mistake starts, and what it probably meant. minijinja reports a construct
//! left open (`{% if %}` without `{% endif %}`, `{#` without `#}`) where the file ends; these
//! helpers find the place that opened it, and recognise `{{`/`{#` that were never meant as
//! template syntax: shell's `${#VAR}`, Docker and Go templates (`{{.Name}}`), and the Go
//! template functions of ecspresso projects (`must_env`, `tfstate`).

use std::ops::Range;

/// Something a template opened and never closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Open {
    /// The opening delimiter (or the whole opening tag, for blocks).
    pub span: Range<usize>,
    pub kind: OpenKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenKind {
    /// `{#` with no `#}`; `shell` when it is the `{#` of a shell `${#VAR}`.
    Comment { shell: bool },
    /// `{{` with no `}}`.
    Variable,
    /// `{%` with no `%}`.
    Tag,
    /// `{% NAME … %}` with no `{% endNAME %}`.
    Block(String),
}

const BLOCKS: &[&str] = &[
    "if",
    "for",
    "macro",
    "call",
    "filter",
    "block",
    "with",
    "autoescape",
];

const FIXES: &str = "wrap the literal text in {% raw %}…{% endraw %}, or give this service \
     `template_delimiters` (or `templating = false`) in wharf.toml";

impl Open {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match &self.kind {
            OpenKind::Comment { shell: true } => format!(
                "`${{#…}}` is shell's string length, but `{{#` starts a template comment; {FIXES}"
            ),
            OpenKind::Comment { shell: false } => {
                format!("`{{#` starts a template comment that needs a closing `#}}`; if it is literal text, {FIXES}")
            }
            OpenKind::Variable => "`{{` needs a closing `}}`".to_string(),
            OpenKind::Tag => "`{%` needs a closing `%}`".to_string(),
            OpenKind::Block(name) => {
                format!("this `{{% {name} %}}` is never closed: add `{{% end{name} %}}`")
            }
        })
    }
}

/// The innermost construct `source` leaves open, if any (default delimiters).
pub fn unclosed(source: &str) -> Option<Open> {
    let mut stack: Vec<(String, Range<usize>)> = Vec::new();
    let mut i = 0;
    while let Some(found) = source[i..].find('{') {
        let at = i + found;
        let rest = &source[at..];
        if let Some(after) = rest.strip_prefix("{#") {
            match after.find("#}") {
                Some(end) => i = at + 2 + end + 2,
                None => {
                    let shell = source[..at].ends_with('$');
                    return Some(Open {
                        span: at..at + 2,
                        kind: OpenKind::Comment { shell },
                    });
                }
            }
        } else if let Some(after) = rest.strip_prefix("{{") {
            match after.find("}}") {
                Some(end) => i = at + 2 + end + 2,
                None => {
                    return Some(Open {
                        span: at..at + 2,
                        kind: OpenKind::Variable,
                    })
                }
            }
        } else if let Some(after) = rest.strip_prefix("{%") {
            let Some(end) = after.find("%}") else {
                return Some(Open {
                    span: at..at + 2,
                    kind: OpenKind::Tag,
                });
            };
            let tag_end = at + 2 + end + 2;
            let inner =
                after[..end].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
            let word = inner.split_whitespace().next().unwrap_or("");
            if word == "raw" {
                match find_endraw(&source[tag_end..]) {
                    Some(e) => i = tag_end + e,
                    None => {
                        return Some(Open {
                            span: at..tag_end,
                            kind: OpenKind::Block("raw".into()),
                        })
                    }
                }
                continue;
            }
            if BLOCKS.contains(&word) || (word == "set" && !inner.contains('=')) {
                stack.push((word.to_string(), at..tag_end));
            } else if let Some(name) = word.strip_prefix("end") {
                if stack.last().is_some_and(|(w, _)| w == name) {
                    stack.pop();
                }
            }
            i = tag_end;
        } else {
            i = at + 1;
        }
    }
    stack.pop().map(|(name, span)| Open {
        span,
        kind: OpenKind::Block(name),
    })
}

/// Offset just after the `{% endraw %}` in `text`.
fn find_endraw(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text[from..].find("{%") {
        let start = from + at;
        let end = text[start..].find("%}")? + start + 2;
        let inner = text[start + 2..end - 2].trim_matches(|c: char| c == '-' || c.is_whitespace());
        if inner == "endraw" {
            return Some(end);
        }
        from = end;
    }
    None
}

/// A hint when the text around `span` (or anywhere in `source`) uses `{{ }}` the way Docker, Go
/// or ecspresso templates do.
pub fn literal_syntax(source: &str, span: Option<Range<usize>>) -> Option<String> {
    // The template engine's byte range may fall inside a character (found by fuzzing: an error
    // next to a byte-order mark in mid-file); step back to character boundaries.
    let boundary = |mut i: usize| {
        i = i.min(source.len());
        while !source.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let near = span
        .map(|s| {
            let (from, to) = (boundary(s.start), boundary(s.end.max(s.start)));
            let start = source[..from].rfind('\n').map_or(0, |n| n + 1);
            let end = source[to..].find('\n').map_or(source.len(), |n| to + n);
            &source[start..end]
        })
        .unwrap_or(source);
    let compact: String = near.chars().filter(|c| !c.is_whitespace()).collect();
    for (needle, replacement) in [
        ("must_env", "{{ env_var('NAME') }}"),
        ("tfstate", "{{ tf.OUTPUT }}"),
    ] {
        if compact.contains(&format!("{{{{{needle}")) {
            return Some(format!(
                "`{needle}` is a function of ecspresso's Go templates; in wharf write {replacement} (docs/importing.md)"
            ));
        }
    }
    if compact.contains("{{env\"") || compact.contains("{{env`") {
        return Some("`{{ env \"NAME\" \"default\" }}` is ecspresso's Go template; in wharf write {{ env_var('NAME', 'default') }}".into());
    }
    if compact.contains("{{.") {
        return Some(format!(
            "`{{{{.Name}}}}` is Docker/Go template syntax (log tags, --format), not wharf's; {FIXES}"
        ));
    }
    if near.contains("${#") {
        return Some(format!(
            "`${{#…}}` is shell's string length, but `{{#` starts a template comment; {FIXES}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_if_is_found_at_its_tag() {
        let src = "a {% if x %} b {% for y in z %}{{ y }}{% endfor %} c {{ d }}";
        let open = unclosed(src).unwrap();
        assert_eq!(&src[open.span.clone()], "{% if x %}");
        assert_eq!(open.kind, OpenKind::Block("if".into()));
    }

    #[test]
    fn closed_blocks_raw_and_set_are_not_open() {
        assert_eq!(
            unclosed("{% if a %}{% else %}{% endif %}{% set x = 1 %}"),
            None
        );
        assert_eq!(unclosed("{% raw %}{% if %}{{.Name}}{% endraw %}"), None);
        assert_eq!(unclosed("{%- if a -%}x{%- endif -%}{# c #}"), None);
    }

    #[test]
    fn a_shell_length_opens_a_comment() {
        let src = "[\"sh\", \"-c\", \"echo ${#HOME}\"]\n\n\n";
        let open = unclosed(src).unwrap();
        assert_eq!(open.kind, OpenKind::Comment { shell: true });
        assert_eq!(&src[open.span.clone()], "{#");
        assert!(open.hint().unwrap().contains("{% raw %}"));
    }

    #[test]
    fn go_and_ecspresso_templates_get_a_hint() {
        assert!(literal_syntax("\"tag\": \"{{.Name}}\"", None)
            .unwrap()
            .contains("Docker/Go"));
        assert!(literal_syntax("{{ must_env `DB` }}", None)
            .unwrap()
            .contains("env_var('NAME')"));
        assert!(literal_syntax("{{ tfstate `aws_lb.x.arn` }}", None)
            .unwrap()
            .contains("tf.OUTPUT"));
        assert_eq!(literal_syntax("{{ image('app') }}", None), None);
    }

    #[test]
    fn a_range_inside_a_character_is_not_a_panic() {
        // The fuzzer's find: an error range that starts inside a byte-order mark mid-file.
        let src = "{\"image\": \"{{ image('ap') \u{feff},\n}";
        let bom = src.find('\u{feff}').unwrap();
        assert_eq!(literal_syntax(src, Some(bom + 1..bom + 2)), None);
        assert_eq!(literal_syntax(src, Some(bom + 2..src.len() + 5)), None);
    }
}
