//! One-off tasks (`wharf run`): the RunTask request built from the project file and the flags,
//! the wait for the task to stop while its logs stream, and how the task ended as an exit code.
//!
//! The request and the verdict are pure ([`run_task_request`], [`ending`]); [`run`] is the loop
//! that talks to ECS and CloudWatch Logs.

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::aws::ecs::Described;
use crate::aws::model::{family_revision, short_id, Task};
use crate::error::{Error, Result};
use crate::images::check;
use crate::operate::logs::{self, StreamTail};
use crate::project::connect::Connected;
use crate::project::manifest::{Network, UnitKind};
use crate::project::render::{self, Inputs, Unit};
use crate::rollout::deploy;
use crate::settings::Settings;

/// What `wharf run` changes for this one task.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Replaces the container's command.
    pub command: Option<Vec<String>>,
    /// Added to (or replacing) the container's environment.
    pub environment: Vec<(String, String)>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

/// Where and how the task is launched.
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub launch_type: Option<String>,
    pub platform_version: Option<String>,
    /// RunTask's `networkConfiguration` (awsvpc only).
    pub network: Option<Value>,
    pub enable_execute_command: bool,
}

/// The container whose exit code is the job's: the one named, or the first essential one.
pub fn job_container(task_definition: &Value, named: Option<&str>) -> Result<String> {
    let containers = task_definition["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    if let Some(n) = named {
        if names.contains(&n) {
            return Ok(n.to_string());
        }
        return Err(Error::usage(format!(
            "the task definition has no container `{n}` (it has: {})",
            names.join(", ")
        )));
    }
    containers
        .iter()
        .find(|c| c["essential"].as_bool().unwrap_or(true))
        .and_then(|c| c["name"].as_str())
        .map(str::to_string)
        .ok_or_else(|| Error::usage("the task definition has no essential container"))
}

/// The RunTask request body.
pub fn run_task_request(
    cluster: &str,
    task_definition_arn: &str,
    container: &str,
    launch: &Launch,
    overrides: &Overrides,
    started_by: &str,
) -> Value {
    let mut req = Map::new();
    req.insert("cluster".into(), json!(cluster));
    req.insert("taskDefinition".into(), json!(task_definition_arn));
    req.insert("count".into(), json!(1));
    req.insert("startedBy".into(), json!(started_by));
    req.insert(
        "launchType".into(),
        json!(launch.launch_type.as_deref().unwrap_or("FARGATE")),
    );
    if let Some(pv) = &launch.platform_version {
        req.insert("platformVersion".into(), json!(pv));
    }
    if let Some(n) = &launch.network {
        req.insert("networkConfiguration".into(), n.clone());
    }
    if launch.enable_execute_command {
        req.insert("enableExecuteCommand".into(), json!(true));
    }
    let mut container_override = Map::new();
    container_override.insert("name".into(), json!(container));
    if let Some(cmd) = &overrides.command {
        container_override.insert("command".into(), json!(cmd));
    }
    if !overrides.environment.is_empty() {
        let env: Vec<Value> = overrides
            .environment
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        container_override.insert("environment".into(), json!(env));
    }
    let mut task_override = Map::new();
    if container_override.len() > 1 {
        task_override.insert(
            "containerOverrides".into(),
            json!([Value::Object(container_override)]),
        );
    }
    if let Some(cpu) = &overrides.cpu {
        task_override.insert("cpu".into(), json!(cpu));
    }
    if let Some(memory) = &overrides.memory {
        task_override.insert("memory".into(), json!(memory));
    }
    if !task_override.is_empty() {
        req.insert("overrides".into(), Value::Object(task_override));
    }
    Value::Object(req)
}

/// `networkConfiguration` for a task of `task_definition` from the project's network settings.
pub fn network_configuration(
    inputs: &Inputs,
    network: Option<&Network>,
    task_definition: &Value,
    what: &str,
) -> Result<Option<Value>> {
    if task_definition["networkMode"].as_str() != Some("awsvpc") {
        return Ok(None);
    }
    let Some(network) = network else {
        return Err(Error::usage(format!(
            "{what} uses networkMode awsvpc but has no network settings in environment `{}`",
            inputs.env
        ))
        .with_hint(format!(
            "add [environments.{}.network] (or a `network` table on the job or service) with subnets and security_groups",
            inputs.env
        )));
    };
    let mut subnets = Vec::new();
    for s in &network.subnets {
        subnets.push(render::render_value(inputs, "network subnet", s)?);
    }
    if subnets.is_empty() {
        return Err(Error::usage(format!(
            "{what} uses networkMode awsvpc but its network in environment `{}` lists no subnets",
            inputs.env
        )));
    }
    let mut groups = Vec::new();
    for g in &network.security_groups {
        groups.push(render::render_value(inputs, "network security group", g)?);
    }
    Ok(Some(json!({"awsvpcConfiguration": {
        "subnets": subnets,
        "securityGroups": groups,
        "assignPublicIp": if network.assign_public_ip.unwrap_or(false) { "ENABLED" } else { "DISABLED" },
    }})))
}

/// How a task ended, for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The job's container ran and exited with this code.
    Exited(i64),
    /// The task never ran the container: image pull, secrets, log group, capacity.
    FailedToStart(String),
    /// Stopped without an exit code of the job's container (stopped by someone, or its host went).
    Stopped(String),
}

/// How `task` ended for `container`, once it is STOPPED (None while it still runs).
pub fn ending(task: &Task, container: &str) -> Option<Ending> {
    if task.last_status != "STOPPED" {
        return None;
    }
    let c = task.containers.iter().find(|c| c.name == container);
    let reason = || {
        let mut parts = Vec::new();
        if let Some(r) = &task.stopped_reason {
            parts.push(r.clone());
        }
        if let Some(r) = c.and_then(|c| c.reason.clone()) {
            if !parts.iter().any(|p| p.contains(&r)) {
                parts.push(r);
            }
        }
        if parts.is_empty() {
            "no reason given".to_string()
        } else {
            parts.join(": ")
        }
    };
    let never_started = task.stop_code.as_deref() == Some("TaskFailedToStart")
        || (task.started_at.is_none() && c.and_then(|c| c.exit_code).is_none());
    if never_started {
        return Some(Ending::FailedToStart(reason()));
    }
    match c.and_then(|c| c.exit_code) {
        Some(code) => Some(Ending::Exited(code)),
        None => Some(Ending::Stopped(reason())),
    }
}

/// The process exit code for a container exit code (0..=255 as a shell would see it).
pub fn exit_code_of(code: i64) -> i32 {
    (code & 0xff) as i32
}

/// What `wharf run` was asked to run.
#[derive(Debug, Clone)]
pub enum Runnable {
    Job(String),
    Service(String),
    /// The task definition family of Terraform's `job_task_definition_family` output, as
    /// Terraform registered it (ecs-app-utils' `fargate` command).
    TerraformJob,
}

/// The Terraform output naming the family [`Runnable::TerraformJob`] runs.
pub const JOB_FAMILY_OUTPUT: &str = "job_task_definition_family";

/// Everything [`run`] needs besides the connection.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub target: Runnable,
    pub tag: Option<String>,
    pub container: Option<String>,
    pub overrides: Overrides,
    pub detach: bool,
    pub timeout: Option<Duration>,
    pub stop_on_interrupt: bool,
    /// Register without checking that the images exist.
    pub skip_image_check: bool,
}

/// The task definition to run, its document, and how to launch it.
struct Prepared {
    arn: String,
    document: Value,
    launch: Launch,
}

/// Checks the images of `document` (unless asked not to), then reuses the family's newest
/// revision when it is the same, or registers it.
async fn check_and_register(
    ctx: &Settings,
    conn: &Connected,
    owner: &str,
    document: &Value,
    skip_image_check: bool,
) -> Result<String> {
    if !skip_image_check {
        check::check_images(ctx, conn, &check::uses_of(owner, document)).await?;
    }
    let (arn, registered) = deploy::register_unless_reusable(&conn.ecs, document).await?;
    ctx.out.verbose(format!(
        "{} {}",
        if registered { "registered" } else { "reusing" },
        family_revision(&arn)
    ));
    Ok(arn)
}

async fn prepare(
    ctx: &Settings,
    conn: &Connected,
    target: &Runnable,
    skip_image_check: bool,
) -> Result<Prepared> {
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    match target {
        Runnable::Job(name) => {
            let rendered = render::render_unit(&inputs, Unit::Job(name))?;
            let effective = conn
                .manifest
                .effective(&conn.env_name, UnitKind::Job, name)?;
            let job = &conn.manifest.doc.jobs[name];
            let network = network_configuration(
                &inputs,
                effective.network,
                &rendered.task_definition,
                &format!("job `{name}`"),
            )?;
            crate::rollout::deploy::check_secrets(conn, &rendered.secrets).await?;
            let arn = check_and_register(
                ctx,
                conn,
                &format!("job {name}"),
                &rendered.task_definition,
                skip_image_check,
            )
            .await?;
            Ok(Prepared {
                arn,
                document: rendered.task_definition,
                launch: Launch {
                    launch_type: effective.launch_type.map(str::to_string),
                    platform_version: job.platform_version.clone(),
                    network,
                    enable_execute_command: false,
                },
            })
        }
        Runnable::TerraformJob => terraform_job(conn, &inputs).await,
        Runnable::Service(key) if !conn.manifest.doc.services.contains_key(key) => {
            // A service Terraform owns (its `services` output): the revision it runs, in its
            // network. Terraform registers its revisions, so a tag has nothing to render.
            let owned = conn.terraform_services()?;
            let Some((_, name)) = owned.iter().find(|(l, n)| l == key || n == key) else {
                return Err(conn.manifest.unknown_unit(key));
            };
            if conn.tag.is_some() {
                return Err(Error::usage(format!(
                    "service `{key}` is Terraform's (its `services` output): it runs the revision Terraform registered, so --tag does not apply"
                ))
                .with_hint("leave out --tag to run the command in the revision the service runs now"));
            }
            live_revision(conn, &inputs, name, key, None, None).await
        }
        Runnable::Service(key) => {
            let service = &conn.manifest.doc.services[key];
            let effective = conn
                .manifest
                .effective(&conn.env_name, UnitKind::Service, key)?;
            let launch_type = effective.launch_type.map(str::to_string);
            if conn.tag.is_some() {
                // A tag names a version: render it (and register it if new), as a deploy would.
                let rendered = render::render_unit(&inputs, Unit::Service(key))?;
                let network = network_configuration(
                    &inputs,
                    effective.network,
                    &rendered.task_definition,
                    &format!("service `{key}`"),
                )?;
                crate::rollout::deploy::check_secrets(conn, &rendered.secrets).await?;
                let arn = check_and_register(
                    ctx,
                    conn,
                    &format!("service {key}"),
                    &rendered.task_definition,
                    skip_image_check,
                )
                .await?;
                return Ok(Prepared {
                    arn,
                    document: rendered.task_definition,
                    launch: Launch {
                        launch_type,
                        platform_version: service.platform_version.clone(),
                        network,
                        enable_execute_command: false,
                    },
                });
            }
            // Without a tag: the revision the service runs now, in its network.
            let name = conn.service_names(std::slice::from_ref(key))?.remove(0);
            live_revision(
                conn,
                &inputs,
                &name,
                key,
                Some((effective.network, launch_type)),
                service.platform_version.clone(),
            )
            .await
        }
    }
}

/// The newest ACTIVE revision of the family Terraform's `job_task_definition_family` output
/// names, in the environment's network, else in the `subnet_ids` and `security_group` outputs.
async fn terraform_job(conn: &Connected, inputs: &render::Inputs<'_>) -> Result<Prepared> {
    let outputs = conn.resolved.tf.as_ref();
    let Some(family) = outputs
        .and_then(|tf| tf.get(JOB_FAMILY_OUTPUT))
        .and_then(|v| v.as_str())
    else {
        return Err(Error::usage(format!(
            "no job named and Terraform has no `{JOB_FAMILY_OUTPUT}` output{}",
            if outputs.is_none() { " (the project has no Terraform)" } else { "" }
        ))
        .with_hint("name a job of [jobs] (wharf run JOB), a service with --service, or add output \"job_task_definition_family\" to the Terraform configuration"));
    };
    if conn.tag.is_some() {
        return Err(Error::usage(format!(
            "the task definition family {family} (Terraform's `{JOB_FAMILY_OUTPUT}` output) is registered by Terraform, so --tag does not apply"
        ))
        .with_hint("apply the tag with `wharf apply --tag`, then run without --tag"));
    }
    let document = conn
        .ecs
        .describe_task_definition(family)
        .await?
        .ok_or_else(|| {
            Error::usage(format!(
                "task definition family {family} (Terraform's `{JOB_FAMILY_OUTPUT}` output) has no ACTIVE revision"
            ))
            .with_hint("run `wharf apply` for this environment first")
        })?;
    let arn = document["taskDefinitionArn"]
        .as_str()
        .unwrap_or(family)
        .to_string();
    let environment = conn.manifest.environment(&conn.env_name)?;
    let from_outputs;
    let network = match &environment.network {
        Some(n) => Some(n),
        None => {
            from_outputs = outputs.and_then(network_from_outputs);
            from_outputs.as_ref()
        }
    };
    let network = network_configuration(
        inputs,
        network,
        &document,
        &format!("task definition family {family}"),
    )?;
    let fargate = document["requiresCompatibilities"]
        .as_array()
        .is_some_and(|c| c.iter().any(|v| v == "FARGATE"));
    Ok(Prepared {
        arn,
        document,
        launch: Launch {
            launch_type: fargate.then(|| "FARGATE".to_string()),
            platform_version: None,
            network,
            enable_execute_command: false,
        },
    })
}

/// The network of the seed's outputs: `subnet_ids` (a list) and `security_group` (one id).
fn network_from_outputs(tf: &serde_json::Map<String, Value>) -> Option<Network> {
    let subnets: Vec<toml::Spanned<String>> = tf
        .get("subnet_ids")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(|s| toml::Spanned::new(0..0, s.to_string())))
        .collect();
    let security_groups = tf
        .get("security_group")
        .and_then(|v| v.as_str())
        .map(|g| vec![toml::Spanned::new(0..0, g.to_string())])
        .unwrap_or_default();
    Some(Network {
        subnets,
        security_groups,
        ..Network::default()
    })
}

/// The revision service `name` runs now, in its network (from the service, else from the
/// project's network settings `fallback` gives, with the project's launch type).
async fn live_revision(
    conn: &Connected,
    inputs: &render::Inputs<'_>,
    name: &str,
    key: &str,
    fallback: Option<(Option<&crate::project::manifest::Network>, Option<String>)>,
    platform_version: Option<String>,
) -> Result<Prepared> {
    let described = conn.ecs.describe_services(&[name.to_string()]).await?;
    let Some(Described::Found(live, raw)) = described.into_iter().next() else {
        return Err(Error::usage(format!(
            "service `{name}` does not exist in cluster {}; there is no running revision to use",
            conn.ecs.cluster
        ))
        .with_hint("deploy it first, or pass --tag to run a rendered revision"));
    };
    let document = conn
        .ecs
        .describe_task_definition(&live.task_definition)
        .await?
        .ok_or_else(|| {
            Error::aws(format!(
                "service `{name}` runs {}, which ECS cannot describe",
                live.task_definition
            ))
        })?;
    let (network_settings, launch_type) = fallback.unwrap_or((None, None));
    let network = match raw.get("networkConfiguration") {
        Some(n) if !n.is_null() => Some(n.clone()),
        _ => network_configuration(
            inputs,
            network_settings,
            &document,
            &format!("service `{key}`"),
        )?,
    };
    Ok(Prepared {
        arn: live.task_definition.clone(),
        document,
        launch: Launch {
            launch_type: live.launch_type.clone().or(launch_type),
            platform_version: raw["platformVersion"]
                .as_str()
                .map(str::to_string)
                .or(platform_version),
            network,
            enable_execute_command: false,
        },
    })
}

/// Starts the task, streams its logs, waits for it to stop and returns the exit code.
pub async fn run(ctx: &Settings, req: RunRequest) -> Result<i32> {
    let unit = match &req.target {
        Runnable::Job(n) => Some(Unit::Job(n.as_str())),
        Runnable::Service(n) => Some(Unit::Service(n.as_str())),
        Runnable::TerraformJob => None,
    };
    // A service run without a tag uses the live revision: nothing to render, no SSM to prefetch.
    // A service Terraform owns has no template (prepare says why a tag does not apply).
    let templated = match &req.target {
        Runnable::Service(n) => crate::project::manifest::Manifest::load(&ctx.file)?
            .doc
            .services
            .contains_key(n),
        Runnable::Job(_) => true,
        Runnable::TerraformJob => false,
    };
    let render_unit = match (&req.target, &req.tag) {
        (Runnable::Service(_), None) => None,
        _ if !templated => None,
        _ => unit,
    };
    let units: Vec<Unit> = render_unit.into_iter().collect();
    let conn = Connected::open(ctx, req.tag.clone(), &units).await?;
    let prepared = prepare(ctx, &conn, &req.target, req.skip_image_check).await?;
    let container = job_container(&prepared.document, req.container.as_deref())?;
    let what = match &req.target {
        Runnable::Job(n) => format!("job {n}"),
        Runnable::Service(n) => format!("service {n}"),
        Runnable::TerraformJob => format!("Terraform's `{JOB_FAMILY_OUTPUT}`"),
    };
    let body = run_task_request(
        &conn.ecs.cluster,
        &prepared.arn,
        &container,
        &prepared.launch,
        &req.overrides,
        "wharf-run",
    );
    let answer = conn.ecs.run_task(&body).await?;
    let failures = answer["failures"].as_array().cloned().unwrap_or_default();
    let Some(task) = answer["tasks"].as_array().and_then(|t| t.first()).cloned() else {
        let reasons: Vec<String> = failures
            .iter()
            .map(|f| {
                let mut r = f["reason"].as_str().unwrap_or("unknown reason").to_string();
                if let Some(d) = f["detail"].as_str() {
                    r.push_str(&format!(" ({d})"));
                }
                r
            })
            .collect();
        return Err(Error::failed(format!(
            "ECS could not start a task of {} for {what}: {}",
            family_revision(&prepared.arn),
            if reasons.is_empty() {
                "no task and no reason returned".to_string()
            } else {
                reasons.join("; ")
            }
        )));
    };
    let arn = task["taskArn"].as_str().unwrap_or_default().to_string();
    let id = short_id(&arn).to_string();
    let env = &conn.env_name;
    let cluster = &conn.ecs.cluster;
    if req.detach {
        if ctx.out.is_json() {
            ctx.out.json(&json!({"task": id, "taskArn": arn, "cluster": cluster, "taskDefinition": prepared.arn}));
        } else {
            println!("{id}");
            ctx.out.status(format!(
                "started task {id} ({}); follow it with: wharf logs {} --env {env} --task {id} --follow",
                family_revision(&prepared.arn),
                target_name(&req.target)
            ));
        }
        return Ok(0);
    }
    ctx.out.status(format!(
        "started task {id} ({}) for {what} in cluster {cluster}",
        family_revision(&prepared.arn)
    ));
    let mut tails: Vec<StreamTail> = logs::sources(&prepared.document)
        .iter()
        .map(|s| StreamTail::new(s, &id))
        .collect();
    if tails.is_empty() {
        ctx.out
            .warn("no container logs with the awslogs driver; the task's output is not shown");
    }
    let several = tails.len() > 1;
    let started = Instant::now();
    let signal = crate::interrupt::Interrupt::install();
    let mut last_status = String::new();
    let mut last_describe: Option<Instant> = None;
    let how_to = format!(
        "follow it with: wharf logs {} --env {env} --task {id} --follow; stop it with: aws ecs stop-task --cluster {cluster} --task {id}",
        target_name(&req.target)
    );
    loop {
        if signal.is_set() {
            if req.stop_on_interrupt {
                conn.ecs
                    .stop_task(&arn, "stopped by wharf run (interrupted)")
                    .await?;
                ctx.out.status(format!("interrupted; stopping task {id}"));
                let deadline = Instant::now() + Duration::from_secs(60);
                while Instant::now() < deadline {
                    let t = conn.ecs.describe_tasks(std::slice::from_ref(&arn)).await?;
                    if t.first().is_some_and(|t| t.last_status == "STOPPED") {
                        drain(&conn, &mut tails, several).await;
                        return Err(Error::interrupted(format!(
                            "interrupted; task {id} stopped"
                        )));
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                return Err(Error::interrupted(format!(
                    "interrupted; asked ECS to stop task {id}, which has not stopped yet"
                )));
            }
            return Err(Error::interrupted(format!(
                "interrupted; task {id} keeps running. {how_to}"
            )));
        }
        if let Some(limit) = req.timeout {
            if started.elapsed() >= limit {
                drain(&conn, &mut tails, several).await;
                return Err(Error::timeout(format!(
                    "task {id} still runs after {}; stopped waiting. {how_to}",
                    humantime::format_duration(limit)
                )));
            }
        }
        for tail in &mut tails {
            match tail.poll(&conn.clients.logs).await {
                Ok(lines) => print_job_lines(&tail.container, &lines, several),
                Err(e) => ctx.out.verbose(format!("reading logs: {}", e.message)),
            }
        }
        if last_describe.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            last_describe = Some(Instant::now());
            let tasks = conn.ecs.describe_tasks(std::slice::from_ref(&arn)).await?;
            let Some(t) = tasks.into_iter().next() else {
                return Err(Error::aws(format!(
                    "ecs:DescribeTasks does not know task {id}"
                )));
            };
            if t.last_status != last_status {
                ctx.out.verbose(format!("task {id}: {}", t.last_status));
                last_status = t.last_status.clone();
            }
            if let Some(end) = ending(&t, &container) {
                drain(&conn, &mut tails, several).await;
                return finish(ctx, &id, &arn, &container, end);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = signal.wait() => {}
        }
    }
}

fn target_name(t: &Runnable) -> &str {
    match t {
        Runnable::Job(n) | Runnable::Service(n) => n,
        Runnable::TerraformJob => JOB_FAMILY_OUTPUT,
    }
}

fn print_job_lines(container: &str, lines: &[String], several: bool) {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for l in lines {
        let _ = if several {
            writeln!(out, "{container} | {l}")
        } else {
            writeln!(out, "{l}")
        };
    }
    let _ = out.flush();
}

/// Reads what the streams still hold after the task stopped (the driver flushes at exit).
async fn drain(conn: &Connected, tails: &mut [StreamTail], several: bool) {
    for tail in tails.iter_mut() {
        if let Ok(lines) = tail.poll(&conn.clients.logs).await {
            print_job_lines(&tail.container, &lines, several);
        }
    }
}

fn finish(ctx: &Settings, id: &str, arn: &str, container: &str, end: Ending) -> Result<i32> {
    match end {
        Ending::Exited(code) => {
            if ctx.out.is_json() {
                ctx.out.json(
                    &json!({"task": id, "taskArn": arn, "container": container, "exitCode": code}),
                );
            }
            if code == 0 {
                ctx.out
                    .status(format!("task {id}: {container} exited with code 0"));
            } else {
                ctx.out
                    .status(format!("task {id}: {container} exited with code {code}"));
            }
            Ok(exit_code_of(code))
        }
        Ending::FailedToStart(reason) => Err(Error::failed(format!(
            "task {id} could not start: {reason}"
        ))),
        Ending::Stopped(reason) => Err(Error::failed(format!(
            "task {id} stopped before {container} exited: {reason}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::Container;

    fn td() -> Value {
        json!({"family": "f", "networkMode": "awsvpc", "containerDefinitions": [
            {"name": "init", "essential": false},
            {"name": "app"}
        ]})
    }

    #[test]
    fn the_job_container_is_the_first_essential_one() {
        assert_eq!(job_container(&td(), None).unwrap(), "app");
        assert_eq!(job_container(&td(), Some("init")).unwrap(), "init");
        let e = job_container(&td(), Some("web")).unwrap_err();
        assert_eq!(
            e.message,
            "the task definition has no container `web` (it has: init, app)"
        );
    }

    #[test]
    fn request_carries_network_and_overrides() {
        let launch = Launch {
            launch_type: None,
            platform_version: Some("1.4.0".into()),
            network: Some(json!({"awsvpcConfiguration": {"subnets": ["s"]}})),
            enable_execute_command: false,
        };
        let overrides = Overrides {
            command: Some(vec!["sh".into(), "-c".into(), "exit 3".into()]),
            environment: vec![("A".into(), "1".into())],
            cpu: Some("512".into()),
            memory: None,
        };
        let r = run_task_request("c", "arn:td:1", "app", &launch, &overrides, "wharf-run");
        assert_eq!(r["launchType"], "FARGATE");
        assert_eq!(r["platformVersion"], "1.4.0");
        assert_eq!(
            r["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0],
            "s"
        );
        assert_eq!(r["overrides"]["containerOverrides"][0]["name"], "app");
        assert_eq!(
            r["overrides"]["containerOverrides"][0]["command"][2],
            "exit 3"
        );
        assert_eq!(
            r["overrides"]["containerOverrides"][0]["environment"][0]["name"],
            "A"
        );
        assert_eq!(r["overrides"]["cpu"], "512");
        let plain = run_task_request(
            "c",
            "arn:td:1",
            "app",
            &Launch::default(),
            &Overrides::default(),
            "x",
        );
        assert!(plain.get("overrides").is_none());
        assert!(plain.get("networkConfiguration").is_none());
    }

    fn task(status: &str, stop_code: Option<&str>, started: bool, exit: Option<i64>) -> Task {
        Task {
            last_status: status.into(),
            stop_code: stop_code.map(str::to_string),
            stopped_reason: Some("Essential container in task exited".into()),
            started_at: started.then_some(1.0),
            containers: vec![Container {
                name: "app".into(),
                exit_code: exit,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn endings() {
        assert_eq!(ending(&task("RUNNING", None, true, None), "app"), None);
        assert_eq!(
            ending(
                &task("STOPPED", Some("EssentialContainerExited"), true, Some(3)),
                "app"
            ),
            Some(Ending::Exited(3))
        );
        let mut pull = task("STOPPED", Some("TaskFailedToStart"), false, None);
        pull.stopped_reason = Some("CannotPullContainerError: not found".into());
        pull.containers[0].reason = Some("CannotPullContainerError: not found".into());
        assert_eq!(
            ending(&pull, "app"),
            Some(Ending::FailedToStart(
                "CannotPullContainerError: not found".into()
            ))
        );
        let mut stopped = task("STOPPED", Some("UserInitiated"), true, None);
        stopped.stopped_reason = Some("Task stopped by user".into());
        assert_eq!(
            ending(&stopped, "app"),
            Some(Ending::Stopped("Task stopped by user".into()))
        );
        assert_eq!(exit_code_of(3), 3);
        assert_eq!(exit_code_of(256 + 7), 7);
    }
}
