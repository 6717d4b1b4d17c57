//! `wharf init --from-ecspresso ecspresso.yml [more.yml ...]`: several ecspresso configs (YAML
//! or JSON; Jsonnet is refused with a message, no maintained crate reads it) become one
//! wharf.toml with one service each (a config without `service` becomes a job). Task
//! definitions become templates; service definitions become the service's settings.
//!
//! ecspresso's templates are Go's text/template, evaluated before the file is parsed. Each
//! `{{ ... }}` action is translated to minijinja:
//! - `must_env "X"` → `env_var('X')`, `env "X" "d"` → `env_var('X', 'd')`;
//! - `tfstate "addr"` (and `tfstatef` with literal arguments, and `func_prefix`ed names) →
//!   `tf.NAME` when a local state resolves the address and an output holds that value, else
//!   `tf.<suggested>` with the output block to add;
//! - `ssm "/p"` as a whole `environment` value → a `secrets` entry (`valueFrom`, so ECS reads it
//!   and wharf never sees the value; `secret('NAME')` when the path is `/<app>/<env>/NAME`),
//!   elsewhere `ssm('/p')`;
//! - anything else stays as written, and is listed with its file and line: the template then
//!   fails to render until it is rewritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{key_name, parse_yaml, toml_str, Imported, Note, NoteKind};
use crate::error::{Error, Result};

/// What the importer works from.
pub struct EcspressoSource<'a> {
    pub configs: &'a [PathBuf],
    /// The folder wharf.toml is written into.
    pub root: &'a Path,
    pub app: &'a str,
    /// The environment the configs deploy to.
    pub env: &'a str,
    /// Region when a config names none.
    pub region: Option<&'a str>,
    pub file_name: &'a str,
}

/// A `{{ ... }}` action found in a source file.
#[derive(Debug, Clone)]
struct Action {
    /// Byte range of the whole action, braces included.
    range: std::ops::Range<usize>,
    line: usize,
    /// Whether it stands inside a JSON/YAML string (quotes around it).
    in_string: bool,
}

/// One source file with its actions replaced by placeholders, so it parses as JSON/YAML.
struct Masked {
    path: PathBuf,
    original: String,
    masked: String,
    actions: Vec<Action>,
}

const MARK: &str = "__wharf_action_";

impl Masked {
    fn new(path: &Path, original: String) -> Masked {
        let actions = find_actions(&original);
        let mut masked = String::new();
        let mut at = 0;
        for (i, a) in actions.iter().enumerate() {
            masked.push_str(&original[at..a.range.start]);
            if a.in_string {
                masked.push_str(&format!("{MARK}{i}__"));
            } else {
                masked.push_str(&format!("\"{MARK}{i}__\""));
            }
            at = a.range.end;
        }
        masked.push_str(&original[at..]);
        Masked {
            path: path.to_path_buf(),
            original,
            masked,
            actions,
        }
    }

    fn text(&self, i: usize) -> &str {
        &self.original[self.actions[i].range.clone()]
    }

    /// The line (1-based) of the first `"key"` in the original text.
    fn key_line(&self, key: &str) -> Option<usize> {
        let needle = format!("\"{key}\"");
        let plain = format!("{key}:");
        self.original
            .lines()
            .position(|l| l.contains(&needle) || l.trim_start().starts_with(&plain))
            .map(|i| i + 1)
    }
}

/// Every `{{ ... }}` in `text`, with its line and whether a quote is open before it on its
/// line (a JSON or YAML string).
fn find_actions(text: &str) -> Vec<Action> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("{{") {
        let start = from + i;
        let Some(len) = text[start..].find("}}") else {
            break;
        };
        let end = start + len + 2;
        let line_start = text[..start].rfind('\n').map(|p| p + 1).unwrap_or(0);
        let before = &text[line_start..start];
        let quotes = before.matches('"').count() - before.matches("\\\"").count();
        let in_string = quotes % 2 == 1 || {
            let t = before.trim_end();
            t.ends_with('\'') && before.matches('\'').count() % 2 == 1
        };
        out.push(Action {
            range: start..end,
            line: text[..start].matches('\n').count() + 1,
            in_string,
        });
        from = end;
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Num(String),
    Other(String),
}

fn tokens(inner: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let chars: Vec<char> = inner.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '`' || c == '"' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if c == '"' && chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Ident(s));
        } else if c.is_ascii_digit() {
            let mut s = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                s.push(chars[i]);
                i += 1;
            }
            out.push(Token::Num(s));
        } else {
            out.push(Token::Other(c.to_string()));
            i += 1;
        }
    }
    out
}

/// A Terraform state the `tfstate` functions of one prefix read.
#[derive(Debug, Clone)]
struct TfSource {
    /// Where ecspresso reads it (as the config says).
    url: String,
    /// The state, when it is a local file that could be read.
    state: Option<Value>,
}

/// How one action translates.
#[derive(Debug, Clone, PartialEq)]
enum Translation {
    /// A minijinja expression (without braces).
    Expr(String),
    /// `ssm "/path"`: an expression, or a secret when it is a whole environment value.
    Ssm(String),
    /// Kept as written.
    Untranslated(String),
}

fn jinja_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

struct Translator<'a> {
    tf: &'a BTreeMap<String, TfSource>,
}

impl Translator<'_> {
    fn translate(
        &self,
        action: &str,
        file: &Path,
        line: usize,
        notes: &mut Vec<Note>,
    ) -> Translation {
        let inner = action
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        let t = tokens(inner);
        let strs: Option<Vec<&str>> = t[1.min(t.len())..]
            .iter()
            .map(|t| match t {
                Token::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        let (Some(Token::Ident(f)), Some(args)) = (t.first(), strs) else {
            return self.untranslated(
                action,
                file,
                line,
                notes,
                "not a call with literal arguments",
            );
        };
        match (f.as_str(), args.as_slice()) {
            ("must_env", [name]) => Translation::Expr(format!("env_var({})", jinja_str(name))),
            ("env", [name]) => Translation::Expr(format!("env_var({}, '')", jinja_str(name))),
            ("env", [name, default]) => Translation::Expr(format!(
                "env_var({}, {})",
                jinja_str(name),
                jinja_str(default)
            )),
            ("ssm", [path]) => Translation::Ssm(path.to_string()),
            (f, [address, rest @ ..]) if f.ends_with("tfstate") || f.ends_with("tfstatef") => {
                let formatted = f.ends_with("tfstatef");
                let prefix = f.trim_end_matches(if formatted { "tfstatef" } else { "tfstate" });
                let Some(source) = self.tf.get(prefix) else {
                    return self.untranslated(
                        action,
                        file,
                        line,
                        notes,
                        &format!("no tfstate plugin with func_prefix `{prefix}` in the config"),
                    );
                };
                let address = if formatted {
                    let mut a = address.to_string();
                    for arg in rest {
                        a = a.replacen("%s", arg, 1);
                    }
                    a
                } else if rest.is_empty() {
                    address.to_string()
                } else {
                    return self.untranslated(
                        action,
                        file,
                        line,
                        notes,
                        "tfstate takes one argument",
                    );
                };
                self.tfstate(&address, source, action, file, line, notes)
            }
            _ => self.untranslated(
                action,
                file,
                line,
                notes,
                "wharf has no equivalent function",
            ),
        }
    }

    fn untranslated(
        &self,
        action: &str,
        file: &Path,
        line: usize,
        notes: &mut Vec<Note>,
        why: &str,
    ) -> Translation {
        notes.push(Note::new(
            NoteKind::Untranslated,
            file,
            Some(line),
            format!("`{action}`: {why}"),
        ));
        Translation::Untranslated(action.to_string())
    }

    fn tfstate(
        &self,
        address: &str,
        source: &TfSource,
        action: &str,
        file: &Path,
        line: usize,
        notes: &mut Vec<Note>,
    ) -> Translation {
        let suggested = suggested_output(address);
        let add = format!("output \"{suggested}\" {{ value = {address} }}");
        let Some(state) = &source.state else {
            notes.push(Note::new(
                NoteKind::Infrastructure,
                file,
                Some(line),
                format!("`{action}` → tf.{suggested}: the state {} was not read here; wharf reads Terraform outputs, so the configuration needs `{add}`", source.url),
            ));
            return Translation::Expr(format!("tf.{suggested}"));
        };
        let Some(value) = resolve(state, address) else {
            return self.untranslated(
                action,
                file,
                line,
                notes,
                &format!("{address} is not in the state {}", source.url),
            );
        };
        let outputs = state["outputs"].as_object();
        if let Some((name, _)) = outputs
            .into_iter()
            .flatten()
            .find(|(_, o)| o["value"] == value)
        {
            return Translation::Expr(format!("tf.{name}"));
        }
        notes.push(Note::new(
            NoteKind::Infrastructure,
            file,
            Some(line),
            format!(
                "`{action}` → tf.{suggested}: no output of {} holds {address}; add `{add}`",
                source.url
            ),
        ));
        Translation::Expr(format!("tf.{suggested}"))
    }
}

/// An output name for a resource address: `aws_iam_role.task.arn` → `aws_iam_role_task_arn`.
fn suggested_output(address: &str) -> String {
    let mut s: String = address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    s.trim_matches('_').to_string()
}

/// The value at a resource address (`[module.M.][data.]TYPE.NAME[KEY].ATTR[.SUB|[N]]...`) in a
/// version 4 state.
fn resolve(state: &Value, address: &str) -> Option<Value> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = address.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                let mut idx = String::from("[");
                for c in chars.by_ref() {
                    idx.push(c);
                    if c == ']' {
                        break;
                    }
                }
                parts.push(idx);
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    let mut i = 0;
    let mut module = Vec::new();
    while parts.get(i).map(String::as_str) == Some("module") {
        module.push(format!("module.{}", parts.get(i + 1)?));
        i += 2;
    }
    let mode = if parts.get(i).map(String::as_str) == Some("data") {
        i += 1;
        "data"
    } else {
        "managed"
    };
    let (rtype, name) = (parts.get(i)?, parts.get(i + 1)?);
    i += 2;
    let index = parts.get(i).filter(|p| p.starts_with('[')).map(|p| {
        let inner = p.trim_start_matches('[').trim_end_matches(']');
        let inner = inner.trim_matches(|c| c == '"' || c == '\'');
        match inner.parse::<u64>() {
            Ok(n) => json!(n),
            Err(_) => json!(inner),
        }
    });
    if index.is_some() {
        i += 1;
    }
    let module = module.join(".");
    let resource = state["resources"].as_array()?.iter().find(|r| {
        r["mode"] == mode
            && r["type"] == rtype.as_str()
            && r["name"] == name.as_str()
            && r["module"].as_str().unwrap_or("") == module
    })?;
    let instances = resource["instances"].as_array()?;
    let instance = match &index {
        Some(k) => instances.iter().find(|inst| &inst["index_key"] == k)?,
        None => instances.first()?,
    };
    let mut value = instance["attributes"].clone();
    for part in &parts[i..] {
        value = if let Some(idx) = part.strip_prefix('[') {
            let idx = idx.trim_end_matches(']');
            match idx.parse::<usize>() {
                Ok(n) => value.get(n)?.clone(),
                Err(_) => value
                    .get(idx.trim_matches(|c| c == '"' || c == '\''))?
                    .clone(),
            }
        } else {
            value.get(part)?.clone()
        };
    }
    Some(value)
}

/// One ecspresso config, read.
struct Config {
    path: PathBuf,
    region: Option<String>,
    cluster: Option<String>,
    service: Option<String>,
    task_definition: Option<PathBuf>,
    service_definition: Option<PathBuf>,
}

pub fn import(src: &EcspressoSource) -> Result<Imported> {
    let mut notes = Vec::new();
    let mut region: Option<(String, PathBuf)> = None;
    let mut cluster: Option<(String, PathBuf)> = None;
    let mut terraform: Option<(PathBuf, String)> = None;
    let mut units = String::new();
    let mut templates: Vec<(PathBuf, String)> = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in src.configs {
        refuse_jsonnet(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!(
                "cannot read ecspresso config {}: {e}",
                path.display()
            ))
        })?;
        let masked = Masked::new(path, text);
        let doc = parse_yaml(path, &masked.masked)?;
        if !doc.is_object() {
            return Err(Error::usage(format!("{}: not an ecspresso config (a mapping of region, cluster, service, task_definition, ...)", path.display())));
        }
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // Plugins first: the tfstate functions depend on them.
        let mut tf: BTreeMap<String, TfSource> = BTreeMap::new();
        for plugin in doc["plugins"].as_array().into_iter().flatten() {
            let name = plugin["name"].as_str().unwrap_or("");
            let prefix = plugin["func_prefix"].as_str().unwrap_or("").to_string();
            match name {
                "tfstate" => {
                    let url = plugin["config"]["url"]
                        .as_str()
                        .or(plugin["config"]["path"].as_str())
                        .unwrap_or("")
                        .to_string();
                    let local = url.strip_prefix("file://").map(str::to_string).or_else(|| {
                        (!url.contains("://") && !url.contains(MARK)).then(|| url.clone())
                    });
                    let state = local.as_ref().and_then(|p| {
                        let file = base.join(p);
                        let text = std::fs::read_to_string(&file).ok()?;
                        serde_json::from_str::<Value>(&text).ok()
                    });
                    if let (Some(p), Some(_), None) = (&local, &state, &terraform) {
                        let file = base.join(p);
                        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                        let name = file
                            .file_name()
                            .map(|n| n.to_string_lossy().to_string())
                            .unwrap_or_default();
                        terraform = Some((super::from_root(&dir, src.root), name));
                    } else if url.starts_with("s3://") && terraform.is_none() {
                        notes.push(Note::new(NoteKind::Infrastructure, path, masked.key_line("url"), format!("the Terraform state {url}: add [terraform] with dir (the configuration) and state = \"{url}\" so tf.* resolve")));
                    }
                    tf.insert(prefix, TfSource { url, state });
                }
                "ssm" | "" => {}
                other => notes.push(Note::new(
                    NoteKind::Untranslated,
                    path,
                    masked.key_line("name"),
                    format!("plugin `{other}`: its template functions are not translated"),
                )),
            }
        }
        let translator = Translator { tf: &tf };
        let mut translations = Vec::new();
        for (i, a) in masked.actions.iter().enumerate() {
            translations.push(translator.translate(masked.text(i), path, a.line, &mut notes));
        }
        let string =
            |v: &Value| -> Option<String> { v.as_str().map(|s| unmask(s, &translations, false)) };
        let config = Config {
            path: path.clone(),
            region: string(&doc["region"]),
            cluster: string(&doc["cluster"]),
            service: string(&doc["service"]),
            task_definition: doc["task_definition"]
                .as_str()
                .map(|p| base.join(unmask(p, &translations, false))),
            service_definition: doc["service_definition"]
                .as_str()
                .map(|p| base.join(unmask(p, &translations, false))),
        };
        for (k, _) in doc.as_object().into_iter().flatten() {
            if !matches!(
                k.as_str(),
                "region"
                    | "cluster"
                    | "service"
                    | "task_definition"
                    | "service_definition"
                    | "plugins"
                    | "required_version"
            ) {
                notes.push(Note::new(
                    NoteKind::NoEquivalent,
                    path,
                    masked.key_line(k),
                    format!(
                        "`{k}` is not imported (wharf deploy has --timeout; see docs/deploy.md)"
                    ),
                ));
            }
        }
        for (what, slot, value) in [
            ("region", &mut region, config.region.clone()),
            ("cluster", &mut cluster, config.cluster.clone()),
        ] {
            let Some(value) = value else { continue };
            match slot {
                Some((v, from)) if *v != value => {
                    return Err(Error::usage(format!(
                        "{} and {} name different {what}s (`{v}`, `{value}`): one wharf environment has one {what}",
                        from.display(),
                        path.display()
                    ))
                    .with_hint("import the configs of each cluster into their own project, or one environment at a time"));
                }
                Some(_) => {}
                None => *slot = Some((value, path.clone())),
            }
        }
        unit(
            src,
            &config,
            &tf,
            &mut units,
            &mut templates,
            &mut seen,
            &mut notes,
        )?;
    }

    let mut toml = format!(
        "# Imported from ecspresso ({}) by `wharf init --from-ecspresso`.\napp = {}\n",
        src.configs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        toml_str(src.app)
    );
    if let Some((dir, state)) = &terraform {
        toml.push_str(&format!(
            "\n# The state ecspresso's tfstate plugin read; its outputs are tf.* in templates.\n[terraform]\ndir = {}\nstate = {}\n",
            toml_str(&dir.display().to_string()),
            toml_str(state)
        ));
    }
    toml.push_str(&format!("\n[environments.{}]\n", src.env));
    if let Some(r) = region.map(|(r, _)| r).or(src.region.map(str::to_string)) {
        toml.push_str(&format!("region = {}\n", toml_str(&r)));
    }
    toml.push_str(&format!(
        "cluster = {}\n",
        toml_str(&cluster.map(|(c, _)| c).unwrap_or_else(|| "default".into()))
    ));
    toml.push_str(&units);
    let mut files = vec![(PathBuf::from(src.file_name), toml)];
    files.extend(templates);
    Ok(Imported { files, notes })
}

fn refuse_jsonnet(path: &Path) -> Result<()> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if matches!(ext, "jsonnet" | "libsonnet") {
        return Err(Error::usage(format!(
            "{}: Jsonnet is not read by wharf (no maintained Rust crate evaluates it)",
            path.display()
        ))
        .with_hint("render it to JSON first (`ecspresso render config` / `jsonnet FILE > FILE.json`) and import the JSON"));
    }
    Ok(())
}

/// `s` with each placeholder replaced by its translation (`{{ expr }}`, or the action as
/// written). `bare`: the placeholder stood outside quotes (its quotes go too).
fn unmask(s: &str, translations: &[Translation], bare: bool) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(MARK) {
        let after = &rest[i + MARK.len()..];
        let Some(end) = after.find("__") else { break };
        let Ok(n) = after[..end].parse::<usize>() else {
            break;
        };
        let (mut head, mut tail) = (&rest[..i], &after[end + 2..]);
        if bare {
            head = head.strip_suffix('"').unwrap_or(head);
            tail = tail.strip_prefix('"').unwrap_or(tail);
        }
        out.push_str(head);
        out.push_str(&match &translations[n] {
            Translation::Expr(e) => format!("{{{{ {e} }}}}"),
            Translation::Ssm(p) => format!("{{{{ ssm({}) }}}}", jinja_str(p)),
            Translation::Untranslated(t) => t.clone(),
        });
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Placeholders that stood bare (outside quotes) in a file: their quotes go when unmasked.
fn unmask_text(text: &str, masked: &Masked, translations: &[Translation]) -> String {
    let mut out = text.to_string();
    for (i, a) in masked.actions.iter().enumerate() {
        if !a.in_string {
            let quoted = format!("\"{MARK}{i}__\"");
            let t = unmask(&quoted, translations, true);
            out = out.replace(&quoted, &t);
        }
    }
    unmask(&out, translations, false)
}

/// Reads a task or service definition (JSON), translating its actions.
fn read_definition(
    path: &Path,
    tf: &BTreeMap<String, TfSource>,
    notes: &mut Vec<Note>,
) -> Result<(Masked, Value, Vec<Translation>)> {
    refuse_jsonnet(path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    let masked = Masked::new(path, text);
    let doc = parse_yaml(path, &masked.masked)?;
    let translator = Translator { tf };
    let translations = masked
        .actions
        .iter()
        .enumerate()
        .map(|(i, a)| translator.translate(masked.text(i), path, a.line, notes))
        .collect();
    Ok((masked, doc, translations))
}

/// The index of the placeholder that is the whole of `s`, if it is one.
fn whole_placeholder(s: &str) -> Option<usize> {
    s.strip_prefix(MARK)?.strip_suffix("__")?.parse().ok()
}

#[allow(clippy::too_many_arguments)]
fn unit(
    src: &EcspressoSource,
    config: &Config,
    tf: &BTreeMap<String, TfSource>,
    units: &mut String,
    templates: &mut Vec<(PathBuf, String)>,
    seen: &mut BTreeMap<String, PathBuf>,
    notes: &mut Vec<Note>,
) -> Result<()> {
    let Some(td_path) = &config.task_definition else {
        return Err(Error::usage(format!(
            "{}: no `task_definition`",
            config.path.display()
        )));
    };
    let (masked, doc, translations) = read_definition(td_path, tf, notes)?;
    let mut td = crate::project::taskdef::strip_read_only(doc);
    // An `ssm` action that is a whole environment value becomes a secret: ECS reads it.
    let prefix = format!("/{}/{}/", src.app, src.env);
    for c in td["containerDefinitions"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        let Some(env) = c.get_mut("environment").and_then(Value::as_array_mut) else {
            continue;
        };
        let mut secrets = Vec::new();
        env.retain(|e| {
            let whole = e["value"].as_str().and_then(whole_placeholder);
            match whole.map(|n| &translations[n]) {
                Some(Translation::Ssm(p)) => {
                    let from = match p.strip_prefix(&prefix) {
                        Some(name) if !name.contains('/') => {
                            format!("{{{{ secret({}) }}}}", jinja_str(name))
                        }
                        _ => p.clone(),
                    };
                    secrets.push(json!({"name": e["name"], "valueFrom": from}));
                    false
                }
                _ => true,
            }
        });
        if !secrets.is_empty() {
            let name = c["name"].as_str().unwrap_or("").to_string();
            notes.push(Note::new(NoteKind::Infrastructure, td_path, None, format!("container `{name}`: {} value(s) read with ssm became `secrets` (ECS injects them; wharf never prints them); the execution role needs ssm:GetParameters", secrets.len())));
            match c.get_mut("secrets").and_then(Value::as_array_mut) {
                Some(list) => list.extend(secrets),
                None => c["secrets"] = Value::Array(secrets),
            }
        }
    }
    let family = td["family"]
        .as_str()
        .map(|f| unmask(f, &translations, false));
    let name = config.service.clone().or(family.clone()).ok_or_else(|| {
        Error::usage(format!(
            "{}: no `service` and the task definition has no family",
            config.path.display()
        ))
    })?;
    let key = key_name(&name);
    if let Some(other) = seen.insert(key.clone(), config.path.clone()) {
        return Err(Error::usage(format!(
            "{} and {} both define `{key}`",
            other.display(),
            config.path.display()
        )));
    }
    let template_path = PathBuf::from(format!("ecs/{key}.json"));
    let text = serde_json::to_string_pretty(&td).unwrap_or_default();
    templates.push((
        template_path.clone(),
        format!("{}\n", unmask_text(&text, &masked, &translations)),
    ));

    let table = if config.service.is_some() {
        "services"
    } else {
        "jobs"
    };
    units.push_str(&format!(
        "\n# From {} ({})\n[{table}.{key}]\ntask_definition = {}\n",
        config.path.display(),
        td_path.display(),
        toml_str(&template_path.display().to_string())
    ));
    if key != name && table == "services" {
        units.push_str(&format!("name = {}\n", toml_str(&name)));
    }
    let Some(sd_path) = &config.service_definition else {
        if table == "services" {
            notes.push(Note::new(NoteKind::NoEquivalent, &config.path, None, format!("service `{name}` has no service_definition: set desired_count, network and launch_type in [services.{key}]")));
        }
        return Ok(());
    };
    let (masked, doc, translations) = read_definition(sd_path, tf, notes)?;
    // String values keep their translated templates (wharf.toml values are templates where
    // docs/project-file.md says so); a templated number cannot be carried.
    let sd = map_strings(&doc, &|s| unmask(s, &translations, false));
    for (k, v) in sd.as_object().into_iter().flatten() {
        if !super::SERVICE_KEYS.contains(&k.as_str()) {
            let default = k == "schedulingStrategy" && v == "REPLICA";
            if !default && !matches!(k.as_str(), "serviceName" | "cluster" | "taskDefinition") {
                notes.push(Note::new(
                    NoteKind::NoEquivalent,
                    sd_path,
                    masked.key_line(k),
                    format!("`{k}` is not imported"),
                ));
            }
        } else if k == "desiredCount" && !v.is_u64() {
            notes.push(Note::new(NoteKind::Untranslated, sd_path, masked.key_line(k), format!("desiredCount {v} is a template; set desired_count per environment in wharf.toml")));
        }
    }
    let _ = &masked.path;
    units.push_str(&super::service_settings(&key, &sd));
    Ok(())
}

/// `v` with every string passed through `f`.
fn map_strings(v: &Value, f: &dyn Fn(&str) -> String) -> Value {
    match v {
        Value::String(s) => Value::String(f(s)),
        Value::Array(a) => Value::Array(a.iter().map(|x| map_strings(x, f)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), map_strings(x, f)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_translate() {
        let tf = BTreeMap::from([(
            String::new(),
            TfSource {
                url: "terraform.tfstate".into(),
                state: Some(json!({
                    "version": 4,
                    "outputs": {"task_role_arn": {"value": "arn:aws:iam::1:role/task"}},
                    "resources": [
                        {"mode": "managed", "type": "aws_iam_role", "name": "task", "instances": [{"attributes": {"arn": "arn:aws:iam::1:role/task"}}]},
                        {"mode": "managed", "type": "aws_subnet", "name": "private", "instances": [
                            {"index_key": "az-a", "attributes": {"id": "subnet-a"}},
                            {"index_key": "az-b", "attributes": {"id": "subnet-b"}}
                        ]}
                    ]
                })),
            },
        )]);
        let t = Translator { tf: &tf };
        let mut notes = Vec::new();
        let p = Path::new("x.json");
        assert_eq!(
            t.translate("{{ must_env `TAG` }}", p, 1, &mut notes),
            Translation::Expr("env_var('TAG')".into())
        );
        assert_eq!(
            t.translate("{{ env \"A\" \"b\" }}", p, 1, &mut notes),
            Translation::Expr("env_var('A', 'b')".into())
        );
        assert_eq!(
            t.translate("{{ tfstate `aws_iam_role.task.arn` }}", p, 1, &mut notes),
            Translation::Expr("tf.task_role_arn".into())
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(
            t.translate(
                "{{ tfstatef `aws_subnet.private['%s'].id` `az-b` }}",
                p,
                7,
                &mut notes
            ),
            Translation::Expr("tf.aws_subnet_private_az_b_id".into())
        );
        assert!(notes[0].text.contains("add `output \"aws_subnet_private_az_b_id\" { value = aws_subnet.private['az-b'].id }`"), "{notes:?}");
        assert_eq!(
            t.translate("{{ ssm `/a/b` }}", p, 1, &mut notes),
            Translation::Ssm("/a/b".into())
        );
        let kept = t.translate("{{ cfn_output `S` `K` }}", p, 9, &mut notes);
        assert_eq!(
            kept,
            Translation::Untranslated("{{ cfn_output `S` `K` }}".into())
        );
        assert_eq!(
            notes.last().unwrap().located(),
            "x.json:9: `{{ cfn_output `S` `K` }}`: wharf has no equivalent function"
        );
    }

    #[test]
    fn bare_actions_lose_their_quotes() {
        let text =
            "{\n  \"desiredCount\": {{ env `N` `2` }},\n  \"x\": \"a-{{ must_env `B` }}\"\n}";
        let m = Masked::new(Path::new("s.json"), text.to_string());
        assert_eq!(m.actions.len(), 2);
        assert!(!m.actions[0].in_string && m.actions[1].in_string);
        let doc: Value = serde_json::from_str(&m.masked).unwrap();
        let tr = vec![
            Translation::Expr("env_var('N', '2')".into()),
            Translation::Expr("env_var('B')".into()),
        ];
        let out = unmask_text(&serde_json::to_string(&doc).unwrap(), &m, &tr);
        assert_eq!(
            out,
            "{\"desiredCount\":{{ env_var('N', '2') }},\"x\":\"a-{{ env_var('B') }}\"}"
        );
    }
}
