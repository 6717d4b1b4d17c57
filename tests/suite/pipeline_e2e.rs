//! `wharf ci` decisions from each CI system's variables, `wharf all` stopping at each failing
//! stage, and a failing smoke test rolling the deploy back (exit 1), against the test bed.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpListener;

use predicates::prelude::*;
use support::{task_definition, Project, WHARF_TOML};

const CI_VARS: &[&str] = &[
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_REF",
    "GITHUB_REF_NAME",
    "GITHUB_REF_TYPE",
    "GITHUB_SHA",
    "GITHUB_HEAD_REF",
    "CIRCLECI",
    "CIRCLE_BRANCH",
    "CIRCLE_TAG",
    "CIRCLE_SHA1",
    "GITLAB_CI",
    "CI_COMMIT_BRANCH",
    "CI_COMMIT_TAG",
    "CI_COMMIT_SHA",
    "CI_COMMIT_REF_NAME",
    "JENKINS_URL",
    "JENKINS_HOME",
    "BRANCH_NAME",
    "TAG_NAME",
    "GIT_BRANCH",
    "GIT_COMMIT",
    "WHARF_TAG",
];

const RULES: &str = r#"
[images.app]
repository = "{app}/app"

[environments.stage]
region = "us-east-1"
[environments.prod]
region = "us-east-1"

[[ci.rules]]
branch = "main"
env = "local"
action = "deploy"
[[ci.rules]]
tag = "*-staging"
env = "stage"
action = "promote"
from = "local"
[[ci.rules]]
tag = "*-prod"
env = "prod"
action = "promote"
from = "stage"
[[ci.rules]]
branch = "release/*"
action = "build"
"#;

fn ci(p: &Project, vars: &[(&str, &str)]) -> assert_cmd::assert::Assert {
    let mut c = p.wharf();
    for v in CI_VARS {
        c.env_remove(v);
    }
    c.envs(vars.iter().copied())
        .args(["ci", "--dry-run"])
        .assert()
}

fn service_project(extra: &str) -> Project {
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n{extra}"
    );
    let td = task_definition("web", r#"["sh", "-c", "while true; do sleep 1; done"]"#, "");
    Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &td),
        ("Dockerfile", "FROM scratch\n"),
    ])
}

#[test]
fn ci_decisions_for_each_ci_system() {
    let p = service_project(RULES);
    ci(&p, &[("GITHUB_ACTIONS", "true"), ("GITHUB_REF", "refs/heads/main"), ("GITHUB_SHA", "0123456789abcdef")])
        .success()
        .stdout(predicate::str::contains(
            "ci (github-actions): branch main matches rule 1 (branch main ~ \"main\"): deploy to local with tag 0123456: build → push → deploy",
        ));
    ci(&p, &[("CIRCLECI", "true"), ("CIRCLE_TAG", "1.4.0-staging"), ("CIRCLE_SHA1", "abcdef0123")])
        .success()
        .stdout(predicate::str::contains(
            "ci (circleci): tag 1.4.0-staging matches rule 2 (tag 1.4.0-staging ~ \"*-staging\"): promote to stage with tag abcdef0: promote → deploy",
        ));
    ci(
        &p,
        &[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_TAG", "1.4.0-prod"),
            ("CI_COMMIT_REF_NAME", "1.4.0-prod"),
            ("CI_COMMIT_SHA", "fedcba9876"),
        ],
    )
    .success()
    .stdout(predicate::str::contains(
        "ci (gitlab-ci): tag 1.4.0-prod matches rule 3",
    ))
    .stdout(predicate::str::contains("promote to prod with tag fedcba9"));
    ci(
        &p,
        &[
            ("JENKINS_URL", "http://jenkins"),
            ("GIT_BRANCH", "origin/release/2.0"),
            ("GIT_COMMIT", "1111111222"),
        ],
    )
    .success()
    .stdout(predicate::str::contains(
        "ci (jenkins): branch release/2.0 matches rule 4",
    ))
    .stdout(predicate::str::contains(
        "build with tag 1111111: build → push",
    ));
    ci(
        &p,
        &[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/heads/feature/x"),
            ("GITHUB_SHA", "1"),
        ],
    )
    .success()
    .stderr(predicate::str::contains(
        "branch feature/x: no rule matches; nothing to do",
    ));
    // Flags win over the CI system's variables; JSON for machines.
    let out = p
        .wharf()
        .env_remove("GITHUB_ACTIONS")
        .args([
            "ci",
            "--dry-run",
            "--git-tag",
            "9-prod",
            "--commit",
            "99999999",
            "--output",
            "json",
        ])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["decision"]["env"], "prod");
    assert_eq!(
        doc["decision"]["stages"],
        serde_json::json!(["promote", "deploy"])
    );
}

#[test]
fn ci_rules_are_checked() {
    let p =
        service_project("[[ci.rules]]\nbranch = \"main\"\nenv = \"dve\"\naction = \"deploy\"\n");
    p.wharf()
        .args(["ci", "--dry-run", "--branch", "main", "--commit", "abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "ci rule names environment `dve`, which is not in [environments]",
        ))
        .stderr(predicate::str::contains("wharf.toml:"));
    let p =
        service_project("[[ci.rules]]\nbranch = \"main\"\nenv = \"local\"\naction = \"deplyo\"\n");
    p.wharf()
        .args(["ci", "--dry-run", "--branch", "main", "--commit", "abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean \"deploy\"?"));
}

#[test]
fn all_stops_at_a_failing_build() {
    let p = service_project("[images.app]\nrepository = \"{app}/app\"\ncontext = \".\"\n");
    p.write("Dockerfile", "FROM scratch\nRUN [\"/no/such/binary\"]\n");
    p.wharf()
        .args(["all", "--env", "local", "--tag", "b1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("<== build FAILED"))
        .stderr(predicate::str::is_match(r"push +not run").unwrap())
        .stderr(predicate::str::is_match(r"deploy +not run").unwrap());
    assert_eq!(p.revisions(&format!("{}-web", p.app)).len(), 0);
}

#[test]
fn all_stops_at_a_failing_apply_and_at_a_failing_deploy() {
    let p = service_project("[terraform]\ndir = \"infra\"\n");
    p.write(
        "infra/main.tf",
        "output \"x\" {\n  value = var.undeclared\n}\n",
    );
    let path = support::path_with_terraform();
    let tf = |args: &[&str]| {
        std::process::Command::new("terraform")
            .env("PATH", &path)
            .current_dir(p.path().join("infra"))
            .args(args)
            .output()
            .expect("terraform runs")
    };
    tf(&["workspace", "new", "local"]);
    p.wharf()
        .env("PATH", &path)
        .args(["all", "--env", "local", "--tag", "a1", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "terraform apply failed for environment `local`",
        ))
        .stderr(predicate::str::is_match(r"apply +failed").unwrap())
        .stderr(predicate::str::is_match(r"deploy +not run").unwrap());
    // Apply passes; the deploy fails: the image check finds an image the registry does not have.
    p.write("infra/main.tf", "variable \"app_tag\" {\n  type = string\n}\n\noutput \"tag\" {\n  value = var.app_tag\n}\n");
    p.write(
        "ecs/web.json",
        &task_definition("web", r#"["sh", "-c", "sleep 600"]"#, "")
            .replace("{image}", "{registry}/wharf-test/missing:1"),
    );
    p.wharf()
        .env("PATH", &path)
        .args([
            "all",
            "--env",
            "local",
            "--tag",
            "a2",
            "--yes",
            "--timeout",
            "2m",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::is_match(r"apply +ok").unwrap())
        .stderr(predicate::str::is_match(r"deploy +failed").unwrap());
}

/// Serves HTTP on 127.0.0.1 with `status` and `body` to every request, in a thread.
fn serve(status: u16, body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn a_failing_smoke_test_rolls_back_and_exits_1() {
    let port = serve(503, "down for maintenance");
    let p = service_project(&format!(
        "[services.web.smoke]\nurl = \"http://127.0.0.1:{port}/health?tag={{{{ tag }}}}\"\nstatus = 200\nbody = \"ok\"\ntimeout = \"3s\"\n"
    ));
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "s1", "--timeout", "2m"])
        .assert()
        .success();
    let family = format!("{}-web", p.app);
    let first = p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first.ends_with(&format!("{family}:1")), "{first}");
    p.wharf()
        .args(["all", "--env", "local", "--tag", "s2", "--timeout", "2m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "smoke web: FAILED: GET http://127.0.0.1:{port}/health?tag=s2 returned 503, expected 200"
        )))
        .stderr(predicate::str::contains(format!("rolling back {family}:2 -> {family}:1")))
        .stderr(predicate::str::is_match(r"smoke +failed").unwrap());
    let web = p.service("web");
    assert_eq!(
        web["taskDefinition"].as_str().unwrap(),
        first,
        "the service is back on revision 1"
    );
    assert_eq!(p.revisions(&family).len(), 2);
}

#[test]
fn a_passing_smoke_test_keeps_the_deploy() {
    let port = serve(200, "status: ok");
    let p = service_project(&format!(
        "[services.web.smoke]\nurl = \"http://127.0.0.1:{port}/health\"\nbody = \"ok\"\n"
    ));
    p.wharf()
        .args(["all", "--env", "local", "--tag", "p1", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("smoke web: ok"))
        .stderr(predicate::str::is_match(r"deploy +ok").unwrap());
}

#[test]
fn ci_deploys_what_the_rule_says_with_the_commit_as_tag() {
    let p =
        service_project("[[ci.rules]]\nbranch = \"main\"\nenv = \"local\"\naction = \"deploy\"\n");
    let mut c = p.wharf();
    for v in CI_VARS {
        c.env_remove(v);
    }
    c.envs([
        ("CIRCLECI", "true"),
        ("CIRCLE_BRANCH", "main"),
        ("CIRCLE_SHA1", "c0ffee1234567"),
    ])
    .args(["ci", "--timeout", "2m", "--output", "json"]);
    let out = c.assert().success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["stages"][0]["stage"], "deploy");
    assert_eq!(doc["stages"][0]["outcome"], "ok");
    assert_eq!(doc["decision"]["tag"], "c0ffee1");
    let td = aws_td(&p);
    assert_eq!(
        td["containerDefinitions"][0]["environment"][0]["value"],
        "c0ffee1"
    );
}

fn aws_td(p: &Project) -> serde_json::Value {
    let arn = p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    support::aws(&["ecs", "describe-task-definition", "--task-definition", &arn])["taskDefinition"]
        .clone()
}
