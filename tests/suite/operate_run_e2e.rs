//! `wharf run` and `wharf logs` end to end against the local test bed: jobs that exit 0 and 3,
//! a job whose image cannot be pulled, --detach, --timeout, a service's task definition with a
//! command override, and logs read back (and followed) from CloudWatch Logs.

use crate::support;

use std::time::Duration;

use predicates::prelude::*;
use support::{aws, task_definition, Project, WHARF_TOML};

fn job_project(command: &str, job_toml: &str) -> Project {
    let toml = format!(
        "{WHARF_TOML}\n[jobs.migrate]\ntask_definition = \"ecs/migrate.json\"\n{job_toml}\n"
    );
    Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/migrate.json", &task_definition("migrate", command, "")),
    ])
}

#[test]
fn a_job_that_exits_0_streams_its_logs_and_exits_0() {
    let p = job_project(
        r#"["sh", "-c", "echo migrating $TAG; sleep 1; echo done"]"#,
        "",
    );
    let out = p
        .wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "2m",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .success()
        .stdout(predicate::str::contains("migrating v1\ndone\n"))
        .stderr(predicate::str::contains("exited with code 0"));
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("started task"), "{stderr}");
    // The task really ran on the cluster and stopped with that exit code.
    let arns = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &p.cluster,
        "--desired-status",
        "STOPPED",
    ]);
    let arn = arns["taskArns"][0]
        .as_str()
        .expect("a stopped task")
        .to_string();
    let tasks = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &p.cluster,
        "--tasks",
        &arn,
    ]);
    assert_eq!(tasks["tasks"][0]["containers"][0]["exitCode"], 0);
    assert_eq!(tasks["tasks"][0]["startedBy"], "wharf-run");

    // Its lines can be read back with `wharf logs`, prefixed with task and container.
    let id = arn.rsplit('/').next().unwrap().to_string();
    p.wharf()
        .args(["logs", "migrate", "--env", "local", "--no-timestamps"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "{}/main migrating v1",
            &id[..8]
        )));
    let json = p
        .wharf()
        .args([
            "logs", "migrate", "--env", "local", "--task", &id, "-o", "json", "--filter", "done",
        ])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&json.get_output().stdout).to_string();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["message"], "done");
    assert_eq!(lines[0]["task"], id.as_str());
    assert_eq!(lines[0]["container"], "main");
}

#[test]
fn a_job_that_exits_3_exits_3_and_a_command_override_replaces_the_jobs_command() {
    let p = job_project(
        r#"["sh", "-c", "echo never"]"#,
        "command = [\"sh\", \"-c\", \"echo failing; exit 3\"]",
    );
    p.wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "2m",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .code(3)
        .stdout(predicate::str::contains("failing"))
        .stdout(predicate::str::contains("never").not())
        .stderr(predicate::str::contains("main exited with code 3"));
    // `-- CMD` wins over the job's command; --set-env reaches the container.
    p.wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--set-env",
            "GREETING=hi there",
            "--",
            "sh",
            "-c",
            "echo $GREETING; exit 0",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .success()
        .stdout(predicate::str::contains("hi there"));
}

#[test]
fn a_job_whose_image_cannot_be_pulled_says_why_and_exits_1() {
    let td = task_definition("migrate", r#"["true"]"#, "")
        .replace("{image}", "{registry}/wharf-test/does-not-exist:1");
    let toml = format!("{WHARF_TOML}\n[jobs.migrate]\ntask_definition = \"ecs/migrate.json\"\n");
    let p = Project::new(&[("wharf.toml", &toml), ("ecs/migrate.json", &td)]);
    // Refused before anything is registered: the image is not in the registry.
    p.wharf()
        .args(["run", "migrate", "--env", "local", "--tag", "v1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "main (job migrate): {}/wharf-test/does-not-exist:1",
            support::registry()
        )));
    assert_eq!(p.revisions(&format!("{}-migrate", p.app)).len(), 0);
    // Without the check, the task itself fails to start and wharf says why.
    p.wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "2m",
            "--skip-image-check",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("could not start"))
        .stderr(predicate::str::contains("CannotPullContainerError"));
}

#[test]
fn identical_runs_reuse_the_revision_and_a_changed_command_registers_a_new_one() {
    let p = job_project(r#"["sh", "-c", "echo one"]"#, "");
    let family = format!("{}-migrate", p.app);
    for _ in 0..2 {
        p.wharf()
            .args([
                "run",
                "migrate",
                "--env",
                "local",
                "--tag",
                "v1",
                "--timeout",
                "2m",
            ])
            .timeout(Duration::from_secs(150))
            .assert()
            .success()
            .stdout(predicate::str::contains("one"))
            .stderr(predicate::str::contains(format!("({family}:1)")));
    }
    assert_eq!(p.revisions(&family).len(), 1, "the second run reuses :1");
    p.write(
        "ecs/migrate.json",
        &task_definition("migrate", r#"["sh", "-c", "echo two"]"#, ""),
    );
    p.wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "2m",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .success()
        .stdout(predicate::str::contains("two"))
        .stderr(predicate::str::contains(format!("({family}:2)")));
    assert_eq!(p.revisions(&family).len(), 2);
}

#[test]
fn detach_prints_the_task_id_and_timeout_exits_4_leaving_the_task_running() {
    let p = job_project(r#"["sh", "-c", "echo up; sleep 600"]"#, "");
    let out = p
        .wharf()
        .args([
            "run", "migrate", "--env", "local", "--tag", "v1", "--detach",
        ])
        .assert()
        .success();
    let id = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(
        !id.is_empty() && !id.contains(char::is_whitespace),
        "a task id on stdout: {id:?}"
    );
    let tasks = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &p.cluster,
        "--tasks",
        &id,
    ]);
    assert_eq!(tasks["tasks"][0]["desiredStatus"], "RUNNING");

    p.wharf()
        .args([
            "run",
            "migrate",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "6s",
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(4)
        .stdout(predicate::str::contains("up"))
        .stderr(predicate::str::contains("stopped waiting"))
        .stderr(predicate::str::contains("aws ecs stop-task --cluster"));
    aws(&["ecs", "stop-task", "--cluster", &p.cluster, "--task", &id]);
}

#[test]
fn logs_follow_prints_new_lines_as_they_are_written() {
    let p = job_project(
        r#"["sh", "-c", "i=0; while [ $i -lt 30 ]; do echo tick $i; i=$((i+1)); sleep 1; done"]"#,
        "",
    );
    p.wharf()
        .args([
            "run", "migrate", "--env", "local", "--tag", "v1", "--detach",
        ])
        .assert()
        .success();
    // Follow for a while in the background; it must print lines written after it started.
    let mut cmd = support::wharf_command();
    cmd.current_dir(p.path())
        .envs(support::aws_env())
        .args([
            "logs",
            "migrate",
            "--env",
            "local",
            "--follow",
            "--no-timestamps",
            "--since",
            "5m",
        ])
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(12));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ticks: Vec<&str> = text.lines().filter(|l| l.contains(" tick ")).collect();
    assert!(ticks.len() >= 5, "follow printed new lines: {text}");
    let mut numbers: Vec<u32> = ticks
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    let sorted = {
        let mut s = numbers.clone();
        s.sort();
        s.dedup();
        s
    };
    numbers.dedup();
    assert_eq!(numbers, sorted, "no line twice, in order: {text}");
}

#[test]
fn run_with_a_service_uses_its_task_definition_with_the_command_override() {
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n"
    );
    let p = Project::new(&[
        ("wharf.toml", &toml),
        (
            "ecs/web.json",
            &task_definition("web", r#"["sh", "-c", "while true; do sleep 1; done"]"#, ""),
        ),
    ]);
    // No service yet and no tag: nothing to run, and wharf says what to do.
    p.wharf()
        .args([
            "run",
            "--service",
            "web",
            "--env",
            "local",
            "--",
            "echo",
            "hi",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"))
        .stderr(predicate::str::contains("--tag"));
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v7", "--timeout", "2m"])
        .timeout(Duration::from_secs(150))
        .assert()
        .success();
    p.wharf()
        .args([
            "run",
            "--service",
            "web",
            "--env",
            "local",
            "--timeout",
            "2m",
            "--",
            "sh",
            "-c",
            "echo tag=$TAG",
        ])
        .timeout(Duration::from_secs(150))
        .assert()
        .success()
        .stdout(predicate::str::contains("tag=v7"));
    // A job name that is a service gets a pointer to --service; unknown names a suggestion.
    p.wharf()
        .args(["run", "web", "--env", "local"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("wharf run --service web"));
}

/// Starts `wharf run` in the background, waits for its "started task" line, sends Ctrl-C (SIGINT)
/// and returns (exit code, stderr).
fn run_and_interrupt(p: &Project, extra: &[&str]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader, Read};
    let mut child = support::wharf_command()
        .current_dir(p.path())
        .envs(support::aws_env())
        .args(["run", "migrate", "--env", "local", "--tag", "v1"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut stderr = String::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        stderr.push_str(&line);
        if line.contains("started task") {
            break;
        }
        line.clear();
    }
    std::thread::sleep(Duration::from_secs(2));
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    reader.read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    (status.code(), stderr)
}

fn last_task(p: &Project) -> serde_json::Value {
    let running = aws(&["ecs", "list-tasks", "--cluster", &p.cluster]);
    let stopped = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &p.cluster,
        "--desired-status",
        "STOPPED",
    ]);
    let arn = running["taskArns"][0]
        .as_str()
        .or(stopped["taskArns"][0].as_str())
        .expect("a task")
        .to_string();
    aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &p.cluster,
        "--tasks",
        &arn,
    ])["tasks"][0]
        .clone()
}

#[test]
fn ctrl_c_leaves_the_task_running_unless_asked_to_stop_it() {
    let p = job_project(r#"["sh", "-c", "echo up; sleep 600"]"#, "");
    let (code, stderr) = run_and_interrupt(&p, &[]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("keeps running"), "{stderr}");
    assert!(stderr.contains("--follow"), "{stderr}");
    assert!(stderr.contains("aws ecs stop-task"), "{stderr}");
    let task = last_task(&p);
    assert_eq!(task["desiredStatus"], "RUNNING");
    let arn = task["taskArn"].as_str().unwrap().to_string();
    aws(&["ecs", "stop-task", "--cluster", &p.cluster, "--task", &arn]);

    let p = job_project(r#"["sh", "-c", "echo up; sleep 600"]"#, "");
    let (code, stderr) = run_and_interrupt(&p, &["--stop-on-interrupt"]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    let task = last_task(&p);
    assert_eq!(task["lastStatus"], "STOPPED", "{task}");
    assert_eq!(task["stopCode"], "UserInitiated");
}
