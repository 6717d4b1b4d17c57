//! `wharf exec` end to end against the local test bed: every prerequisite failing in turn (with
//! what to fix), then the hand-off to a stand-in `session-manager-plugin` on PATH that records its
//! arguments (the real plugin needs AWS's session service, which cannot be reached here).

use crate::support;

use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;
use support::{task_definition, Project, WHARF_TOML};

const SERVE: &str = r#"["sh", "-c", "while true; do sleep 1; done"]"#;

/// A folder holding a stand-in plugin that writes its arguments, one per line, to `args`.
fn stand_in_plugin(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let plugin = bin.join("session-manager-plugin");
    std::fs::write(
        &plugin,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\nexit 0\n",
            dir.join("args").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin.display().to_string()
}

/// `extra_env`: more entries for the container's environment (JSON objects, comma first).
fn project(exec_enabled: bool, extra_env: &str) -> Project {
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\nenable_execute_command = {exec_enabled}\n"
    );
    Project::new(&[
        ("wharf.toml", &toml),
        (
            "ecs/web.json",
            &task_definition("web", SERVE, "").replace(
                r#"{"name": "TAG", "value": "{{ tag }}"}"#,
                &format!(r#"{{"name": "TAG", "value": "{{{{ tag }}}}"}}{extra_env}"#),
            ),
        ),
    ])
}

fn deploy(p: &Project, tag: &str) {
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", tag, "--timeout", "2m"])
        .timeout(Duration::from_secs(150))
        .assert()
        .success();
}

fn path_with(bin: Option<&str>) -> String {
    // Only system folders (no real plugin), plus the stand-in when given.
    let base = "/usr/local/bin:/usr/bin:/bin";
    match bin {
        Some(b) => format!("{b}:{base}"),
        None => base.to_string(),
    }
}

#[test]
fn exec_prerequisites_fail_in_turn_then_the_session_is_handed_to_the_plugin() {
    let p = project(false, "");
    let plugin_dir = tempfile::tempdir().unwrap();
    let bin = stand_in_plugin(plugin_dir.path());

    // No service yet.
    p.wharf()
        .args(["exec", "web", "--env", "local"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"))
        .stderr(predicate::str::contains("wharf deploy --env local web"));

    // 1. execute-command off for the service.
    deploy(&p, "v1");
    p.wharf()
        .args(["exec", "web", "--env", "local"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "service `web` has execute-command turned off",
        ))
        .stderr(predicate::str::contains("enable_execute_command = true"));

    // 2. Turned on in the service, but the running task predates it. Turning it on through
    // UpdateService alone (no new deployment) leaves the old task without the agent.
    support::aws(&[
        "ecs",
        "update-service",
        "--cluster",
        &p.cluster,
        "--service",
        "web",
        "--enable-execute-command",
    ]);
    p.wharf()
        .args(["exec", "web", "--env", "local"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "was started without execute-command",
        ))
        .stderr(predicate::str::contains("wharf redeploy --env local web"));

    // 3. New tasks with execute-command, but no plugin on PATH.
    p.write(
        "wharf.toml",
        &format!("{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\nenable_execute_command = true\n"),
    );
    deploy(&p, "v2");
    p.wharf()
        .args(["exec", "web", "--env", "local"])
        .env("PATH", path_with(None))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "session-manager-plugin is not on PATH",
        ))
        .stderr(predicate::str::contains(
            "install the Session Manager plugin",
        ));

    // 4. All met: ExecuteCommand, then the plugin gets the AWS CLI's arguments.
    let out = p
        .wharf()
        .args(["exec", "web", "--env", "local", "--", "ls", "-l", "/"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("starting session in main of task"),
        "{stderr}"
    );
    let args = std::fs::read_to_string(plugin_dir.path().join("args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args.len(), 6, "{args:?}");
    let session: serde_json::Value = serde_json::from_str(args[0]).unwrap();
    assert!(session["sessionId"]
        .as_str()
        .unwrap()
        .starts_with("ecs-execute-command-"));
    assert!(
        args[0].starts_with("{\"sessionId\": \""),
        "python json.dumps form: {}",
        args[0]
    );
    assert_eq!(args[1], "us-east-1");
    assert_eq!(args[2], "StartSession");
    assert_eq!(args[3], "");
    let task = p.running_task("web");
    let task_arn = task["taskArn"].as_str().unwrap();
    let runtime_id = task["containers"][0]["runtimeId"].as_str().unwrap();
    let task_id = task_arn.rsplit('/').next().unwrap();
    assert_eq!(
        args[4],
        format!(
            "{{\"Target\": \"ecs:{}_{}_{}\"}}",
            p.cluster, task_id, runtime_id
        )
    );
    assert_eq!(args[5], support::endpoint());
}

#[test]
fn exec_reports_an_agent_that_is_not_running() {
    // TESTBED_EXEC_AGENT makes the test bed report the agent as failed to start.
    let p = project(
        true,
        r#", {"name": "TESTBED_EXEC_AGENT", "value": "STOPPED"}"#,
    );
    deploy(&p, "v1");
    let plugin_dir = tempfile::tempdir().unwrap();
    let bin = stand_in_plugin(plugin_dir.path());
    p.wharf()
        .args(["exec", "web", "--env", "local", "--container", "main"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "ExecuteCommandAgent of container `main`",
        ))
        .stderr(predicate::str::contains("is STOPPED, not RUNNING"))
        .stderr(predicate::str::contains("ssmmessages"));
    assert!(
        !plugin_dir.path().join("args").exists(),
        "no session without the agent"
    );
    p.wharf()
        .args(["exec", "web", "--env", "local", "--container", "nope"])
        .env("PATH", path_with(Some(&bin)))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "has no container `nope` (it has: main)",
        ));
}
