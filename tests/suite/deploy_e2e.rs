//! The deploy engine end to end against the local test bed: deploy, unchanged deploys, failures
//! (missing image, crash at start, failing health check, circuit-breaker rollback), timeout, the
//! deploy lock, Ctrl-C, rollback, redeploy, wait, diff and status. The AWS CLI is the judge of
//! what ECS ended up with.

use crate::support;

use predicates::prelude::*;
use support::{aws, task_definition, Project, WHARF_TOML};

fn project_with(services: &[(&str, &str, &str)], extra_toml: &str) -> Project {
    let mut toml = WHARF_TOML.to_string();
    let mut files: Vec<(String, String)> = Vec::new();
    for (name, command, extra) in services {
        toml.push_str(&format!(
            "\n[services.{name}]\ntask_definition = \"ecs/{name}.json\"\ndesired_count = 2\n"
        ));
        files.push((
            format!("ecs/{name}.json"),
            task_definition(name, command, extra),
        ));
    }
    toml.push_str(extra_toml);
    files.push(("wharf.toml".into(), toml));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    Project::new(&refs)
}

const SERVE: &str = r#"["sh", "-c", "echo serving; while true; do sleep 1; done"]"#;

#[test]
fn deploy_creates_services_and_an_unchanged_deploy_registers_nothing() {
    let p = project_with(&[("web", SERVE, ""), ("worker", SERVE, "")], "");
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("web: rolled out in"))
        .stderr(predicate::str::contains("worker: rolled out in"));
    let web = p.service("web");
    assert_eq!(web["runningCount"], 2);
    assert_eq!(web["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(web["deployments"][0]["rolloutState"], "COMPLETED");
    assert!(web["events"][0]["message"]
        .as_str()
        .unwrap()
        .contains("has reached a steady state"));
    // The circuit breaker with rollback is on unless the project turns it off.
    assert_eq!(
        web["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"],
        true
    );
    let family = format!("{}-web", p.app);
    assert_eq!(p.revisions(&family).len(), 1);

    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1"])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to deploy"));
    assert_eq!(
        p.revisions(&family).len(),
        1,
        "an unchanged deploy registers nothing"
    );

    // A new tag registers one new revision and rolls it out.
    let out = p
        .wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "v2",
            "--timeout",
            "2m",
            "--output",
            "json",
            "web",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let result: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(result["services"][0]["outcome"], "deployed");
    assert_eq!(result["services"][0]["revision"], format!("{family}:2"));
    assert_eq!(p.revisions(&family).len(), 2);
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":2"));

    // status shows revision, deployments, tasks and events.
    p.wharf()
        .args(["status", "--env", "local"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("{family}:2")))
        .stdout(predicate::str::contains("COMPLETED"))
        .stdout(predicate::str::contains("RUNNING"))
        .stdout(predicate::str::contains("has reached a steady state"));

    // diff: nothing differs for the deployed tag, something does for another.
    p.wharf()
        .args(["diff", "--env", "local", "--tag", "v2", "web"])
        .assert()
        .code(0);
    p.wharf()
        .args(["diff", "--env", "local", "--tag", "v3", "web"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("-          \"value\": \"v2\"")
                .or(predicate::str::contains("\"v2\"")),
        )
        .stdout(predicate::str::contains("\"v3\""));

    // rollback goes back to the previous revision.
    p.wharf()
        .args(["rollback", "--env", "local", "web", "--timeout", "2m"])
        .assert()
        .success();
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));

    // redeploy of all services starts a new deployment for each.
    let before = p.service("worker")["deployments"][0]["id"].clone();
    p.wharf()
        .args(["redeploy", "--env", "local", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("web: rolled out in"))
        .stderr(predicate::str::contains("worker: rolled out in"));
    assert_ne!(p.service("worker")["deployments"][0]["id"], before);
}

#[test]
fn a_missing_image_fails_rolls_back_and_says_why() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "good",
            "--timeout",
            "2m",
        ])
        .assert()
        .success();
    // The same service, now with an image the registry does not have.
    let td = task_definition("web", SERVE, "").replace(
        "\"image\": \"{image}\"",
        "\"image\": \"{registry}/wharf-test/missing:{{ tag }}\"",
    );
    p.write("ecs/web.json", &td);
    // --skip-image-check: the rollout itself finds out, as it would without the check.
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "bad",
            "--timeout",
            "2m",
            "--skip-image-check",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("CannotPullContainerError"))
        .stderr(predicate::str::contains("deployment failed"))
        .stderr(predicate::str::contains("rolled back to"));
    let web = p.service("web");
    assert!(
        web["taskDefinition"].as_str().unwrap().ends_with(":1"),
        "back on the good revision"
    );
}

#[test]
fn images_that_were_never_pushed_are_refused_before_anything_is_registered() {
    let p = project_with(&[("web", SERVE, ""), ("worker", SERVE, "")], "");
    // web: a tag never pushed; worker: the pushed image at a digest it does not have.
    let td = task_definition("web", SERVE, "").replace(
        "\"image\": \"{image}\"",
        "\"image\": \"{registry}/wharf-test/busybox:never-{{ tag }}\"",
    );
    p.write("ecs/web.json", &td);
    let missing_digest = format!("sha256:{}", "0".repeat(64));
    let td = task_definition("worker", SERVE, "").replace(
        "\"image\": \"{image}\"",
        &format!("\"image\": \"{{registry}}/wharf-test/busybox@{missing_digest}\""),
    );
    p.write("ecs/worker.json", &td);
    let registry = support::registry();
    let out = p
        .wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    for wanted in [
        format!("main (service web): {registry}/wharf-test/busybox:never-v1"),
        format!("main (service worker): {registry}/wharf-test/busybox@{missing_digest}"),
        "--skip-image-check".to_string(),
    ] {
        assert!(stderr.contains(&wanted), "{wanted:?} in {stderr}");
    }
    for family in ["web", "worker"] {
        assert_eq!(
            p.revisions(&format!("{}-{family}", p.app)).len(),
            0,
            "nothing registered for {family}"
        );
    }
    // --skip-image-check goes on and registers (so no deploy lock was left behind either).
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "v1",
            "--no-wait",
            "--skip-image-check",
            "web",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("registered"));
    assert_eq!(p.revisions(&format!("{}-web", p.app)).len(), 1);
    // The pushed image by its digest passes the check.
    let digest = support::ecr_digest("wharf-test/busybox", "1");
    let td = task_definition("worker", SERVE, "").replace(
        "\"image\": \"{image}\"",
        &format!("\"image\": \"{{registry}}/wharf-test/busybox@{digest}\""),
    );
    p.write("ecs/worker.json", &td);
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "v1",
            "--no-wait",
            "worker",
        ])
        .assert()
        .success();
    assert_eq!(p.revisions(&format!("{}-worker", p.app)).len(), 1);
}

#[test]
fn a_container_that_exits_at_start_is_diagnosed_with_exit_code_and_logs() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "good",
            "--timeout",
            "2m",
        ])
        .assert()
        .success();
    p.write(
        "ecs/web.json",
        &task_definition(
            "web",
            r#"["sh", "-c", "echo config file missing >&2; exit 1"]"#,
            "",
        ),
    );
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "crash",
            "--timeout",
            "2m",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "Essential container in task exited",
        ))
        .stderr(predicate::str::contains("main: exit code 1"))
        .stderr(predicate::str::contains("config file missing"))
        .stderr(predicate::str::contains("rolled back to"));
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));

    // The failed :2 is the family's newest revision; the service runs :1 again. Deploying the
    // good definition again reuses :1 (registering a :3 identical to it would roll for nothing).
    p.write("ecs/web.json", &task_definition("web", SERVE, ""));
    let family = format!("{}-web", p.app);
    assert_eq!(p.revisions(&family).len(), 2);
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "good",
            "--timeout",
            "2m",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to deploy"));
    assert_eq!(
        p.revisions(&family).len(),
        2,
        "a revision identical to the running :1 was registered"
    );
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}

#[test]
fn a_failing_health_check_fails_the_deploy() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "good",
            "--timeout",
            "2m",
        ])
        .assert()
        .success();
    let health = r#",
    "healthCheck": {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1, "startPeriod": 0}"#;
    p.write("ecs/web.json", &task_definition("web", SERVE, health));
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "sick",
            "--timeout",
            "2m",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("health"));
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}

#[test]
fn with_the_breaker_off_wharf_detects_the_crash_loop_and_rolls_back_itself() {
    let p = project_with(
        &[("web", SERVE, "")],
        "\n[services.web.deployment]\ncircuit_breaker = false\n",
    );
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "good",
            "--timeout",
            "2m",
        ])
        .assert()
        .success();
    p.write(
        "ecs/web.json",
        &task_definition("web", r#"["sh", "-c", "exit 2"]"#, ""),
    );
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "crash",
            "--timeout",
            "2m",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("keep failing"))
        .stderr(predicate::str::contains("rolling back to"))
        .stderr(predicate::str::contains("rolled back to"));
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}

#[test]
fn a_rollout_that_outlasts_the_timeout_exits_4() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "300ms",
            "--no-rollback",
        ])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("timed out"));
}

#[test]
fn a_held_lock_refuses_a_second_deploy_until_broken() {
    let p = project_with(&[("web", SERVE, "")], "");
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let holder = format!(
        r#"{{"who":"alice@laptop","pid":4242,"action":"deploy","since":{},"expires":{expires}}}"#,
        expires - 3600
    );
    aws(&[
        "ssm",
        "put-parameter",
        "--name",
        &format!("/wharf/locks/{}/local", p.app),
        "--type",
        "String",
        "--value",
        &holder,
    ]);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is locked by alice@laptop (deploy, pid 4242)",
        ));
    assert!(
        p.revisions(&format!("{}-web", p.app)).is_empty(),
        "nothing registered while locked"
    );
    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "broke the lock held by alice@laptop",
        ));
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    // Released after the deploy.
    let params = aws(&[
        "ssm",
        "get-parameters",
        "--names",
        &format!("/wharf/locks/{}/local", p.app),
    ]);
    assert_eq!(params["InvalidParameters"].as_array().unwrap().len(), 1);
}

#[test]
fn ctrl_c_while_watching_releases_the_lock_and_says_how_to_reattach() {
    use std::io::{BufRead, BufReader};
    let p = project_with(&[("web", r#"["sh", "-c", "sleep 3600"]"#, "")], "");
    // A slow health check keeps the rollout going long enough to interrupt it.
    let slow = r#",
    "healthCheck": {"command": ["CMD-SHELL", "exit 0"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 300}"#;
    p.write(
        "ecs/web.json",
        &task_definition("web", r#"["sh", "-c", "sleep 3600"]"#, slow),
    );
    let mut child = support::wharf_command()
        .args(["deploy", "--env", "local", "--tag", "v1"])
        .current_dir(p.path())
        .envs(support::aws_env())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("desired 2") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("creating service"), "{seen}");
    unsafe_kill(child.id());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("wharf wait --env local web"), "{rest}");
    let params = aws(&[
        "ssm",
        "get-parameters",
        "--names",
        &format!("/wharf/locks/{}/local", p.app),
    ]);
    assert_eq!(
        params["InvalidParameters"].as_array().unwrap().len(),
        1,
        "lock released"
    );
    // `wait` re-attaches to the rollout wharf stopped watching and follows it to its end.
    p.wharf()
        .args(["wait", "--env", "local", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("web: rolled out in"));
}

fn unsafe_kill(pid: u32) {
    std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
}

#[test]
fn no_wait_then_wait_attaches_to_the_rollout() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--no-wait"])
        .assert()
        .success();
    p.wharf()
        .args(["wait", "--env", "local", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("web: rolled out in"));
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let p = project_with(&[("web", SERVE, "")], "");
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "register {}-web:1",
            p.app
        )))
        .stdout(predicate::str::contains("create service"))
        .stdout(predicate::str::contains("+++ rendered"));
    assert!(p.revisions(&format!("{}-web", p.app)).is_empty());
    let svc = aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        &p.cluster,
        "--services",
        "web",
    ]);
    assert_eq!(svc["services"].as_array().map(|a| a.len()).unwrap_or(0), 0);
}
