//! Importers: other tools' projects turned into a wharf project (`wharf init --from-copilot`,
//! `--from-ecspresso`). Each reads the source files and returns the files to write plus a list
//! of [`Note`]s: what has no wharf equivalent, what stays with the infrastructure, and what could
//! not be translated, each with the file and line it comes from. Nothing here talks to AWS; the
//! verb (`commands/init.rs`) writes the files and prints the notes.

pub mod copilot;
pub mod ecspresso;

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};

/// What an importer produced.
#[derive(Debug, Clone, Default)]
pub struct Imported {
    /// Files to write, relative to the project folder (wharf.toml first).
    pub files: Vec<(PathBuf, String)>,
    pub notes: Vec<Note>,
}

/// One thing the user has to know about or finish by hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    pub kind: NoteKind,
    /// The source file, as the user named it.
    pub file: PathBuf,
    /// 1-based line in `file`, when known.
    pub line: Option<usize>,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Left where it is (CloudFormation stacks, load balancers, queues, schedules, ...).
    Infrastructure,
    /// wharf has no such setting.
    NoEquivalent,
    /// A template expression wharf could not translate: the template keeps it and fails to
    /// render until it is rewritten.
    Untranslated,
}

impl NoteKind {
    pub fn heading(self) -> &'static str {
        match self {
            NoteKind::Infrastructure => "stays with the infrastructure",
            NoteKind::NoEquivalent => "no wharf equivalent",
            NoteKind::Untranslated => "not translated (rewrite by hand)",
        }
    }
}

impl Note {
    pub fn new(kind: NoteKind, file: &Path, line: Option<usize>, text: impl Into<String>) -> Note {
        Note {
            kind,
            file: file.to_path_buf(),
            line,
            text: text.into(),
        }
    }

    /// `file:line: text`.
    pub fn located(&self) -> String {
        match self.line {
            Some(l) => format!("{}:{l}: {}", self.file.display(), self.text),
            None => format!("{}: {}", self.file.display(), self.text),
        }
    }
}

/// A TOML basic string.
pub fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A name usable as a wharf table key (services, jobs, images): other characters become `-`.
pub fn key_name(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.is_empty() {
        "app".into()
    } else {
        clean
    }
}

/// A TOML array of strings.
pub fn toml_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(toml_str).collect();
    format!("[{}]", items.join(", "))
}

/// Reads a YAML or JSON file into JSON values.
pub fn read_yaml(path: &Path) -> Result<(String, Value)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", path.display())))?;
    let value = parse_yaml(path, &text)?;
    Ok((text, value))
}

/// Parses YAML (JSON is YAML) text read from `path`.
pub fn parse_yaml(path: &Path, text: &str) -> Result<Value> {
    serde_norway::from_str::<Value>(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        Error::usage(format!("{}{at}: not valid YAML: {e}", path.display()))
    })
}

/// The 1-based line where the key at `path` (mapping keys, outermost first) is written in a
/// YAML document, found by indentation; None when it cannot be found (flow style, anchors).
pub fn yaml_line(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for key in path {
        let mut hit = None;
        for (i, line) in lines.iter().enumerate().skip(start) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if let Some(p) = parent_indent {
                if indent <= p && i > start {
                    break;
                }
            }
            let bare = trimmed.trim_start_matches("- ");
            let unquoted = bare
                .strip_prefix(['\'', '"'])
                .map(|r| r.replacen(['\'', '"'], "", 1))
                .unwrap_or_else(|| bare.to_string());
            if unquoted.starts_with(&format!("{key}:")) {
                hit = Some((i, indent));
                break;
            }
        }
        let (i, indent) = hit?;
        found = Some(i + 1);
        start = i + 1;
        parent_indent = Some(indent);
    }
    found
}

/// `to` relative to `from` (both relative to the same folder, or both absolute), with `..` where
/// needed; `.` when equal.
pub fn relative(to: &Path, from: &Path) -> PathBuf {
    use std::path::Component;
    let clean = |p: &Path| -> Vec<String> {
        p.components()
            .filter(|c| !matches!(c, Component::CurDir))
            .map(|c| c.as_os_str().to_string_lossy().to_string())
            .collect()
    };
    let (to, from) = (clean(to), clean(from));
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// A path the user gave, as wharf.toml (in `root`) should name it: relative to `root` when it
/// can be, else as given.
pub fn from_root(path: &Path, root: &Path) -> PathBuf {
    if path.is_absolute() || root.is_absolute() {
        match (std::fs::canonicalize(path), std::fs::canonicalize(root)) {
            (Ok(p), Ok(r)) => relative(&p, &r),
            _ => path.to_path_buf(),
        }
    } else {
        relative(path, root)
    }
}

/// The `[services.KEY]` settings (after `task_definition`/`name`) that reproduce a service as
/// ECS describes it (DescribeServices' `services[]`, or CreateService input such as an
/// ecspresso service definition): count, launch type, capacity providers, network, load
/// balancers, deployment. Keys it does not carry are left out.
pub fn service_settings(key: &str, svc: &Value) -> String {
    let q = toml_str;
    let mut t = String::new();
    if let Some(n) = svc["desiredCount"].as_u64() {
        t.push_str(&format!("desired_count = {n}\n"));
    }
    if let Some(lt) = svc["launchType"].as_str().filter(|s| !s.is_empty()) {
        t.push_str(&format!("launch_type = {}\n", q(lt)));
    }
    if let Some(pv) = svc["platformVersion"].as_str().filter(|s| !s.is_empty()) {
        t.push_str(&format!("platform_version = {}\n", q(pv)));
    }
    if svc["enableExecuteCommand"].as_bool() == Some(true) {
        t.push_str("enable_execute_command = true\n");
    }
    if let Some(g) = svc["healthCheckGracePeriodSeconds"]
        .as_u64()
        .filter(|g| *g > 0)
    {
        t.push_str(&format!("health_check_grace_period = {g}\n"));
    }
    let list = |v: &Value| -> String {
        let items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(q)
            .collect();
        format!("[{}]", items.join(", "))
    };
    for cp in svc["capacityProviderStrategy"]
        .as_array()
        .into_iter()
        .flatten()
    {
        t.push_str(&format!(
            "\n[[services.{key}.capacity_providers]]\nprovider = {}\n",
            q(cp["capacityProvider"].as_str().unwrap_or(""))
        ));
        if let Some(w) = cp["weight"].as_u64() {
            t.push_str(&format!("weight = {w}\n"));
        }
        if let Some(b) = cp["base"].as_u64() {
            t.push_str(&format!("base = {b}\n"));
        }
    }
    let vpc = &svc["networkConfiguration"]["awsvpcConfiguration"];
    if vpc.is_object() {
        t.push_str(&format!(
            "\n[services.{key}.network]\nsubnets = {}\nsecurity_groups = {}\n",
            list(&vpc["subnets"]),
            list(&vpc["securityGroups"])
        ));
        if let Some(p) = vpc["assignPublicIp"].as_str() {
            t.push_str(&format!("assign_public_ip = {}\n", p == "ENABLED"));
        }
    }
    for lb in svc["loadBalancers"].as_array().into_iter().flatten() {
        let Some(tg) = lb["targetGroupArn"].as_str() else {
            continue;
        };
        t.push_str(&format!(
            "\n[[services.{key}.load_balancers]]\ntarget_group_arn = {}\ncontainer_name = {}\ncontainer_port = {}\n",
            q(tg),
            q(lb["containerName"].as_str().unwrap_or("")),
            lb["containerPort"].as_u64().unwrap_or(0)
        ));
    }
    let dc = &svc["deploymentConfiguration"];
    if dc.is_object() {
        t.push_str(&format!("\n[services.{key}.deployment]\n"));
        if let Some(m) = dc["maximumPercent"].as_u64() {
            t.push_str(&format!("maximum_percent = {m}\n"));
        }
        if let Some(m) = dc["minimumHealthyPercent"].as_u64() {
            t.push_str(&format!("minimum_healthy_percent = {m}\n"));
        }
        let cb = &dc["deploymentCircuitBreaker"];
        if let Some(e) = cb["enable"].as_bool() {
            t.push_str(&format!("circuit_breaker = {e}\n"));
        }
        if let Some(r) = cb["rollback"].as_bool() {
            t.push_str(&format!("rollback = {r}\n"));
        }
    }
    for r in svc["serviceRegistries"].as_array().into_iter().flatten() {
        let Some(arn) = r["registryArn"].as_str() else {
            continue;
        };
        t.push_str(&format!(
            "\n[[services.{key}.service_registries]]\nregistry_arn = {}\n",
            q(arn)
        ));
        if let Some(n) = r["containerName"].as_str() {
            t.push_str(&format!("container_name = {}\n", q(n)));
        }
        for (from, to) in [("containerPort", "container_port"), ("port", "port")] {
            if let Some(p) = r[from].as_u64() {
                t.push_str(&format!("{to} = {p}\n"));
            }
        }
    }
    let tags: Vec<(&str, &str)> = svc["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tag| Some((tag["key"].as_str()?, tag["value"].as_str()?)))
        .collect();
    if !tags.is_empty() {
        t.push_str(&format!("\n[services.{key}.tags]\n"));
        for (k, v) in tags {
            t.push_str(&format!("{} = {}\n", q(k), q(v)));
        }
    }
    t
}

/// The service settings [`service_settings`] carries over; a source's other keys are reported.
pub const SERVICE_KEYS: &[&str] = &[
    "desiredCount",
    "launchType",
    "platformVersion",
    "enableExecuteCommand",
    "healthCheckGracePeriodSeconds",
    "capacityProviderStrategy",
    "networkConfiguration",
    "loadBalancers",
    "deploymentConfiguration",
    "serviceRegistries",
    "tags",
];

/// A task definition template as the file wharf writes.
pub fn template_text(task_definition: &Value) -> String {
    let mut text = serde_json::to_string_pretty(task_definition).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_lines_follow_indentation() {
        let text = "name: web\nimage:\n  build: x\n  port: 80\nhttp:\n  port: 9\nenvironments:\n  prod:\n    count: 2\n";
        assert_eq!(yaml_line(text, &["image", "port"]), Some(4));
        assert_eq!(yaml_line(text, &["http", "port"]), Some(6));
        assert_eq!(yaml_line(text, &["environments", "prod", "count"]), Some(9));
        assert_eq!(yaml_line(text, &["image", "missing"]), None);
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative(Path::new("a/b/Dockerfile"), Path::new("a/b")),
            PathBuf::from("Dockerfile")
        );
        assert_eq!(
            relative(Path::new("x/Dockerfile"), Path::new("a")),
            PathBuf::from("../x/Dockerfile")
        );
        assert_eq!(
            relative(Path::new("./a"), Path::new("a")),
            PathBuf::from(".")
        );
    }
}
