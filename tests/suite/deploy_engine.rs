//! The deploy engine's promises that only show at the edges (issue #13): "previous" means the
//! last deployment that succeeded, `wait` shows only what happens after it attaches, a timeout
//! says what was still pending, and a deployment that DescribeServices does not show yet
//! (eventual consistency) is waited for instead of being taken for someone else's.

use crate::support;

use predicates::prelude::*;
use support::{task_definition, Project, WHARF_TOML};

const SERVE: &str = r#"["sh", "-c", "echo serving; while true; do sleep 1; done"]"#;

fn web_project() -> Project {
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n"
    );
    Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &task_definition("web", SERVE, "")),
    ])
}

fn deploy(p: &Project, tag: &str) -> assert_cmd::assert::Assert {
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", tag, "--timeout", "2m"])
        .assert()
}

fn running_revision(p: &Project) -> String {
    let td = p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    td.rsplit(':').next().unwrap().to_string()
}

#[test]
fn rollback_without_to_goes_to_the_last_successful_deployment_before_the_current_one() {
    let p = web_project();
    for tag in ["v1", "v2", "v3"] {
        deploy(&p, tag).success();
    }
    // Back to :1 on purpose; "previous" is now :3, the revision of the deployment that
    // succeeded before this one, although :1 is the oldest revision of the family.
    p.wharf()
        .args(["rollback", "--env", "local", "--to", "1", "--timeout", "2m"])
        .assert()
        .success();
    assert_eq!(running_revision(&p), "1");
    p.wharf()
        .args(["rollback", "--env", "local", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("last successful deployment"));
    assert_eq!(running_revision(&p), "3");
}

#[test]
fn wait_shows_only_events_after_it_attaches() {
    let p = web_project();
    deploy(&p, "good").success();
    p.write(
        "ecs/web.json",
        &task_definition("web", r#"["sh", "-c", "echo broken >&2; exit 3"]"#, ""),
    );
    deploy(&p, "broken")
        .code(1)
        .stderr(predicate::str::contains("rolled back to"));
    // The service is steady again; its events hold the failed deployment. `wait` attaches to
    // the steady service and must not replay them as news.
    let out = p
        .wharf()
        .args(["wait", "--env", "local", "--timeout", "1m"])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for old in ["deployment failed", "Essential container", "exit code 3"] {
        assert!(
            !stderr.contains(old),
            "wait replayed an old event ({old}):\n{stderr}"
        );
    }
}

#[test]
fn a_timeout_says_what_was_still_pending() {
    let p = web_project();
    // A health check that keeps the new task from counting as healthy within the timeout.
    p.write(
        "ecs/web.json",
        &task_definition(
            "web",
            SERVE,
            r#", "healthCheck": {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "retries": 10, "startPeriod": 300}"#,
        ),
    );
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "slow",
            "--timeout",
            "4s",
            "--no-rollback",
        ])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("timed out"))
        .stderr(predicate::str::contains("still pending:"))
        .stderr(predicate::str::contains("of 1 tasks running"))
        .stderr(predicate::str::contains("not rolling back (--no-rollback)"));
}

/// Sets test-bed knobs for as long as it lives (they are global: hold `support::alone()`).
struct Knobs(&'static str);

impl Knobs {
    fn set(body: &'static str, reset: &'static str) -> Knobs {
        support::testbed_control("POST", "/_testbed/config", Some(body));
        Knobs(reset)
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        support::testbed_control("POST", "/_testbed/config", Some(self.0));
    }
}

#[test]
fn a_deployment_describe_services_does_not_show_yet_is_waited_for() {
    let _alone = support::alone();
    let _knobs = Knobs::set(
        r#"{"deployment_visibility_seconds": 3}"#,
        r#"{"deployment_visibility_seconds": 0}"#,
    );
    let p = web_project();
    // Created: DescribeServices says MISSING for 3 s. Updated: it shows the old deployment.
    deploy(&p, "v1")
        .success()
        .stderr(predicate::str::contains("took over").not());
    deploy(&p, "v2")
        .success()
        .stderr(predicate::str::contains("took over").not());
    assert_eq!(running_revision(&p), "2");
}

#[test]
fn atomic_rolls_back_the_services_that_rolled_out_when_another_fails() {
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n\
         [services.worker]\ntask_definition = \"ecs/worker.json\"\ndesired_count = 1\n"
    );
    let p = Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &task_definition("web", SERVE, "")),
        ("ecs/worker.json", &task_definition("worker", SERVE, "")),
    ]);
    deploy(&p, "v1").success();
    p.write(
        "ecs/worker.json",
        &task_definition("worker", r#"["sh", "-c", "echo no queue >&2; exit 2"]"#, ""),
    );
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            "v2",
            "--timeout",
            "2m",
            "--atomic",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("web: rolling back to"))
        .stderr(predicate::str::contains(
            "rolled back because worker failed (--atomic)",
        ));
    // Both services end where they began.
    assert_eq!(running_revision(&p), "1");
    assert!(p.service("worker")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}
