//! The edge to Terraform: the `terraform` CLI (workspaces, init, plan, apply, outputs) run per
//! environment, and Terraform outputs read from the state itself when there is no binary (CI).
//!
//! One workspace per environment, named like the environment; one var file per environment
//! (`terraform.<env>.tfvars` unless `[terraform] var_file` says otherwise); the image tag passed
//! as `-var <tag_var>=<tag>` only when a tag was given. Terraform's own output streams through
//! and its exit code decides wharf's. This module does not decide what to apply or when; the
//! commands and [`crate::pipeline`] do.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The folder wharf uses for a seed-layout project that has no `[terraform]` table.
pub const SEED_DIR: &str = "terraform";
/// The variable the tag is passed in when `[terraform] tag_var` is not set.
pub const DEFAULT_TAG_VAR: &str = "app_tag";

/// Terraform outputs: name → value.
pub type Outputs = Map<String, Value>;

/// A project's Terraform configuration for one environment.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The configuration folder.
    pub dir: PathBuf,
    /// The workspace (the environment's name).
    pub workspace: String,
    /// The var file, relative to `dir`, when there is one.
    pub var_file: Option<String>,
    pub tag_var: String,
    /// `state` from `[terraform]`, as written.
    pub state: Option<String>,
    pub workspace_key_prefix: String,
}

impl Stack {
    /// Arguments for `plan` / `apply`: the var file and the tag variable (only with a tag).
    pub fn plan_args(&self, tag: Option<&str>) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(v) = &self.var_file {
            args.push(format!("-var-file={v}"));
        }
        if let Some(t) = tag {
            args.push("-var".into());
            args.push(format!("{}={t}", self.tag_var));
        }
        args
    }
}

/// The `terraform` binary on PATH, if there is one.
pub fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("terraform"))
        .find(|p| p.is_file())
}

fn require_binary() -> Result<PathBuf> {
    binary().ok_or_else(|| {
        Error::usage("`terraform` is not on PATH")
            .with_hint("install Terraform (https://developer.hashicorp.com/terraform/install) or put it on PATH")
    })
}

/// How a streamed Terraform command connects to wharf's terminal.
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    /// Terraform may ask questions on wharf's standard input.
    pub interactive: bool,
    /// Send Terraform's stdout to stderr (stdout is reserved for `--output json`).
    pub stdout_to_stderr: bool,
    /// Terraform may colour its output (off: `-no-color`, as wharf's `--no-color`, `NO_COLOR`
    /// or no terminal decide).
    pub color: bool,
}

fn command(bin: &Path, dir: &Path) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(bin);
    c.arg(format!("-chdir={}", dir.display()));
    // wharf chooses the workspace; a stray TF_WORKSPACE would silently override it.
    c.env_remove("TF_WORKSPACE");
    c
}

/// Runs terraform with `args` in `dir`, streaming its output. Returns its exit code; Ctrl-C is
/// left to Terraform (it stops cleanly), and wharf then exits 130.
pub async fn stream(dir: &Path, args: &[String], streams: Streams) -> Result<i32> {
    let bin = require_binary()?;
    let mut c = command(&bin, dir);
    // `-no-color` goes right after the subcommand, before any positional argument.
    let (sub, rest) = args
        .split_first()
        .map_or((None, &[][..]), |(s, r)| (Some(s), r));
    c.args(sub);
    if !streams.color {
        c.arg("-no-color");
    }
    c.args(rest);
    if !streams.interactive {
        c.env("TF_IN_AUTOMATION", "1");
        c.stdin(Stdio::null());
    }
    if streams.stdout_to_stderr {
        use std::os::fd::AsFd;
        let fd = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::failed(format!("cannot redirect terraform's output: {e}")))?;
        c.stdout(Stdio::from(fd));
    }
    let mut child = c
        .spawn()
        .map_err(|e| Error::failed(format!("cannot run {}: {e}", bin.display())))?;
    let mut interrupted = false;
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            r = tokio::signal::ctrl_c(), if !interrupted => {
                if r.is_ok() { interrupted = true; }
            }
        }
    }
    .map_err(|e| Error::failed(format!("terraform did not run to its end: {e}")))?;
    if interrupted {
        return Err(Error::interrupted(
            "interrupted; Terraform was stopped (its state lock is released by Terraform itself)",
        ));
    }
    Ok(status.code().unwrap_or(1))
}

/// Runs terraform with `args` and captures its output (no terminal involved).
async fn capture(dir: &Path, args: &[&str]) -> Result<std::process::Output> {
    capture_with(dir, None, args).await
}

/// [`capture`] in `workspace` (`TF_WORKSPACE`), when given.
async fn capture_with(
    dir: &Path,
    workspace: Option<&str>,
    args: &[&str],
) -> Result<std::process::Output> {
    let bin = require_binary()?;
    let mut cmd = command(&bin, dir);
    if let Some(w) = workspace {
        cmd.env("TF_WORKSPACE", w);
    }
    cmd.args(args)
        .env("TF_IN_AUTOMATION", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::failed(format!("cannot run {}: {e}", bin.display())))
}

fn stderr_text(o: &std::process::Output) -> String {
    let text = String::from_utf8_lossy(&o.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&o.stdout)
    } else {
        text
    };
    strip_ansi(text.trim())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for n in chars.by_ref() {
                if n.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The workspaces of the configuration in `dir`, and the one currently selected.
pub async fn workspaces(dir: &Path) -> Result<(Vec<String>, Option<String>)> {
    let o = capture(dir, &["workspace", "list"]).await?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "`terraform workspace list` in {} failed: {}",
            dir.display(),
            stderr_text(&o)
        )));
    }
    Ok(parse_workspace_list(&String::from_utf8_lossy(&o.stdout)))
}

/// Runs `terraform init` in `dir` when Terraform says the configuration needs it before it can
/// list workspaces (a backend not initialised yet: a fresh clone of a project with an S3
/// backend). Returns whether it ran.
pub async fn init_if_needed(dir: &Path, streams: Streams) -> Result<bool> {
    let o = capture(dir, &["workspace", "list"]).await?;
    if o.status.success() {
        return Ok(false);
    }
    let text = stderr_text(&o);
    let lower = text.to_ascii_lowercase();
    if !(lower.contains("initialization required") || lower.contains("terraform init")) {
        return Err(Error::failed(format!(
            "`terraform workspace list` in {} failed: {text}",
            dir.display()
        )));
    }
    let mut args = vec!["init".to_string()];
    if !streams.interactive {
        args.push("-input=false".into());
    }
    let code = stream(dir, &args, streams).await?;
    if code != 0 {
        return Err(Error::failed(format!(
            "terraform init failed in {} (exit {code}); the backend must be reachable before workspaces can be listed or created",
            dir.display()
        )));
    }
    Ok(true)
}

/// Parses `terraform workspace list` (`* dev` marks the selected one).
pub fn parse_workspace_list(text: &str) -> (Vec<String>, Option<String>) {
    let mut all = Vec::new();
    let mut current = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix("* ") {
            current = Some(name.trim().to_string());
            all.push(name.trim().to_string());
        } else {
            all.push(line.to_string());
        }
    }
    (all, current)
}

/// Selects the project's workspace, or says how to create it.
pub async fn select_workspace(project: &Stack) -> Result<()> {
    let (all, current) = workspaces(&project.dir).await?;
    if !all.iter().any(|w| w == &project.workspace) {
        return Err(Error::usage(format!(
            "Terraform in {} has no workspace `{}` (workspaces: {})",
            project.dir.display(),
            project.workspace,
            all.join(", ")
        ))
        .with_hint(format!(
            "create it with: wharf env create {}",
            project.workspace
        )));
    }
    if current.as_deref() == Some(project.workspace.as_str()) {
        return Ok(());
    }
    let o = capture(&project.dir, &["workspace", "select", &project.workspace]).await?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "`terraform workspace select {}` failed: {}",
            project.workspace,
            stderr_text(&o)
        )));
    }
    Ok(())
}

/// Creates the project's workspace (which also selects it).
pub async fn new_workspace(project: &Stack) -> Result<()> {
    let o = capture(&project.dir, &["workspace", "new", &project.workspace]).await?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "`terraform workspace new {}` in {} failed: {}",
            project.workspace,
            project.dir.display(),
            stderr_text(&o)
        )));
    }
    Ok(())
}

/// `terraform output -json` of the selected workspace (TF_WORKSPACE, so nothing is changed).
pub async fn outputs_from_cli(project: &Stack) -> Result<Outputs> {
    let bin = require_binary()?;
    let o = command(&bin, &project.dir)
        .args(["output", "-json"])
        .env("TF_WORKSPACE", &project.workspace)
        .env("TF_IN_AUTOMATION", "1")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::failed(format!("cannot run {}: {e}", bin.display())))?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "`terraform output -json` in {} (workspace {}) failed: {}",
            project.dir.display(),
            project.workspace,
            stderr_text(&o)
        ))
        .with_hint(format!(
            "create the workspace and apply first: wharf env create {} && wharf apply --env {}",
            project.workspace, project.workspace
        )));
    }
    let doc: Map<String, Value> = serde_json::from_slice(&o.stdout).map_err(|e| {
        Error::failed(format!(
            "terraform output -json printed something that is not JSON: {e}"
        ))
    })?;
    Ok(values(&doc))
}

/// The outputs a saved plan would leave (`terraform show -json PLAN`): each output's planned
/// value, with `unknown(path)` standing in for every part Terraform knows only after apply
/// (`path` is the output's name, then map keys or list indexes joined by dots). Returns the
/// outputs and the paths known only after apply.
pub fn planned_outputs(doc: &Value, unknown: &dyn Fn(&str) -> Value) -> (Outputs, Vec<String>) {
    let mut outputs = Outputs::new();
    let mut paths = Vec::new();
    if let Some(changes) = doc.get("output_changes").and_then(Value::as_object) {
        for (name, change) in changes {
            if change["actions"].as_array().is_some_and(|a| {
                a.iter().any(|x| x == "delete") && !a.iter().any(|x| x == "create")
            }) {
                continue;
            }
            let after = change.get("after").cloned().unwrap_or(Value::Null);
            let value = fill_unknown(
                after,
                change.get("after_unknown").unwrap_or(&Value::Bool(false)),
                name,
                unknown,
                &mut paths,
            );
            outputs.insert(name.clone(), value);
        }
    }
    // Outputs with no change entry (older Terraform) come from the planned values.
    if let Some(planned) = doc
        .pointer("/planned_values/outputs")
        .and_then(Value::as_object)
    {
        for (name, out) in planned {
            if !outputs.contains_key(name) {
                match out.get("value") {
                    Some(v) => {
                        outputs.insert(name.clone(), v.clone());
                    }
                    None => {
                        paths.push(name.clone());
                        outputs.insert(name.clone(), unknown(name));
                    }
                }
            }
        }
    }
    (outputs, paths)
}

/// `after` with the parts `after_unknown` marks (`true`, or a structure of the same shape with
/// `true` at the unknown leaves) replaced by `unknown(path)`.
fn fill_unknown(
    after: Value,
    mask: &Value,
    path: &str,
    unknown: &dyn Fn(&str) -> Value,
    paths: &mut Vec<String>,
) -> Value {
    match (after, mask) {
        (_, Value::Bool(true)) => {
            paths.push(path.to_string());
            unknown(path)
        }
        (Value::Object(mut map), Value::Object(m)) => {
            for (k, sub) in m {
                let inner = map.remove(k).unwrap_or(Value::Null);
                let filled = fill_unknown(inner, sub, &format!("{path}.{k}"), unknown, paths);
                map.insert(k.clone(), filled);
            }
            Value::Object(map)
        }
        (Value::Array(items), Value::Array(m)) => {
            let mut out = Vec::with_capacity(items.len().max(m.len()));
            let mut items = items.into_iter();
            for (i, sub) in m.iter().enumerate() {
                let inner = items.next().unwrap_or(Value::Null);
                out.push(fill_unknown(
                    inner,
                    sub,
                    &format!("{path}.{i}"),
                    unknown,
                    paths,
                ));
            }
            out.extend(items);
            Value::Array(out)
        }
        (after, _) => after,
    }
}

/// The ECS services a plan would destroy and create again only because a service of wharf's
/// `service` module switches between Terraform-owned and wharf-deployed (`wharf_deploys`): the
/// module keeps the two as `aws_ecs_service.terraform[0]` and `aws_ecs_service.wharf[0]`, and
/// Terraform has no conditional `moved` block. Each pair is (from, to), state addresses of the
/// same module instance whose service keeps its name and cluster, for `terraform state mv`.
pub fn service_switches(plan: &Value) -> Vec<(String, String)> {
    const OWNED: &str = "aws_ecs_service.terraform[0]";
    const DEPLOYED: &str = "aws_ecs_service.wharf[0]";
    let changes: Vec<&Value> = plan["resource_changes"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let only = |rc: &Value, action: &str| {
        rc["change"]["actions"]
            .as_array()
            .is_some_and(|a| a.len() == 1 && a[0] == action)
    };
    let local = |rc: &Value| -> Option<(String, String)> {
        let address = rc["address"].as_str()?;
        let module = rc["module_address"].as_str().unwrap_or("");
        let rest = if module.is_empty() {
            address
        } else {
            address.strip_prefix(module)?.strip_prefix('.')?
        };
        Some((module.to_string(), rest.to_string()))
    };
    let mut moves = Vec::new();
    for gone in changes.iter().filter(|rc| only(rc, "delete")) {
        let Some((module, rest)) = local(gone) else {
            continue;
        };
        let to_rest = match rest.as_str() {
            OWNED => DEPLOYED,
            DEPLOYED => OWNED,
            _ => continue,
        };
        let before = &gone["change"]["before"];
        let twin = changes.iter().find(|rc| {
            only(rc, "create")
                && local(rc).is_some_and(|(m, r)| m == module && r == to_rest)
                && rc["change"]["after"]["name"] == before["name"]
                && rc["change"]["after"]["cluster"] == before["cluster"]
        });
        if let Some(twin) = twin {
            if let (Some(from), Some(to)) = (gone["address"].as_str(), twin["address"].as_str()) {
                moves.push((from.to_string(), to.to_string()));
            }
        }
    }
    moves
}

/// Whether the state of the workspace has a resource at an address containing one of
/// `needles` (`terraform state list`, which reads the state and asks no provider).
pub async fn state_has(project: &Stack, needles: &[&str]) -> Result<bool> {
    let o = capture_in(project, &["state", "list"]).await?;
    // No state yet: `state list` says so and fails; nothing to look for.
    Ok(o.status.success()
        && String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| needles.iter().any(|n| l.contains(n))))
}

/// `terraform state mv FROM TO` in the selected workspace.
pub async fn state_mv(project: &Stack, from: &str, to: &str) -> Result<()> {
    let o = capture_in(project, &["state", "mv", "-lock-timeout=60s", from, to]).await?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "terraform state mv {from} {to} failed in {}: {}",
            project.dir.display(),
            stderr_text(&o)
        )));
    }
    Ok(())
}

/// A plan saved to `plan_file` without refreshing (no provider call reads AWS), its output
/// captured; `Ok(false)` when Terraform could not plan (the real run reports why).
pub async fn quiet_plan(project: &Stack, plan_file: &Path, extra: &[String]) -> Result<bool> {
    let mut args = vec![
        "plan".to_string(),
        "-refresh=false".to_string(),
        "-input=false".to_string(),
        "-lock-timeout=60s".to_string(),
        format!("-out={}", plan_file.display()),
    ];
    args.extend(extra.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(capture_in(project, &refs).await?.status.success())
}

/// [`capture`] in the project's workspace.
async fn capture_in(project: &Stack, args: &[&str]) -> Result<std::process::Output> {
    capture_with(&project.dir, Some(&project.workspace), args).await
}

/// `terraform show -json PLAN` in the project's folder: the saved plan as JSON.
pub async fn show_plan(project: &Stack, plan_file: &Path) -> Result<Value> {
    let plan = plan_file.display().to_string();
    let o = capture_in(project, &["show", "-json", &plan]).await?;
    if !o.status.success() {
        return Err(Error::failed(format!(
            "`terraform show -json` of the saved plan in {} failed: {}",
            project.dir.display(),
            stderr_text(&o)
        )));
    }
    serde_json::from_slice(&o.stdout).map_err(|e| {
        Error::failed(format!(
            "terraform show -json printed something that is not JSON: {e}"
        ))
    })
}

/// `{"name": {"value": v, "type": t, ...}}` (output -json, or a state's `outputs`) → name → v.
fn values(doc: &Map<String, Value>) -> Outputs {
    doc.iter()
        .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or(Value::Null)))
        .collect()
}

/// The outputs in a Terraform state document (format version 4, Terraform ≥ 0.12).
pub fn outputs_from_state(bytes: &[u8], source: &str) -> Result<Outputs> {
    let doc: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::failed(format!("the Terraform state {source} is not JSON: {e}")))?;
    match doc.get("version").and_then(Value::as_u64) {
        Some(4) => {}
        Some(v) => {
            return Err(Error::failed(format!(
                "the Terraform state {source} has format version {v}; wharf reads version 4 (Terraform 0.12 and later)"
            ))
            .with_hint("run `terraform apply` (or `terraform state push`) with a current Terraform to upgrade it"))
        }
        None => {
            return Err(Error::failed(format!(
                "{source} is not a Terraform state (no `version`)"
            )))
        }
    }
    Ok(doc
        .get("outputs")
        .and_then(Value::as_object)
        .map(values)
        .unwrap_or_default())
}

/// Where the state of the project's workspace lives, when read without a binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateLocation {
    File(PathBuf),
    S3 { bucket: String, key: String },
}

impl std::fmt::Display for StateLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateLocation::File(p) => write!(f, "{}", p.display()),
            StateLocation::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// The state object of `project`'s workspace: the S3 backend keeps non-default workspaces at
/// `<workspace_key_prefix>/<workspace>/<key>`; the local backend under
/// `terraform.tfstate.d/<workspace>/`.
pub fn state_location(project: &Stack) -> Result<StateLocation> {
    let default_ws = project.workspace == "default";
    match &project.state {
        Some(s) if s.starts_with("s3://") => {
            let rest = &s["s3://".len()..];
            let (bucket, key) = rest
                .split_once('/')
                .filter(|(b, k)| !b.is_empty() && !k.is_empty())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "[terraform] state = \"{s}\" is not s3://BUCKET/KEY"
                    ))
                })?;
            let key = if default_ws {
                key.to_string()
            } else {
                format!(
                    "{}/{}/{key}",
                    project.workspace_key_prefix.trim_end_matches('/'),
                    project.workspace
                )
            };
            Ok(StateLocation::S3 {
                bucket: bucket.to_string(),
                key,
            })
        }
        Some(path) => Ok(StateLocation::File(project.dir.join(path))),
        None if default_ws => Ok(StateLocation::File(project.dir.join("terraform.tfstate"))),
        None => Ok(StateLocation::File(
            project
                .dir
                .join("terraform.tfstate.d")
                .join(&project.workspace)
                .join("terraform.tfstate"),
        )),
    }
}

/// Reads the outputs from the state of `project`'s workspace (a file, or S3 with the SDK).
pub async fn outputs_from_state_location(
    project: &Stack,
    sdk: &aws_config::SdkConfig,
) -> Result<Outputs> {
    let location = state_location(project)?;
    let bytes = match &location {
        StateLocation::File(path) => std::fs::read(path).map_err(|e| {
            Error::failed(format!(
                "cannot read the Terraform state {} (workspace {}): {e}",
                path.display(),
                project.workspace
            ))
            .with_hint("without a `terraform` binary, wharf reads outputs from the state: apply first, or set [terraform] state = \"s3://BUCKET/KEY\" for an S3 backend")
        })?,
        StateLocation::S3 { bucket, key } => {
            let s3 = crate::aws::s3_client(sdk);
            let object = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    crate::aws::error("s3:GetObject", e).with_hint(format!(
                        "wharf reads the state of workspace `{}` at {location}; apply first, or check [terraform] state",
                        project.workspace
                    ))
                })?;
            object
                .body
                .collect()
                .await
                .map_err(|e| Error::aws(format!("reading {location} failed: {e}")).retryable())?
                .into_bytes()
                .to_vec()
        }
    };
    outputs_from_state(&bytes, &location.to_string())
}

/// Terraform outputs of `project` (`terraform output -json` when a binary is on PATH and the
/// folder holds a configuration, else the state itself: a folder with only a state file, as an
/// ecspresso import writes, has nothing for `terraform output` to read).
pub async fn outputs(project: &Stack, sdk: &aws_config::SdkConfig) -> Result<Outputs> {
    if binary().is_some() && has_configuration(&project.dir) {
        outputs_from_cli(project).await
    } else {
        outputs_from_state_location(project, sdk).await
    }
}

/// Whether `dir` holds Terraform configuration files (`*.tf`, `*.tf.json`).
fn has_configuration(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.ends_with(".tf") || name.ends_with(".tf.json")
        })
    })
}

/// The ECS service names Terraform reports in its `services` output (label → name).
pub fn services_output(outputs: &Outputs) -> Result<Vec<(String, String)>> {
    let Some(v) = outputs.get("services") else {
        return Ok(Vec::new());
    };
    let map = v.as_object().ok_or_else(|| {
        Error::usage(
            "Terraform output `services` is not a map of service label to ECS service name",
        )
    })?;
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(Error::usage(format!(
                "Terraform output `services`: `{k}` is {v}, not an ECS service name"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn project(workspace: &str, state: Option<&str>) -> Stack {
        Stack {
            dir: PathBuf::from("tf"),
            workspace: workspace.into(),
            var_file: None,
            tag_var: DEFAULT_TAG_VAR.into(),
            state: state.map(str::to_string),
            workspace_key_prefix: "env:".into(),
        }
    }

    #[test]
    fn a_service_switching_owner_is_moved_not_replaced() {
        let rc = |address: &str, module: &str, action: &str, name: &str| {
            let (before, after) = if action == "delete" {
                (json!({"name": name, "cluster": "arn:c"}), Value::Null)
            } else {
                (Value::Null, json!({"name": name, "cluster": "arn:c"}))
            };
            json!({"address": address, "module_address": module,
                   "change": {"actions": [action], "before": before, "after": after}})
        };
        let plan = json!({"resource_changes": [
            rc("module.web.aws_ecs_service.terraform[0]", "module.web", "delete", "web"),
            rc("module.web.aws_ecs_service.wharf[0]", "module.web", "create", "web"),
            rc("module.svc[\"api\"].aws_ecs_service.wharf[0]", "module.svc[\"api\"]", "delete", "api"),
            rc("module.svc[\"api\"].aws_ecs_service.terraform[0]", "module.svc[\"api\"]", "create", "api"),
            // A rename is a real replacement: not moved.
            rc("module.jobs.aws_ecs_service.terraform[0]", "module.jobs", "delete", "old"),
            rc("module.jobs.aws_ecs_service.wharf[0]", "module.jobs", "create", "new"),
            // Another module's create is no twin.
            rc("module.a.aws_ecs_service.terraform[0]", "module.a", "delete", "x"),
            rc("module.b.aws_ecs_service.wharf[0]", "module.b", "create", "x"),
        ]});
        assert_eq!(
            service_switches(&plan),
            vec![
                (
                    "module.web.aws_ecs_service.terraform[0]".to_string(),
                    "module.web.aws_ecs_service.wharf[0]".to_string()
                ),
                (
                    "module.svc[\"api\"].aws_ecs_service.wharf[0]".to_string(),
                    "module.svc[\"api\"].aws_ecs_service.terraform[0]".to_string()
                ),
            ]
        );
        assert!(service_switches(&json!({})).is_empty());
    }

    #[test]
    fn planned_outputs_mark_what_is_known_only_after_apply() {
        // As Terraform 1.11 writes a plan of a configuration never applied.
        let doc = serde_json::json!({
            "output_changes": {
                "cluster_name": {"actions": ["create"], "after": "shop-dev", "after_unknown": false},
                "role_arn": {"actions": ["create"], "after_unknown": true},
                "services": {"actions": ["create"], "after": {"web": "shop-dev-web"},
                             "after_unknown": {"web": false, "worker": true}},
                "ports": {"actions": ["create"], "after": [80, null], "after_unknown": [false, true]},
                "gone": {"actions": ["delete"], "before": "x", "after": null, "after_unknown": false}
            },
            "planned_values": {"outputs": {"cluster_name": {"sensitive": false, "value": "shop-dev"},
                                           "old_style": {"sensitive": false}}}
        });
        let (outputs, unknown) = planned_outputs(&doc, &|p| Value::String(format!("<{p}>")));
        assert_eq!(outputs["cluster_name"], "shop-dev");
        assert_eq!(outputs["role_arn"], "<role_arn>");
        assert_eq!(outputs["services"]["web"], "shop-dev-web");
        assert_eq!(outputs["services"]["worker"], "<services.worker>");
        assert_eq!(outputs["ports"], serde_json::json!([80, "<ports.1>"]));
        assert_eq!(outputs["old_style"], "<old_style>");
        assert!(!outputs.contains_key("gone"));
        assert_eq!(
            unknown,
            ["role_arn", "services.worker", "ports.1", "old_style"]
        );
    }

    #[test]
    fn workspace_list_marks_the_current_one() {
        let (all, current) = parse_workspace_list("  default\n* dev\n  prod\n\n");
        assert_eq!(all, ["default", "dev", "prod"]);
        assert_eq!(current.as_deref(), Some("dev"));
    }

    #[test]
    fn state_locations_follow_the_backends() {
        assert_eq!(
            state_location(&project("dev", Some("s3://b/app/terraform.tfstate"))).unwrap(),
            StateLocation::S3 {
                bucket: "b".into(),
                key: "env:/dev/app/terraform.tfstate".into()
            }
        );
        assert_eq!(
            state_location(&project("default", Some("s3://b/k.tfstate"))).unwrap(),
            StateLocation::S3 {
                bucket: "b".into(),
                key: "k.tfstate".into()
            }
        );
        assert_eq!(
            state_location(&project("dev", None)).unwrap(),
            StateLocation::File(PathBuf::from(
                "tf/terraform.tfstate.d/dev/terraform.tfstate"
            ))
        );
        assert!(state_location(&project("dev", Some("s3://nokey")))
            .unwrap_err()
            .message
            .contains("is not s3://BUCKET/KEY"));
    }

    #[test]
    fn outputs_come_from_version_4_states() {
        let state = br#"{"version": 4, "outputs": {"cluster_name": {"value": "c", "type": "string"},
            "services": {"value": {"web": "app-dev-web"}, "type": ["object", {"web": "string"}]}}}"#;
        let o = outputs_from_state(state, "s").unwrap();
        assert_eq!(o["cluster_name"], "c");
        assert_eq!(
            services_output(&o).unwrap(),
            [("web".to_string(), "app-dev-web".to_string())]
        );
        let e = outputs_from_state(br#"{"version": 3, "modules": []}"#, "old.tfstate").unwrap_err();
        assert!(e.message.contains("format version 3"), "{e}");
    }

    #[test]
    fn the_tag_is_passed_only_when_given() {
        let mut p = project("dev", None);
        p.var_file = Some("terraform.dev.tfvars".into());
        assert_eq!(p.plan_args(None), ["-var-file=terraform.dev.tfvars"]);
        assert_eq!(
            p.plan_args(Some("1.0.1")),
            ["-var-file=terraform.dev.tfvars", "-var", "app_tag=1.0.1"]
        );
    }
}
