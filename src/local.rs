//! `wharf local run`: a task definition's containers on this machine with docker or podman: the
//! image, environment, secrets resolved from SSM, port mappings published on 127.0.0.1, `dependsOn`
//! order and conditions, and overrides. Ctrl-C stops and removes what it started.
//!
//! [`plan`] turns a rendered task definition into container specs and [`run_args`] into the
//! engine's arguments, both pure; [`run`] drives the engine CLI.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;

use crate::cli::Context;
use crate::error::{Error, Result};

/// A `dependsOn` condition (ECS's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Start,
    Complete,
    Success,
    Healthy,
}

impl Condition {
    fn parse(s: &str) -> Option<Condition> {
        match s {
            "START" => Some(Condition::Start),
            "COMPLETE" => Some(Condition::Complete),
            "SUCCESS" => Some(Condition::Success),
            "HEALTHY" => Some(Condition::Healthy),
            _ => None,
        }
    }
}

/// One container to start locally.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalContainer {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Plain environment, then overrides (later wins).
    pub environment: BTreeMap<String, String>,
    /// Secret names (values are looked up at run time and passed in a private env file).
    pub secrets: Vec<(String, String)>,
    /// (host port, container port, protocol).
    pub ports: Vec<(u16, u16, String)>,
    pub depends_on: Vec<(String, Condition)>,
    pub essential: bool,
    pub health_command: Option<String>,
    pub working_directory: Option<String>,
    pub user: Option<String>,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// The containers of `task_definition` in an order where each comes after those it depends on.
/// `overrides` (name, value) replace or add environment entries in every container.
pub fn plan(
    task_definition: &Value,
    overrides: &[(String, String)],
) -> Result<Vec<LocalContainer>> {
    let defs = task_definition["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut containers = Vec::new();
    for d in &defs {
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let image = d["image"].as_str().unwrap_or_default().to_string();
        let mut environment = BTreeMap::new();
        for e in d["environment"].as_array().into_iter().flatten() {
            if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                environment.insert(k.to_string(), v.to_string());
            }
        }
        for (k, v) in overrides {
            environment.insert(k.clone(), v.clone());
        }
        let secrets = d["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?.to_string(),
                    s["valueFrom"].as_str()?.to_string(),
                ))
            })
            .collect();
        let ports = d["portMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let container = p["containerPort"].as_u64()? as u16;
                let host = p["hostPort"]
                    .as_u64()
                    .filter(|h| *h != 0)
                    .map(|h| h as u16)
                    .unwrap_or(container);
                let protocol = p["protocol"].as_str().unwrap_or("tcp").to_string();
                Some((host, container, protocol))
            })
            .collect();
        let mut depends_on = Vec::new();
        for dep in d["dependsOn"].as_array().into_iter().flatten() {
            let other = dep["containerName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let cond = dep["condition"].as_str().unwrap_or("START");
            let Some(c) = Condition::parse(cond) else {
                return Err(Error::usage(format!(
                    "container `{name}` depends on `{other}` with condition {cond:?}; ECS knows START, COMPLETE, SUCCESS and HEALTHY"
                )));
            };
            if !defs.iter().any(|d| d["name"] == other.as_str()) {
                return Err(Error::usage(format!(
                    "container `{name}` depends on `{other}`, which the task definition does not have"
                )));
            }
            depends_on.push((other, c));
        }
        let health_command = strings(&d["healthCheck"]["command"]).and_then(|cmd| {
            match cmd.first().map(String::as_str) {
                Some("CMD-SHELL") => Some(cmd[1..].join(" ")),
                Some("CMD") => Some(cmd[1..].join(" ")),
                _ => None,
            }
        });
        containers.push(LocalContainer {
            name,
            image,
            entrypoint: strings(&d["entryPoint"]),
            command: strings(&d["command"]),
            environment,
            secrets,
            ports,
            depends_on,
            essential: d["essential"].as_bool().unwrap_or(true),
            health_command,
            working_directory: d["workingDirectory"].as_str().map(str::to_string),
            user: d["user"].as_str().map(str::to_string),
        });
    }
    // Order by dependsOn (ECS rejects cycles at registration; refuse them here too).
    let mut ordered: Vec<LocalContainer> = Vec::new();
    let mut pending = containers;
    while !pending.is_empty() {
        let ready = pending.iter().position(|c| {
            c.depends_on
                .iter()
                .all(|(d, _)| ordered.iter().any(|o| &o.name == d))
        });
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                let names: Vec<&str> = pending.iter().map(|c| c.name.as_str()).collect();
                return Err(Error::usage(format!(
                    "the dependsOn of containers {} form a cycle",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

/// `docker run` arguments for `c` (before the image: options; then image and command).
/// `env_file` holds the secrets and environment, so values never appear in the process list.
pub fn run_args(
    c: &LocalContainer,
    container_name: &str,
    network: &str,
    env_file: &str,
) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--name".into(),
        container_name.into(),
        "--network".into(),
        network.into(),
        "--network-alias".into(),
        c.name.clone(),
        "--env-file".into(),
        env_file.into(),
        "--label".into(),
        "wharf.local=1".into(),
    ];
    for (host, container, protocol) in &c.ports {
        a.push("-p".into());
        a.push(format!("127.0.0.1:{host}:{container}/{protocol}"));
    }
    if let Some(h) = &c.health_command {
        a.push("--health-cmd".into());
        a.push(h.clone());
        a.push("--health-interval".into());
        a.push("1s".into());
    }
    if let Some(w) = &c.working_directory {
        a.push("--workdir".into());
        a.push(w.clone());
    }
    if let Some(u) = &c.user {
        a.push("--user".into());
        a.push(u.clone());
    }
    let mut rest = Vec::new();
    if let Some(ep) = &c.entrypoint {
        if let Some((first, more)) = ep.split_first() {
            a.push("--entrypoint".into());
            a.push(first.clone());
            rest.extend(more.iter().cloned());
        }
    }
    a.push(c.image.clone());
    a.extend(rest);
    if let Some(cmd) = &c.command {
        a.extend(cmd.iter().cloned());
    }
    a
}

/// The env-file text for a container: `NAME=value` lines. Values with newlines cannot be passed
/// this way and are refused with the variable's name (never its value).
pub fn env_file_text(container: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    for (k, v) in vars {
        if v.contains('\n') {
            return Err(Error::usage(format!(
                "{k} of container `{container}` has a value with a line break, which docker's --env-file cannot carry"
            )));
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    Ok(out)
}

/// The container engine: `WHARF_ENGINE`, else docker, else podman, on PATH.
pub fn engine() -> Result<String> {
    if let Ok(e) = std::env::var("WHARF_ENGINE") {
        if !e.is_empty() {
            return Ok(e);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for candidate in ["docker", "podman"] {
        if std::env::split_paths(&path).any(|d| d.join(candidate).is_file()) {
            return Ok(candidate.to_string());
        }
    }
    Err(Error::usage("neither docker nor podman is on PATH")
        .with_hint("install one, or set WHARF_ENGINE"))
}

/// What `wharf local run` was asked for.
#[derive(Debug, Clone)]
pub struct LocalRequest {
    pub unit: String,
    pub tag: Option<String>,
    pub env_files: Vec<PathBuf>,
    pub set_env: Vec<(String, String)>,
    /// Stop after this long (for scripts and tests); None: until an essential container exits or Ctrl-C.
    pub timeout: Option<Duration>,
}

async fn engine_out(engine: &str, args: &[String]) -> Result<String> {
    let out = Command::new(engine)
        .args(args)
        .output()
        .await
        .map_err(|e| Error::failed(format!("cannot run {engine}: {e}")))?;
    if !out.status.success() {
        return Err(Error::failed(format!(
            "{engine} {} failed: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Reads the SSM parameters `secrets` reference (ARN or name), decrypted.
async fn resolve_secrets(
    ssm: &aws_sdk_ssm::Client,
    containers: &[LocalContainer],
) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for c in containers {
        for (_, from) in &c.secrets {
            if values.contains_key(from) {
                continue;
            }
            let name = match from.split_once(":parameter") {
                Some((_, path)) => path.to_string(),
                None => from.clone(),
            };
            let out = ssm
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_not_found())
                    {
                        Error::usage(format!(
                            "secret {name} (for container `{}`) does not exist in SSM",
                            c.name
                        ))
                    } else {
                        crate::aws::error("ssm:GetParameter", e)
                    }
                })?;
            let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
            values.insert(from.clone(), value);
        }
    }
    Ok(values)
}

/// Runs the unit's containers; returns the exit code of the first essential container to exit.
pub async fn run(ctx: &Context, req: LocalRequest) -> Result<i32> {
    let engine = engine()?;
    let manifest = ctx.manifest()?;
    let unit = crate::render::Unit::find(&manifest, &req.unit)?;
    let unit = match unit {
        crate::render::Unit::Service(_) => crate::render::Unit::Service(req.unit.as_str()),
        crate::render::Unit::Job(_) => crate::render::Unit::Job(req.unit.as_str()),
    };
    drop(manifest);
    let mut overrides = Vec::new();
    for f in &req.env_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", f.display())))?;
        for e in crate::secrets::parse_dotenv(f, &text)? {
            overrides.push((e.name, e.value));
        }
    }
    overrides.extend(req.set_env.iter().cloned());
    let conn = crate::jobs::connect(ctx, req.tag.clone(), Some(unit)).await?;
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let rendered = crate::render::render_unit(&inputs, unit)?;
    let mut containers = plan(&rendered.task_definition, &overrides)?;
    // A job's command replaces its essential container's, as with `wharf run`.
    if let crate::render::Unit::Job(job) = unit {
        if let Some(cmd) = conn.manifest.doc.jobs[job].command.clone() {
            let target = crate::jobs::job_container(&rendered.task_definition, None)?;
            if let Some(c) = containers.iter_mut().find(|c| c.name == target) {
                c.command = Some(cmd);
            }
        }
    }
    let secrets = resolve_secrets(&conn.clients.ssm, &containers).await?;
    let id = format!(
        "wharf-{}-{}-{}",
        conn.manifest.app(),
        req.unit,
        std::process::id()
    );
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut started: Vec<String> = Vec::new();
    let network = id.clone();
    engine_out(
        &engine,
        &["network".into(), "create".into(), network.clone()],
    )
    .await?;
    let result = run_containers(
        ctx,
        &engine,
        &id,
        &network,
        &dir,
        &containers,
        &secrets,
        &mut started,
        req.timeout,
    )
    .await;
    // Clean up whatever happened: containers, network, env files.
    for name in started.iter().rev() {
        let _ = Command::new(&engine)
            .args(["rm", "-f", name])
            .output()
            .await;
    }
    let _ = Command::new(&engine)
        .args(["network", "rm", &network])
        .output()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_containers(
    ctx: &Context,
    engine: &str,
    id: &str,
    network: &str,
    dir: &std::path::Path,
    containers: &[LocalContainer],
    secrets: &HashMap<String, String>,
    started: &mut Vec<String>,
    timeout: Option<Duration>,
) -> Result<i32> {
    let signal = crate::deploy::interrupt_signal();
    let began = Instant::now();
    let mut log_tasks = Vec::new();
    for c in containers {
        for (dep, cond) in &c.depends_on {
            let dep_name = format!("{id}-{dep}");
            wait_condition(engine, &dep_name, dep, *cond, &signal).await?;
        }
        let mut vars = c.environment.clone();
        for (name, from) in &c.secrets {
            vars.insert(name.clone(), secrets.get(from).cloned().unwrap_or_default());
        }
        let env_path = dir.join(format!("{}.env", c.name));
        write_private(&env_path, &env_file_text(&c.name, &vars)?)?;
        let name = format!("{id}-{}", c.name);
        let args = run_args(c, &name, network, &env_path.display().to_string());
        let r = engine_out(engine, &args).await;
        let _ = std::fs::remove_file(&env_path);
        r.map_err(|e| {
            e.with_hint(format!(
                "the image is {}; build it (`wharf build`) or log in to its registry",
                c.image
            ))
        })?;
        started.push(name.clone());
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|(h, p, _)| format!("127.0.0.1:{h}->{p}"))
            .collect();
        ctx.out.status(format!(
            "started {}{}",
            c.name,
            if ports.is_empty() {
                String::new()
            } else {
                format!(" ({})", ports.join(", "))
            }
        ));
        let prefix = if containers.len() > 1 {
            format!("{} | ", c.name)
        } else {
            String::new()
        };
        let engine_owned = engine.to_string();
        log_tasks.push(tokio::spawn(follow_logs(engine_owned, name, prefix)));
    }
    // Wait for an essential container to exit, Ctrl-C, or the timeout.
    let essential: Vec<(String, String)> = containers
        .iter()
        .filter(|c| c.essential)
        .map(|c| (c.name.clone(), format!("{id}-{}", c.name)))
        .collect();
    let outcome = loop {
        if *signal.borrow() {
            break Err(Error::interrupted(
                "interrupted; stopped and removed the local containers",
            ));
        }
        if timeout.is_some_and(|t| began.elapsed() >= t) {
            break Err(Error::timeout(
                "local run reached --timeout; stopped and removed the containers",
            ));
        }
        let mut exited = None;
        for (short, full) in &essential {
            let state = engine_out(
                engine,
                &[
                    "inspect".into(),
                    "-f".into(),
                    "{{.State.Status}} {{.State.ExitCode}}".into(),
                    full.clone(),
                ],
            )
            .await?;
            let mut parts = state.split_whitespace();
            if parts.next() == Some("exited") {
                let code: i32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                exited = Some((short.clone(), code));
                break;
            }
        }
        if let Some((short, code)) = exited {
            ctx.out.status(format!(
                "{short} exited with code {code}; stopping the others"
            ));
            break Ok(code);
        }
        let mut rx = signal.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = rx.changed() => {}
        }
    };
    // Let the log followers print what is left.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in log_tasks {
        t.abort();
    }
    outcome
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

async fn follow_logs(engine: String, name: String, prefix: String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let Ok(mut child) = Command::new(&engine)
        .args(["logs", "-f", &name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    else {
        return;
    };
    let out = child.stdout.take();
    let err = child.stderr.take();
    let p2 = prefix.clone();
    let a = async move {
        if let Some(o) = out {
            let mut lines = BufReader::new(o).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                println!("{prefix}{l}");
            }
        }
    };
    let b = async move {
        if let Some(e) = err {
            let mut lines = BufReader::new(e).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                println!("{p2}{l}");
            }
        }
    };
    tokio::join!(a, b);
    let _ = child.wait().await;
}

async fn wait_condition(
    engine: &str,
    full: &str,
    short: &str,
    cond: Condition,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    if cond == Condition::Start {
        return Ok(());
    }
    loop {
        if *signal.borrow() {
            return Err(Error::interrupted(
                "interrupted; stopped and removed the local containers",
            ));
        }
        let state = engine_out(
            engine,
            &["inspect".into(), "-f".into(), "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}".into(), full.into()],
        )
        .await?;
        let parts: Vec<&str> = state.split_whitespace().collect();
        let status = parts.first().copied().unwrap_or("");
        let code: i32 = parts.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let health = parts.get(2).copied().unwrap_or("");
        match cond {
            Condition::Complete if status == "exited" => return Ok(()),
            Condition::Success if status == "exited" => {
                if code == 0 {
                    return Ok(());
                }
                return Err(Error::failed(format!(
                    "container `{short}` exited with code {code}; the containers that need it to succeed (dependsOn SUCCESS) were not started"
                )));
            }
            Condition::Healthy if health == "healthy" => return Ok(()),
            Condition::Healthy if health.is_empty() => {
                return Err(Error::usage(format!(
                "a container depends on `{short}` being HEALTHY, but `{short}` has no healthCheck"
            )))
            }
            Condition::Healthy if status == "exited" => {
                return Err(Error::failed(format!(
                    "container `{short}` exited before it became healthy"
                )))
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn td() -> Value {
        json!({"containerDefinitions": [
            {"name": "web", "image": "app:1", "command": ["serve"], "essential": true,
             "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/app/dev/DB"}],
             "portMappings": [{"containerPort": 8080}],
             "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]},
            {"name": "migrate", "image": "app:1", "essential": false, "entryPoint": ["sh", "-c"], "command": ["migrate"],
             "healthCheck": {"command": ["CMD-SHELL", "test -f /ok"]}}
        ]})
    }

    #[test]
    fn containers_come_in_depends_on_order_with_overrides() {
        let c = plan(&td(), &[("B".into(), "override".into())]).unwrap();
        assert_eq!(c[0].name, "migrate");
        assert_eq!(c[1].name, "web");
        assert_eq!(c[1].environment["B"], "override");
        assert_eq!(c[1].ports, [(8080, 8080, "tcp".to_string())]);
        assert_eq!(
            c[1].depends_on,
            [("migrate".to_string(), Condition::Success)]
        );
        assert_eq!(c[0].health_command.as_deref(), Some("test -f /ok"));
    }

    #[test]
    fn docker_arguments() {
        let c = plan(&td(), &[]).unwrap();
        let a = run_args(&c[0], "x-migrate", "net", "/tmp/e");
        let tail: Vec<&str> = a
            .iter()
            .map(String::as_str)
            .skip_while(|s| *s != "app:1")
            .collect();
        assert_eq!(tail, ["app:1", "-c", "migrate"]);
        assert!(a.windows(2).any(|w| w[0] == "--entrypoint" && w[1] == "sh"));
        let a = run_args(&c[1], "x-web", "net", "/tmp/e");
        assert!(a
            .windows(2)
            .any(|w| w[0] == "-p" && w[1] == "127.0.0.1:8080:8080/tcp"));
        assert!(
            !a.iter().any(|s| s.contains("A=1")),
            "values go through the env file"
        );
    }

    #[test]
    fn bad_depends_on() {
        let mut t = td();
        t["containerDefinitions"][1]["dependsOn"] =
            json!([{"containerName": "web", "condition": "START"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(e.message.contains("form a cycle"), "{}", e.message);
        t["containerDefinitions"][1]["dependsOn"] = json!([{"containerName": "nope"}]);
        assert!(plan(&t, &[]).unwrap_err().message.contains("does not have"));
    }

    #[test]
    fn env_files_refuse_line_breaks_without_printing_values() {
        let mut v = BTreeMap::new();
        v.insert("SECRET".to_string(), "a\nb".to_string());
        let e = env_file_text("web", &v).unwrap_err();
        assert!(!e.message.contains("a\nb"));
        v.insert("SECRET".to_string(), "ab".to_string());
        assert_eq!(env_file_text("web", &v).unwrap(), "SECRET=ab\n");
    }
}
