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
    "GITHUB_EVENT_NAME",
    "CIRCLE_PULL_REQUEST",
    "CIRCLE_PR_NUMBER",
    "CI_MERGE_REQUEST_IID",
    "CI_PIPELINE_SOURCE",
    "CHANGE_ID",
    "CHANGE_BRANCH",
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

/// `wharf ci` in `p` with only `vars` of the CI systems' variables set.
fn ci_command(p: &Project, vars: &[(&str, &str)]) -> assert_cmd::Command {
    let mut c = p.wharf();
    for v in CI_VARS {
        c.env_remove(v);
    }
    c.envs(vars.iter().copied()).arg("ci");
    c
}

fn ci(p: &Project, vars: &[(&str, &str)]) -> assert_cmd::assert::Assert {
    ci_command(p, vars).arg("--dry-run").assert()
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
    // A pull request from a branch named main does not deploy: no rule allows pull requests.
    ci(&p, &[("GITHUB_ACTIONS", "true"), ("GITHUB_EVENT_NAME", "pull_request"), ("GITHUB_REF", "refs/pull/12/merge"), ("GITHUB_HEAD_REF", "main"), ("GITHUB_SHA", "0123456789abcdef")])
        .success()
        .stderr(predicate::str::contains(
            "ci (github-actions): pull request from branch main: no rule matches (a pull request matches only rules with pull_requests = true); nothing to do",
        ));
    // Unless a rule says so.
    let q = service_project(&format!(
        "{RULES}\n[[ci.rules]]\nbranch = \"*\"\npull_requests = true\naction = \"build\"\n"
    ));
    ci(&q, &[("GITLAB_CI", "true"), ("CI_MERGE_REQUEST_IID", "3"), ("CI_COMMIT_REF_NAME", "main"), ("CI_COMMIT_SHA", "0123456789abcdef")])
        .success()
        .stdout(predicate::str::contains(
            "ci (gitlab-ci): pull request from branch main matches rule 5 (branch main ~ \"*\"): build with tag 0123456",
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
    let mut c = ci_command(
        &p,
        &[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", "c0ffee1234567"),
        ],
    );
    c.args(["--timeout", "2m", "--output", "json"]);
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

/// The tag Terraform's `tag` output holds in the `local` workspace of `p`'s infra/.
fn terraform_tag(p: &Project) -> serde_json::Value {
    let out = std::process::Command::new("terraform")
        .env("PATH", support::path_with_terraform())
        .env("TF_WORKSPACE", "local")
        .current_dir(p.path().join("infra"))
        .args(["output", "-json", "tag"])
        .output()
        .expect("terraform runs");
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `wharf all` whose smoke test fails after Terraform applied the new tag: the services are rolled
/// back, and Terraform is applied again with the tag of the last good run (recorded in SSM), so
/// its state no longer holds the tag that failed. Without a recorded tag, wharf says so.
#[test]
fn a_failed_smoke_test_puts_terraform_back_on_the_last_good_tag() {
    let good = serve(200, "ok");
    let bad = serve(503, "down");
    let smoke = |port: u16| {
        format!(
            "[terraform]\ndir = \"infra\"\n[services.web.smoke]\nurl = \"http://127.0.0.1:{port}/health\"\nbody = \"ok\"\ntimeout = \"3s\"\n"
        )
    };
    let p = service_project(&smoke(bad));
    p.write(
        "infra/main.tf",
        "variable \"app_tag\" {\n  type = string\n}\n\noutput \"tag\" {\n  value = var.app_tag\n}\n",
    );
    let path = support::path_with_terraform();
    let wharf = |args: &[&str]| {
        let mut c = p.wharf();
        c.env("PATH", &path).args(args);
        c.assert()
    };
    wharf(&["env", "create", "local"]).success();
    let parameter = format!("/wharf/applied/{}/local", p.app);
    // The first run fails its smoke test: nothing recorded to go back to, and wharf says so.
    wharf(&[
        "all",
        "--env",
        "local",
        "--tag",
        "t0",
        "--yes",
        "--timeout",
        "2m",
    ])
    .code(1)
    .stderr(predicate::str::contains(
        "Terraform's state for `local` now holds tag t0, and wharf has no earlier tag recorded",
    ));
    assert_eq!(terraform_tag(&p), "t0");
    // A good run records its tag.
    p.write(
        "wharf.toml",
        &format!(
            "{}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n{}",
            support::WHARF_TOML,
            smoke(good)
        ),
    );
    wharf(&[
        "all",
        "--env",
        "local",
        "--tag",
        "t1",
        "--yes",
        "--timeout",
        "2m",
    ])
    .success();
    assert_eq!(terraform_tag(&p), "t1");
    let recorded = support::aws(&["ssm", "get-parameter", "--name", &parameter]);
    assert_eq!(recorded["Parameter"]["Value"], "t1");
    let family = format!("{}-web", p.app);
    let on_t1 = p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .to_string();
    // The next one fails its smoke test: services rolled back, Terraform put back on t1.
    p.write(
        "wharf.toml",
        &format!(
            "{}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n{}",
            support::WHARF_TOML,
            smoke(bad)
        ),
    );
    wharf(&[
        "all",
        "--env",
        "local",
        "--tag",
        "t2",
        "--yes",
        "--timeout",
        "2m",
    ])
    .code(1)
    .stderr(predicate::str::contains("smoke web: FAILED"))
    .stderr(predicate::str::contains(format!("rolling back {family}:")))
    .stderr(predicate::str::contains(
        "==> putting Terraform back on tag t1 (tag t2 was applied, and a later stage failed)",
    ))
    .stderr(predicate::str::contains("<== Terraform is back on tag t1"))
    .stderr(predicate::str::is_match(r"restore +ok").unwrap());
    assert_eq!(
        terraform_tag(&p),
        "t1",
        "the state holds the last good tag again"
    );
    assert_eq!(p.service("web")["taskDefinition"].as_str().unwrap(), on_t1);
    let recorded = support::aws(&["ssm", "get-parameter", "--name", &parameter]);
    assert_eq!(
        recorded["Parameter"]["Value"], "t1",
        "a failed run records nothing"
    );
    // A plain apply records its tag too.
    wharf(&["apply", "--env", "local", "--tag", "t3", "--yes"]).success();
    let recorded = support::aws(&["ssm", "get-parameter", "--name", &parameter]);
    assert_eq!(recorded["Parameter"]["Value"], "t3");
}

/// `wharf ci` promotes a tag from an environment only when it passed there (its deploy and smoke
/// test in an `all`/`ci` run, recorded in SSM); `--force` overrides.
#[test]
fn ci_promotes_only_a_tag_that_passed_in_the_source_environment() {
    let stage_cluster = support::unique("stage");
    support::aws(&["ecs", "create-cluster", "--cluster-name", &stage_cluster]);
    let p = service_project(&format!(
        r#"
[images.app]
context = "."
repository = "{{app}}/app"

[environments.stage]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{{endpoint}}"
registry = "{{registry}}"
cluster = "{stage_cluster}"

[environments.stage.network]
subnets = ["{{subnet}}"]

[[ci.rules]]
branch = "main"
env = "local"
action = "deploy"
[[ci.rules]]
tag = "*-staging"
env = "stage"
action = "promote"
from = "local"
"#
    ));
    p.write("Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\n");
    std::fs::copy("/bin/busybox", p.path().join("busybox")).expect("/bin/busybox exists");
    support::ensure_ecr_repository(&format!("{}/app", p.app));
    let run = |vars: &[(&str, &str)], extra: &[&str]| {
        ci_command(&p, vars)
            .args(["--timeout", "2m"])
            .args(extra)
            .assert()
    };
    let staging = [
        ("CIRCLECI", "true"),
        ("CIRCLE_TAG", "1.0-staging"),
        ("CIRCLE_SHA1", "feed1234567890"),
    ];
    // Never deployed to local: refused before anything is copied.
    run(&staging, &[])
        .code(1)
        .stderr(predicate::str::contains(
            "tag feed123 has not passed in `local`: no `wharf all` or `wharf ci` run there deployed it and passed its smoke test",
        ))
        .stderr(predicate::str::contains("pass --force to promote it anyway"));
    // Deployed to local by the main branch's rule: then the staging tag promotes and deploys it.
    run(
        &[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", "feed1234567890"),
        ],
        &[],
    )
    .success();
    let passed = support::aws(&[
        "ssm",
        "get-parameter",
        "--name",
        &format!("/wharf/passed/{}/local", p.app),
    ]);
    assert_eq!(passed["Parameter"]["Value"], "feed123");
    run(&staging, &[])
        .success()
        .stderr(predicate::str::is_match(r"promote +ok").unwrap())
        .stderr(predicate::str::is_match(r"deploy +ok").unwrap());
    // Another commit that never passed: --force goes ahead (and fails later, as the image was
    // never built), saying it did not check.
    run(
        &[
            ("CIRCLECI", "true"),
            ("CIRCLE_TAG", "1.1-staging"),
            ("CIRCLE_SHA1", "0ddba11000000"),
        ],
        &["--force"],
    )
    .stderr(predicate::str::contains(
        "--force: promoting 0ddba11 from `local` without checking that it passed there",
    ))
    .stderr(predicate::str::contains("has not passed").not());
}
