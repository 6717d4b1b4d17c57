//! `wharf local run`: a task definition's containers on this machine with docker or podman: the
//! image (built here, or pulled after an ECR login), environment, secrets resolved from SSM, port
//! mappings published on 127.0.0.1, `dependsOn` order and conditions, and overrides. Ctrl-C stops
//! and removes what it started.
//!
//! As in an `awsvpc` task, the containers share one network namespace, so they reach each other on
//! `localhost`: a small holder container (see [`holder`]) owns the namespace and publishes
//! every port, and each container joins it. The namespace sits on a network of its own, where the
//! container names also resolve.
//!
//! [`spec::plan`] turns a rendered task definition into container specs and [`argv`] into the
//! engine's arguments, both pure; [`run`] here drives the engine CLI.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub mod argv;
pub mod holder;
pub mod spec;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::settings::Settings;
use argv::*;
use holder::holder_image;
use spec::*;

/// Makes sure the engine has every image: one built here is used as it is (unless `pull`); one
/// it lacks is pulled, after an ECR login (kept to this run) when it is in the environment's
/// registry or in any ECR registry.
async fn ensure_images(
    ctx: &Settings,
    engine: &Engine,
    conn: &crate::project::connect::Connected,
    containers: &[LocalContainer],
    pull: bool,
) -> Result<()> {
    let mut images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    images.sort();
    images.dedup();
    let mut missing = Vec::new();
    for image in images {
        if pull || engine.inspect(image).await?.is_none() {
            missing.push(image);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // The environment's registry, when it is known without asking STS (only ECR hosts are
    // recognised otherwise).
    let target = crate::images::RegistryTarget::new(
        &conn.manifest,
        &conn.env_name,
        None,
        Some(conn.clients.region.clone()),
    )
    .ok();
    // One authorization token opens every ECR registry the caller may use: asked for once.
    let mut login = None;
    let mut logged_in: Vec<String> = Vec::new();
    for image in missing {
        let host = crate::images::ImageRef::parse(image).map(|r| r.host);
        if let Some(host) = host.filter(|h| crate::images::takes_ecr_login(target.as_ref(), h)) {
            if !logged_in.contains(&host) {
                if login.is_none() {
                    let account = target.as_ref().and_then(|t| t.account.clone());
                    let ecr = crate::images::ecr::Ecr::new(&conn.clients.config, account);
                    login = Some(ecr.login().await?);
                }
                let l = login.as_ref().expect("asked for above");
                engine.login(&host, &l.username, &l.password).await?;
                logged_in.push(host);
            }
        }
        ctx.out.status(format!("pulling {image}"));
        let echo = |line: &str| ctx.out.verbose(format!("  {line}"));
        engine.pull(image, &echo).await.map_err(|e| {
            e.with_hint(
                "build it here (`wharf build`) or push it (`wharf push`) with this tag first",
            )
        })?;
    }
    Ok(())
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
    /// `--engine`: docker or podman.
    pub engine: Option<String>,
    /// `--pull`: pull every image, even one the engine has.
    pub pull: bool,
}

async fn engine_out(engine: &Engine, args: &[String]) -> Result<String> {
    let program = engine.program();
    let out = engine
        .plain(&[])
        .args(args)
        .output()
        .await
        .map_err(|e| Error::failed(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(Error::failed(format!(
            "{program} {} failed: {}",
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
pub async fn run(ctx: &Settings, req: LocalRequest) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let preferred = crate::images::preferred_engine(&manifest, req.engine.as_deref())?;
    let unit = crate::project::render::Unit::find(&manifest, &req.unit)?;
    let unit = match unit {
        crate::project::render::Unit::Service(_) => {
            crate::project::render::Unit::Service(req.unit.as_str())
        }
        crate::project::render::Unit::Job(_) => {
            crate::project::render::Unit::Job(req.unit.as_str())
        }
    };
    drop(manifest);
    // Registry logins of this run stay in a private folder, as with `wharf push`.
    let engine = Engine::detect(preferred).await?.with_private_auth()?;
    let mut overrides = Vec::new();
    for f in &req.env_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", f.display())))?;
        for e in crate::operate::secrets::parse_dotenv(f, &text)? {
            overrides.push((e.name, e.value));
        }
    }
    overrides.extend(req.set_env.iter().cloned());
    let conn = crate::project::connect::Connected::open(ctx, req.tag.clone(), &[unit]).await?;
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let rendered = crate::project::render::render_unit(&inputs, unit)?;
    let mut containers = plan(&rendered.task_definition, &overrides)?;
    // A job's command replaces its essential container's, as with `wharf run`.
    if let crate::project::render::Unit::Job(job) = unit {
        if let Some(cmd) = conn.manifest.doc.jobs[job].command.clone() {
            let target = crate::operate::jobs::job_container(&rendered.task_definition, None)?;
            if let Some(c) = containers.iter_mut().find(|c| c.name == target) {
                c.command = Some(cmd);
            }
        }
    }
    for v in rendered.task_definition["volumes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let from = if let Some(path) = v["host"]["sourcePath"].as_str() {
            format!("host path {path}")
        } else if v.get("efsVolumeConfiguration").is_some() {
            "EFS file system".to_string()
        } else {
            continue;
        };
        ctx.out.status(format!(
            "volume `{}`: a fresh local volume; the {from} is not mounted from this machine",
            v["name"].as_str().unwrap_or_default()
        ));
    }
    let secrets = resolve_secrets(&conn.clients.ssm, &containers).await?;
    ensure_images(ctx, &engine, &conn, &containers, req.pull).await?;
    let holder_image = holder_image(&engine).await?;
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
    let holder = local_name(&id, "network");
    // Removed at the end even when it fails to start: `run` may have created it.
    started.push(holder.clone());
    let result = match engine_out(
        &engine,
        &holder_args(&containers, &holder, &network, &holder_image),
    )
    .await
    {
        Ok(_) => {
            let run = LocalRun {
                ctx,
                engine: &engine,
                id: &id,
                holder: &holder,
                dir: &dir,
                containers: &containers,
                secrets: &secrets,
                timeout: req.timeout,
            };
            run_containers(&run, &mut started).await
        }
        Err(e) => {
            let ports: Vec<String> = containers
                .iter()
                .flat_map(|c| c.ports.iter().map(|(h, _, p)| format!("127.0.0.1:{h}/{p}")))
                .collect();
            Err(e.with_hint(format!(
                "the task's ports are published on {}; when one is in use, stop what holds it",
                if ports.is_empty() {
                    "none".to_string()
                } else {
                    ports.join(", ")
                }
            )))
        }
    };
    // Clean up whatever happened: containers (the holder last), network, env files.
    for name in started.iter().rev() {
        let _ = engine.plain(&["rm", "-f", name]).output().await;
    }
    let _ = engine.plain(&["network", "rm", &network]).output().await;
    for volume in task_volumes(&rendered.task_definition) {
        let name = local_name(&id, &volume);
        let _ = engine.plain(&["volume", "rm", "-f", &name]).output().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One local run's containers and what starting them needs: run `id` (the prefix of the
/// engine's names), the network `holder`, the folder of env files, resolved secrets.
struct LocalRun<'a> {
    ctx: &'a Settings,
    engine: &'a Engine,
    id: &'a str,
    holder: &'a str,
    dir: &'a std::path::Path,
    containers: &'a [LocalContainer],
    secrets: &'a HashMap<String, String>,
    timeout: Option<Duration>,
}

/// Starts the containers in order and watches them to the end (see [`start_and_watch`]), then
/// stops what was started, whatever the end was, while the log followers still print.
/// `started` collects the engine names of what `run` may have created, for the clean-up.
async fn run_containers(run: &LocalRun<'_>, started: &mut Vec<String>) -> Result<i32> {
    let mut log_tasks = Vec::new();
    let outcome = start_and_watch(run, started, &mut log_tasks).await;
    stop_gracefully(run, started).await;
    // Let the log followers print what is left.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in log_tasks {
        t.abort();
    }
    outcome
}

/// Starts each container once its dependsOn conditions hold, streams its output, and waits for
/// an essential container to exit (its code), the run's timeout, or Ctrl-C.
async fn start_and_watch(
    run: &LocalRun<'_>,
    started: &mut Vec<String>,
    log_tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<i32> {
    let LocalRun {
        ctx,
        engine,
        id,
        holder,
        dir,
        containers,
        secrets,
        timeout,
    } = *run;
    let signal = crate::interrupt::Interrupt::install();
    let began = Instant::now();
    for c in containers {
        for (dep, cond) in &c.depends_on {
            let dep_name = local_name(id, dep);
            let health = containers
                .iter()
                .find(|d| &d.name == dep)
                .and_then(|d| d.health.as_ref());
            wait_condition(engine, &dep_name, dep, *cond, health, &signal).await?;
        }
        let mut vars = c.environment.clone();
        for (name, from) in &c.secrets {
            vars.insert(name.clone(), secrets.get(from).cloned().unwrap_or_default());
        }
        let env_path = dir.join(format!("{}.env", c.name));
        write_private(&env_path, &env_file_text(&c.name, &vars)?)?;
        let name = local_name(id, &c.name);
        let args = run_args(c, id, holder, &env_path.display().to_string());
        // Removed at the end even when it fails to start: `run` may have created it.
        started.push(name.clone());
        let r = engine_out(engine, &args).await;
        let _ = std::fs::remove_file(&env_path);
        r.map_err(|e| e.with_hint(format!("container `{}` did not start", c.name)))?;
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
        log_tasks.push(tokio::spawn(follow_logs(engine.clone(), name, prefix)));
    }
    // Wait for an essential container to exit, Ctrl-C, or the timeout.
    let essential: Vec<(String, String)> = containers
        .iter()
        .filter(|c| c.essential)
        .map(|c| (c.name.clone(), local_name(id, &c.name)))
        .collect();
    loop {
        if signal.is_set() {
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
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = signal.wait() => {}
        }
    }
}

/// Stops the started containers as ECS stops a task's: dependents first (the reverse of the start
/// order), each with SIGTERM and, after its `stopTimeout`, SIGKILL, while their output is still
/// streamed, so shutdown handling can be watched. A second Ctrl-C skips the wait; whatever is
/// left is removed by the caller either way.
async fn stop_gracefully(run: &LocalRun<'_>, started: &[String]) {
    let LocalRun {
        ctx,
        engine,
        id,
        containers,
        ..
    } = *run;
    // Dependents first: the reverse of the start order.
    let mut to_stop: Vec<(&LocalContainer, String)> = containers
        .iter()
        .rev()
        .map(|c| (c, local_name(id, &c.name)))
        .filter(|(_, name)| started.contains(name))
        .collect();
    if to_stop.is_empty() {
        return;
    }
    // Only those still running (an init container has long exited).
    let mut inspect = vec!["inspect", "-f", "{{.Name}} {{.State.Running}}"];
    inspect.extend(to_stop.iter().map(|(_, name)| name.as_str()));
    let Ok(out) = engine.plain(&inspect).output().await else {
        return;
    };
    let states = String::from_utf8_lossy(&out.stdout);
    let running: Vec<&str> = states
        .lines()
        .filter_map(|l| l.strip_suffix(" true"))
        .map(|n| n.trim_start_matches('/'))
        .collect();
    to_stop.retain(|(_, name)| running.contains(&name.as_str()));
    let Some(longest) = to_stop.iter().map(|(c, _)| c.stop_timeout).max() else {
        return;
    };
    let names: Vec<&str> = to_stop.iter().map(|(c, _)| c.name.as_str()).collect();
    ctx.out.status(format!(
        "stopping {} (SIGTERM, then SIGKILL after {}; Ctrl-C removes them now)",
        names.join(", "),
        if to_stop.iter().all(|(c, _)| c.stop_timeout == longest) {
            format!("{longest}s")
        } else {
            format!("up to {longest}s")
        }
    ));
    let stops = async {
        for (c, name) in &to_stop {
            let secs = c.stop_timeout.to_string();
            let _ = engine.plain(&["stop", "-t", &secs, name]).output().await;
        }
    };
    tokio::select! {
        _ = stops => {}
        _ = tokio::signal::ctrl_c() => ctx.out.status("removing them now"),
    }
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

async fn follow_logs(engine: Engine, name: String, prefix: String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let Ok(mut child) = engine
        .plain(&["logs", "-f", &name])
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

/// Waits until container `full` (`short` in the task definition) meets `cond`. podman runs
/// health checks from systemd timers, which a machine without systemd (a container, most CI
/// runners) does not have: there the status would stay "starting" for ever, so for a HEALTHY
/// condition wharf runs `podman healthcheck run` itself at the check's interval.
async fn wait_condition(
    engine: &Engine,
    full: &str,
    short: &str,
    cond: Condition,
    health: Option<&Health>,
    signal: &crate::interrupt::Interrupt,
) -> Result<()> {
    if cond == Condition::Start {
        return Ok(());
    }
    let interval = health.map(|h| Duration::from_secs(h.interval.max(1)));
    let drive = engine.kind == crate::engine::EngineKind::Podman && cond == Condition::Healthy;
    let mut next_check = interval.filter(|_| drive).map(|i| Instant::now() + i);
    loop {
        if signal.is_set() {
            return Err(Error::interrupted(
                "interrupted; stopped and removed the local containers",
            ));
        }
        if let (Some(at), Some(every)) = (next_check, interval) {
            if Instant::now() >= at {
                // Its exit code is the check's; the status it records is read below.
                let _ = engine.plain(&["healthcheck", "run", full]).output().await;
                next_check = Some(at + every);
            }
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
            Condition::Healthy if health == "unhealthy" => {
                return Err(Error::failed(format!(
                    "container `{short}` is unhealthy; the containers that need it healthy (dependsOn HEALTHY) were not started"
                )))
            }
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
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::holder::*;
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
        let h = c[0].health.as_ref().unwrap();
        assert_eq!(
            (
                h.command.as_str(),
                h.interval,
                h.timeout,
                h.retries,
                h.start_period
            ),
            ("test -f /ok", 30, 5, 3, 0),
            "ECS's defaults"
        );
    }

    #[test]
    fn docker_arguments() {
        let c = plan(&td(), &[]).unwrap();
        let a = run_args(&c[0], "x", "x-network", "/tmp/e");
        let tail: Vec<&str> = a
            .iter()
            .map(String::as_str)
            .skip_while(|s| *s != "app:1")
            .collect();
        assert_eq!(tail, ["app:1", "-c", "migrate"]);
        assert!(a.windows(2).any(|w| w[0] == "--entrypoint" && w[1] == "sh"));
        let a = run_args(&c[1], "x", "x-network", "/tmp/e");
        assert!(a.windows(2).any(|w| w[0] == "--name" && w[1] == "x-web"));
        assert!(
            a.windows(2)
                .any(|w| w[0] == "--network" && w[1] == "container:x-network"),
            "{a:?}"
        );
        assert!(!a.iter().any(|s| s == "-p"), "ports belong to the holder");
        assert!(
            !a.iter().any(|s| s.contains("A=1")),
            "values go through the env file"
        );
        // The holder publishes every container's ports and answers to every container's name.
        let h = holder_args(&c, "x-network", "x", "holder:1");
        assert!(h
            .windows(2)
            .any(|w| w[0] == "-p" && w[1] == "127.0.0.1:8080:8080/tcp"));
        for name in ["web", "migrate"] {
            assert!(h
                .windows(2)
                .any(|w| w[0] == "--network-alias" && w[1] == name));
        }
        assert_eq!(h.last().map(String::as_str), Some("holder:1"));
    }

    #[test]
    fn volumes_are_local_to_the_run() {
        let mut t = td();
        t["volumes"] = json!([{"name": "conf"}, {"name": "data", "host": {"sourcePath": "/srv"}}]);
        t["containerDefinitions"][0]["mountPoints"] =
            json!([{"sourceVolume": "conf", "containerPath": "/etc/app", "readOnly": true}]);
        t["containerDefinitions"][1]["mountPoints"] =
            json!([{"sourceVolume": "conf", "containerPath": "/out"}]);
        t["containerDefinitions"][0]["volumesFrom"] = json!([{"sourceContainer": "migrate"}]);
        assert_eq!(task_volumes(&t), ["conf", "data"]);
        let c = plan(&t, &[]).unwrap();
        let web = run_args(&c[1], "x", "x-network", "/tmp/e");
        assert!(web
            .windows(2)
            .any(|w| w[0] == "--volume" && w[1] == "x-conf:/etc/app:ro"));
        assert!(web
            .windows(2)
            .any(|w| w[0] == "--volumes-from" && w[1] == "x-migrate"));
        let migrate = run_args(&c[0], "x", "x-network", "/tmp/e");
        assert!(migrate
            .windows(2)
            .any(|w| w[0] == "--volume" && w[1] == "x-conf:/out"));
        // An unknown volume or source container is named.
        t["containerDefinitions"][0]["mountPoints"] =
            json!([{"sourceVolume": "nope", "containerPath": "/x"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(
            e.message.contains("`web` mounts volume `nope`"),
            "{}",
            e.message
        );
        t["containerDefinitions"][0]["mountPoints"] = json!([]);
        t["containerDefinitions"][0]["volumesFrom"] = json!([{"sourceContainer": "web"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(e.message.contains("not another container"), "{}", e.message);
    }

    #[test]
    fn limits_and_runtime_settings_as_the_ecs_agent_maps_them() {
        let task = json!({"cpu": "512", "memory": "1024"});
        let d = json!({"cpu": 128, "memoryReservation": 256,
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "readonlyRootFilesystem": true, "linuxParameters": {"initProcessEnabled": true},
            "dockerLabels": {"team": "web"}});
        assert_eq!(
            runtime_options(&task, &d),
            [
                "--cpu-shares",
                "128",
                "--cpus",
                "0.5",
                "--memory",
                "1024m",
                "--memory-reservation",
                "256m",
                "--ulimit",
                "nofile=1024:4096",
                "--read-only",
                "--init",
                "--label",
                "team=web"
            ]
        );
        // The container's own hard limit wins over the task's size; nothing given, nothing set.
        assert_eq!(
            runtime_options(&task, &json!({"memory": 300}))[2..],
            ["--memory", "300m"]
        );
        assert!(runtime_options(&json!({}), &json!({})).is_empty());
    }

    #[test]
    fn linux_parameters_as_the_ecs_agent_maps_them() {
        let d = json!({"memory": 512, "privileged": true, "linuxParameters": {
            "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW", "MKNOD"]},
            "sharedMemorySize": 64,
            "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec", "nosuid"]},
                      {"containerPath": "/tmp", "size": 32}],
            "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]},
                        {"hostPath": "/dev/null", "containerPath": "/dev/nothing"}],
            "maxSwap": 256, "swappiness": 10}});
        assert_eq!(
            runtime_options(&json!({}), &d),
            [
                "--memory",
                "512m",
                "--privileged",
                "--cap-add",
                "SYS_PTRACE",
                "--cap-drop",
                "NET_RAW",
                "--cap-drop",
                "MKNOD",
                "--shm-size",
                "64m",
                "--tmpfs",
                "/run:size=16m,noexec,nosuid",
                "--tmpfs",
                "/tmp:size=32m",
                "--device",
                "/dev/fuse:/dev/fuse:rw",
                "--device",
                "/dev/null:/dev/nothing",
                "--memory-swap",
                "768m",
                "--memory-swappiness",
                "10"
            ]
        );
    }

    #[test]
    fn health_checks_keep_their_timings_and_cmd_words() {
        let t = json!({"containerDefinitions": [{"name": "web", "image": "app:1",
            "healthCheck": {"command": ["CMD", "wget", "-qO-", "http://localhost/it's ok"],
                            "interval": 5, "timeout": 2, "retries": 4, "startPeriod": 10}}]});
        let c = plan(&t, &[]).unwrap();
        let a = run_args(&c[0], "x", "x-network", "/tmp/e");
        let flag = |name: &str| {
            a.windows(2)
                .find(|w| w[0] == name)
                .map(|w| w[1].clone())
                .unwrap_or_default()
        };
        assert_eq!(
            flag("--health-cmd"),
            r#"wget -qO- 'http://localhost/it'\''s ok'"#
        );
        assert_eq!(flag("--health-interval"), "5s");
        assert_eq!(flag("--health-timeout"), "2s");
        assert_eq!(flag("--health-retries"), "4");
        assert_eq!(flag("--health-start-period"), "10s");
    }

    #[test]
    fn volumes_from_orders_containers() {
        let t = json!({"containerDefinitions": [
            {"name": "app", "image": "a", "volumesFrom": [{"sourceContainer": "data"}]},
            {"name": "data", "image": "d", "essential": false}
        ]});
        let c = plan(&t, &[]).unwrap();
        assert_eq!(c[0].name, "data");
    }

    #[test]
    fn two_containers_cannot_map_one_port() {
        let mut t = td();
        t["containerDefinitions"][1]["portMappings"] = json!([{"containerPort": 8080}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(
            e.message
                .contains("`web` and `migrate` both map port 8080/tcp"),
            "{}",
            e.message
        );
        // Another protocol on the same number is a different port.
        t["containerDefinitions"][1]["portMappings"] =
            json!([{"containerPort": 8080, "protocol": "udp"}]);
        assert!(plan(&t, &[]).is_ok());
    }

    /// The holder program is a valid executable for this machine: it starts and stays up.
    #[test]
    fn the_holder_program_runs_and_blocks() {
        use std::os::unix::fs::PermissionsExt;
        assert!(pause_program("riscv64").is_none());
        let aarch64 = pause_program("aarch64").unwrap();
        assert_eq!(&aarch64[..4], b"\x7fELF");
        assert_eq!(aarch64[18], 183);
        assert_eq!((aarch64.len() - 120) % 4, 0, "whole instructions");
        let Some(program) = pause_program(std::env::consts::ARCH) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, &program).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread's fork may hold the just-written file open for a moment (ETXTBSY).
        let mut child = (0..50)
            .find_map(|_| match std::process::Command::new(&path).spawn() {
                Ok(c) => Some(c),
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                }
                Err(e) => panic!("cannot start the holder: {e}"),
            })
            .expect("the holder starts");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the holder exited at once"
        );
        child.kill().unwrap();
        child.wait().unwrap();
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
