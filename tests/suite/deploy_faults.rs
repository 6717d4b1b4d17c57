//! Deploys under injected faults end right: throttling, 5xx and dropped connections (including a
//! RegisterTaskDefinition that AWS carried out but whose answer was lost) leave exactly one new
//! revision per service and exit 0. Faults are global to the test bed, so the test holds the
//! test bed alone (`support::alone`) while it runs.

use crate::support;

use std::io::{BufRead, BufReader};

use support::{task_definition, Project, WHARF_TOML};

#[test]
fn throttling_5xx_and_lost_answers_end_right_without_duplicate_revisions() {
    let _alone = support::alone();
    const SERVE: &str = r#"["sh", "-c", "while true; do sleep 1; done"]"#;
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\n[services.worker]\ntask_definition = \"ecs/worker.json\"\n"
    );
    let web = task_definition("web", SERVE, "");
    let worker = task_definition("worker", SERVE, "");
    let p = Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &web),
        ("ecs/worker.json", &worker),
    ]);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();

    // Before the deploy: answers lost after AWS acted (twice), a 503, a 500.
    let faults = support::inject_faults(
        r#"[{"operations": ["ecs:RegisterTaskDefinition"], "error": "drop_after", "count": 2},
            {"operations": ["ecs:UpdateService"], "error": "503", "count": 1},
            {"operations": ["ecs:DescribeTaskDefinition"], "error": "500", "count": 1}]"#,
    );
    let mut child = support::wharf_command()
        .args(["deploy", "--env", "local", "--tag", "v2", "--timeout", "3m"])
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
        if seen.matches("(updating service)").count() == 2 {
            break;
        }
        line.clear();
    }
    // While watching: more throttling in a row than the SDK's own retries absorb.
    let more = support::inject_faults(
        r#"{"operations": ["ecs:DescribeServices"], "error": "throttle", "count": 7}"#,
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    drop((more, faults));
    let all = format!("{seen}{rest}");
    assert_eq!(status.code(), Some(0), "{all}");
    assert!(
        all.contains("web: rolled out in") && all.contains("worker: rolled out in"),
        "{all}"
    );
    assert!(
        all.contains("ECS did not answer (ecs:DescribeServices failed: ThrottlingException"),
        "{all}"
    );
    for family in ["web", "worker"] {
        let family = format!("{}-{family}", p.app);
        assert_eq!(
            p.revisions(&family).len(),
            2,
            "{family}: one new revision, no duplicates"
        );
    }
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":2"));
}
