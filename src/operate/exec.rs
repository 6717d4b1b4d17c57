//! ECS Exec (`wharf exec`): the prerequisites checked first, each failure with what to fix, then
//! ExecuteCommand and the hand-off of the session to `session-manager-plugin`, with the arguments
//! the AWS CLI passes it.
//!
//! The checks and the plugin's arguments are pure; [`run`] talks to ECS and starts the plugin.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::aws::ecs::Described;
use crate::aws::model::short_id;
use crate::aws::raw::Capture;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// The program ECS Exec sessions are handed to.
pub const PLUGIN: &str = "session-manager-plugin";

/// A prerequisite that is not met, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub what: String,
    pub fix: String,
}

/// What the checks know about the service (None when exec targets a task by id only).
#[derive(Debug, Clone)]
pub struct ServiceFacts {
    pub key: String,
    pub enable_execute_command: bool,
    /// Terraform owns the service (its `services` output), not wharf.toml.
    pub terraform_owned: bool,
}

/// Checks `task` (DescribeTasks JSON) and `container` for ECS Exec.
pub fn check_task(
    task: &Value,
    container: &str,
    service: Option<&ServiceFacts>,
    env: &str,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let id = short_id(task["taskArn"].as_str().unwrap_or_default()).to_string();
    let task_enabled = task["enableExecuteCommand"].as_bool().unwrap_or(false);
    if let Some(s) = service {
        if !s.enable_execute_command {
            problems.push(Problem {
                what: format!("service `{}` has execute-command turned off", s.key),
                fix: if s.terraform_owned {
                    format!(
                        "set `enable_execute_command = true` on the service's aws_ecs_service in Terraform, then `wharf apply --env {env}` and `wharf redeploy --env {env} {}` (new tasks get the agent)",
                        s.key
                    )
                } else {
                    format!(
                        "set `enable_execute_command = true` under [services.{}] in wharf.toml, then `wharf deploy --env {env} {}` (new tasks get the agent)",
                        s.key, s.key
                    )
                },
            });
        } else if !task_enabled {
            problems.push(Problem {
                what: format!(
                    "task {id} was started without execute-command (before it was turned on)"
                ),
                fix: format!(
                    "replace the service's tasks: `wharf redeploy --env {env} {}`",
                    s.key
                ),
            });
        }
    } else if !task_enabled {
        problems.push(Problem {
            what: format!("task {id} was started without execute-command"),
            fix: "start it with enableExecuteCommand (for services: `enable_execute_command = true` in wharf.toml, then redeploy)".into(),
        });
    }
    if task["lastStatus"] != "RUNNING" {
        problems.push(Problem {
            what: format!(
                "task {id} is {}, not RUNNING",
                task["lastStatus"].as_str().unwrap_or("in an unknown state")
            ),
            fix: "wait until it runs, or pick a running task with --task".into(),
        });
    }
    if task_enabled && task["lastStatus"] == "RUNNING" {
        let c = task["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == container);
        let agent = c.and_then(|c| {
            c["managedAgents"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["name"] == "ExecuteCommandAgent")
                .cloned()
        });
        let status = agent
            .as_ref()
            .and_then(|a| a["lastStatus"].as_str())
            .unwrap_or("missing");
        if status != "RUNNING" {
            let mut what = format!(
                "the ExecuteCommandAgent of container `{container}` in task {id} is {status}, not RUNNING"
            );
            if let Some(reason) = agent.as_ref().and_then(|a| a["reason"].as_str()) {
                what.push_str(&format!(" ({reason})"));
            }
            problems.push(Problem {
                what,
                fix: "give the task role ssmmessages:CreateControlChannel, CreateDataChannel, OpenControlChannel and OpenDataChannel, and make sure the task can reach the SSM endpoints; then replace the task (`wharf redeploy`)".into(),
            });
        }
    }
    let fargate = task["launchType"] == "FARGATE";
    if fargate {
        if let Some(pv) = task["platformVersion"].as_str() {
            if !platform_supports_exec(pv) {
                problems.push(Problem {
                    what: format!("task {id} runs on Fargate platform version {pv}; ECS Exec needs 1.4.0 or later"),
                    fix: "set `platform_version = \"LATEST\"` (or \"1.4.0\") for the service in wharf.toml and redeploy".into(),
                });
            }
        }
    }
    problems
}

/// Fargate platform versions that run the ExecuteCommandAgent: 1.4.0 and later, and LATEST.
pub fn platform_supports_exec(version: &str) -> bool {
    if version.eq_ignore_ascii_case("LATEST") {
        return true;
    }
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let (major, minor) = (
        parts.first().copied().unwrap_or(0),
        parts.get(1).copied().unwrap_or(0),
    );
    (major, minor) >= (1, 4)
}

/// `session-manager-plugin` on `path` (the PATH variable's value).
pub fn find_plugin(path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .map(|dir| dir.join(PLUGIN))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// JSON as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII escaped):
/// the AWS CLI passes the plugin its arguments in this form.
pub fn python_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", python_string(k), python_json(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(python_json).collect();
            format!("[{}]", items.join(", "))
        }
        Value::String(s) => python_string(s),
        other => other.to_string(),
    }
}

fn python_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The plugin's arguments for an ExecuteCommand answer, as the AWS CLI builds them:
/// session, region, "StartSession", profile, {"Target": "ecs:CLUSTER_TASK_RUNTIMEID"}, endpoint.
pub fn plugin_args(
    answer: &Value,
    runtime_id: &str,
    region: &str,
    profile: &str,
    endpoint: &str,
) -> Vec<String> {
    let cluster = short_id(answer["clusterArn"].as_str().unwrap_or_default());
    let task = short_id(answer["taskArn"].as_str().unwrap_or_default());
    let target = json!({"Target": format!("ecs:{cluster}_{task}_{runtime_id}")});
    vec![
        python_json(&answer["session"]),
        region.to_string(),
        "StartSession".to_string(),
        profile.to_string(),
        python_json(&target),
        endpoint.to_string(),
    ]
}

/// What `wharf exec` was asked for.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub service: String,
    pub task: Option<String>,
    pub container: Option<String>,
    pub command: String,
}

/// Checks the prerequisites, starts the session and waits for the plugin; returns its exit code.
pub async fn run(ctx: &Settings, req: ExecRequest) -> Result<i32> {
    let conn = crate::project::connect::Connected::open(ctx, None, &[]).await?;
    let env = conn.env_name.clone();
    // A service of wharf.toml, or one Terraform owns (a label or ECS name of its `services`).
    let name = conn
        .select_service_names(std::slice::from_ref(&req.service))?
        .remove(0);
    let Some(Described::Found(_, raw_service)) = conn
        .ecs
        .describe_services(std::slice::from_ref(&name))
        .await?
        .into_iter()
        .next()
    else {
        return Err(Error::failed(format!(
            "service `{name}` does not exist in cluster {}",
            conn.ecs.cluster
        ))
        .with_hint(format!(
            "deploy it first: wharf deploy --env {env} {}",
            req.service
        )));
    };
    let facts = ServiceFacts {
        key: req.service.clone(),
        terraform_owned: !conn.manifest.doc.services.contains_key(&req.service),
        enable_execute_command: raw_service["enableExecuteCommand"]
            .as_bool()
            .unwrap_or(false),
    };
    let task = match &req.task {
        Some(t) => {
            let found = conn.ecs.describe_tasks_raw(std::slice::from_ref(t)).await?;
            let task = found.into_iter().next().ok_or_else(|| {
                Error::failed(format!(
                    "task {t} does not exist in cluster {}",
                    conn.ecs.cluster
                ))
            })?;
            if task["group"].as_str() != Some(&format!("service:{name}")) {
                return Err(Error::usage(format!(
                    "task {} does not belong to service `{name}`",
                    short_id(task["taskArn"].as_str().unwrap_or(t))
                )));
            }
            task
        }
        None => {
            let arns = conn.ecs.list_tasks(Some(&name), None, false).await?;
            let tasks = conn.ecs.describe_tasks_raw(&arns).await?;
            let mut tasks: Vec<Value> = tasks;
            // A running task first; then any (so the checks can say why none will do).
            tasks.sort_by_key(|t| t["lastStatus"] != "RUNNING");
            tasks.into_iter().next().ok_or_else(|| {
                Error::failed(format!("service `{name}` has no running task to exec into"))
                    .with_hint(format!("look at `wharf status --env {env}`"))
            })?
        }
    };
    let task_arn = task["taskArn"].as_str().unwrap_or_default().to_string();
    let container = match &req.container {
        Some(c) => {
            let names: Vec<&str> = task["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["name"].as_str())
                .collect();
            if !names.contains(&c.as_str()) {
                return Err(Error::usage(format!(
                    "task {} has no container `{c}` (it has: {})",
                    short_id(&task_arn),
                    names.join(", ")
                )));
            }
            c.clone()
        }
        None => {
            let td = conn
                .ecs
                .describe_task_definition(task["taskDefinitionArn"].as_str().unwrap_or_default())
                .await?
                .unwrap_or(Value::Null);
            crate::operate::jobs::job_container(&td, None)?
        }
    };
    let mut problems = check_task(&task, &container, Some(&facts), &env);
    let plugin = find_plugin(std::env::var_os("PATH").as_deref());
    if plugin.is_none() {
        problems.push(Problem {
            what: format!("{PLUGIN} is not on PATH"),
            fix: "install the Session Manager plugin for the AWS CLI: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html".into(),
        });
    }
    if !problems.is_empty() {
        let mut message = format!(
            "cannot exec into task {} of service `{name}`:",
            short_id(&task_arn)
        );
        for p in &problems {
            message.push_str(&format!("\n  - {}\n    fix: {}", p.what, p.fix));
        }
        return Err(Error::failed(message));
    }
    let cap = Capture::new();
    conn.clients
        .ecs
        .execute_command()
        .cluster(&conn.ecs.cluster)
        .task(&task_arn)
        .container(&container)
        .command(&req.command)
        .interactive(true)
        .customize()
        .interceptor(cap.clone())
        .send()
        .await
        .map_err(|e| crate::aws::error("ecs:ExecuteCommand", e))?;
    let answer = cap.json("ecs:ExecuteCommand")?;
    let runtime_id = task["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container.as_str())
        .and_then(|c| c["runtimeId"].as_str())
        .unwrap_or_default()
        .to_string();
    let endpoint = conn
        .clients
        .config
        .endpoint_url()
        .map(str::to_string)
        .unwrap_or_else(|| format!("https://ecs.{}.amazonaws.com", conn.clients.region));
    let profile = conn
        .environment()
        .aws(ctx)
        .profile
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_default();
    let args = plugin_args(
        &answer,
        &runtime_id,
        &conn.clients.region,
        &profile,
        &endpoint,
    );
    ctx.out.status(format!(
        "starting session in {container} of task {} (exit the shell to end it)",
        short_id(&task_arn)
    ));
    let plugin = plugin.expect("checked above");
    let mut child = tokio::process::Command::new(&plugin)
        .args(&args)
        .spawn()
        .map_err(|e| Error::failed(format!("cannot start {}: {e}", plugin.display())))?;
    // Ctrl-C belongs to the remote shell: the plugin forwards it, wharf must not die of it.
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            _ = tokio::signal::ctrl_c() => continue,
        }
    }
    .map_err(|e| Error::failed(format!("{PLUGIN} failed: {e}")))?;
    Ok(status.code().unwrap_or(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(enabled: bool, status: &str, agent: Option<&str>, pv: Option<&str>) -> Value {
        let mut c = json!({"name": "web", "runtimeId": "rid"});
        if let Some(a) = agent {
            c["managedAgents"] = json!([{"name": "ExecuteCommandAgent", "lastStatus": a}]);
        }
        let mut t = json!({"taskArn": "arn:aws:ecs:r:1:task/c/abc", "enableExecuteCommand": enabled,
            "lastStatus": status, "launchType": "FARGATE", "containers": [c]});
        if let Some(pv) = pv {
            t["platformVersion"] = json!(pv);
        }
        t
    }

    fn on() -> ServiceFacts {
        ServiceFacts {
            terraform_owned: false,
            key: "web".into(),
            enable_execute_command: true,
        }
    }

    #[test]
    fn a_ready_task_has_no_problems() {
        assert!(check_task(
            &task(true, "RUNNING", Some("RUNNING"), Some("LATEST")),
            "web",
            Some(&on()),
            "dev"
        )
        .is_empty());
    }

    #[test]
    fn each_prerequisite_says_what_to_fix() {
        let off = ServiceFacts {
            terraform_owned: false,
            key: "web".into(),
            enable_execute_command: false,
        };
        let p = check_task(
            &task(false, "RUNNING", None, None),
            "web",
            Some(&off),
            "dev",
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].fix.contains("enable_execute_command = true"), "{p:?}");
        let terraform = ServiceFacts {
            terraform_owned: true,
            ..off.clone()
        };
        let p = check_task(
            &task(false, "RUNNING", None, None),
            "web",
            Some(&terraform),
            "dev",
        );
        assert!(p[0].fix.contains("aws_ecs_service in Terraform"), "{p:?}");
        let p = check_task(
            &task(false, "RUNNING", None, None),
            "web",
            Some(&on()),
            "dev",
        );
        assert!(p[0].fix.contains("wharf redeploy --env dev web"), "{p:?}");
        let p = check_task(
            &task(true, "RUNNING", Some("STOPPED"), None),
            "web",
            Some(&on()),
            "dev",
        );
        assert!(
            p[0].what
                .contains("ExecuteCommandAgent of container `web` in task abc is STOPPED"),
            "{p:?}"
        );
        assert!(p[0].fix.contains("ssmmessages"));
        let p = check_task(
            &task(true, "RUNNING", Some("RUNNING"), Some("1.3.0")),
            "web",
            Some(&on()),
            "dev",
        );
        assert!(p[0].what.contains("platform version 1.3.0"), "{p:?}");
        let p = check_task(
            &task(true, "PENDING", Some("PENDING"), None),
            "web",
            Some(&on()),
            "dev",
        );
        assert!(p[0].what.contains("is PENDING, not RUNNING"), "{p:?}");
    }

    #[test]
    fn platform_versions() {
        assert!(platform_supports_exec("1.4.0"));
        assert!(platform_supports_exec("LATEST"));
        assert!(platform_supports_exec("1.10.0"));
        assert!(!platform_supports_exec("1.3.0"));
    }

    #[test]
    fn plugin_arguments_match_the_aws_cli() {
        let answer = json!({"clusterArn": "arn:aws:ecs:us-east-1:1:cluster/prod",
            "taskArn": "arn:aws:ecs:us-east-1:1:task/prod/abc",
            "containerName": "web",
            "session": {"sessionId": "s-1", "streamUrl": "wss://x?y=1", "tokenValue": "t"}});
        let args = plugin_args(
            &answer,
            "rid-1",
            "us-east-1",
            "",
            "https://ecs.us-east-1.amazonaws.com",
        );
        assert_eq!(
            args,
            [
                r#"{"sessionId": "s-1", "streamUrl": "wss://x?y=1", "tokenValue": "t"}"#,
                "us-east-1",
                "StartSession",
                "",
                r#"{"Target": "ecs:prod_abc_rid-1"}"#,
                "https://ecs.us-east-1.amazonaws.com",
            ]
        );
        assert_eq!(
            python_json(&json!({"a": ["é", 1, true, null]})),
            r#"{"a": ["\u00e9", 1, true, null]}"#
        );
    }
}
