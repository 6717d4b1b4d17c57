//! wharf's requests against plain moto, without the test bed's ECS lifecycle extension: moto
//! validates request shapes as AWS does, so `deploy --no-wait` registering and updating correctly
//! here (as the AWS CLI sees it) means the requests are ones real AWS accepts.

use crate::support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use predicates::prelude::*;
use support::aws_at;

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn plain_moto() -> Moto {
    let port = support::free_port();
    let python = support::venv_bin("python");
    assert!(
        python.exists(),
        "the test bed's venv is missing ({}); run scripts/testbed install",
        python.display()
    );
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto starts");
    let endpoint = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "plain moto did not start on {endpoint}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { child, endpoint }
}

#[test]
fn deploy_no_wait_registers_and_updates_as_aws_accepts() {
    let moto = plain_moto();
    let ep = moto.endpoint.as_str();
    aws_at(ep, &["ecs", "create-cluster", "--cluster-name", "plain"]);
    let vpc = aws_at(ep, &["ec2", "create-vpc", "--cidr-block", "10.1.0.0/16"]);
    let vpc = vpc["Vpc"]["VpcId"].as_str().unwrap().to_string();
    let subnet = aws_at(
        ep,
        &[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            "10.1.1.0/24",
        ],
    );
    let subnet = subnet["Subnet"]["SubnetId"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ecs")).unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            r#"app = "plain"
[environments.local]
region = "us-east-1"
endpoint_url = "{ep}"
registry = "127.0.0.1:5000"
cluster = "plain"
[environments.local.network]
subnets = ["{subnet}"]
security_groups = []

[services.web]
task_definition = "ecs/web.json"
desired_count = 3
enable_execute_command = true
[services.web.deployment]
maximum_percent = 150
minimum_healthy_percent = 50
[services.web.tags]
team = "platform"
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ecs/web.json"),
        r#"{
  "family": "plain-web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "0.5 vCPU",
  "memory": "1 GB",
  "containerDefinitions": [{
    "name": "web",
    "image": "{{ image_uri }}:{{ tag }}",
    "portMappings": [{"containerPort": 8080}],
    "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "{{ tag }}"}]
  }]
}"#
        .replace("{{ image_uri }}", "127.0.0.1:5000/plain/web"),
    )
    .unwrap();
    // The image was never pushed (only the requests matter here): --skip-image-check.
    let wharf = |args: &[&str]| {
        let mut cmd = support::wharf_assert();
        cmd.current_dir(dir.path())
            .envs(support::aws_env())
            .env("AWS_ENDPOINT_URL", ep)
            .args(args);
        cmd
    };
    wharf(&[
        "deploy",
        "--env",
        "local",
        "--tag",
        "v1",
        "--no-wait",
        "--skip-image-check",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains(
        "registered plain-web:1 (creating service)",
    ));

    let td = aws_at(
        ep,
        &[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            "plain-web",
        ],
    );
    let td = &td["taskDefinition"];
    assert_eq!(td["revision"], 1);
    assert_eq!(td["cpu"], "512", "task sizes are sent in ECS's units");
    assert_eq!(
        td["containerDefinitions"][0]["image"],
        "127.0.0.1:5000/plain/web:v1"
    );
    assert_eq!(
        td["containerDefinitions"][0]["environment"][1]["value"],
        "v1"
    );
    let svc = aws_at(
        ep,
        &[
            "ecs",
            "describe-services",
            "--cluster",
            "plain",
            "--services",
            "web",
        ],
    );
    let svc = &svc["services"][0];
    assert_eq!(svc["taskDefinition"], td["taskDefinitionArn"]);
    assert_eq!(svc["desiredCount"], 3);
    assert_eq!(svc["launchType"], "FARGATE");
    assert_eq!(
        svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"][0],
        subnet.as_str()
    );
    // Plain moto accepts but does not keep deploymentConfiguration (the test bed does;
    // tests/deploy_e2e.rs checks the circuit breaker there).
    let tags = aws_at(
        ep,
        &[
            "ecs",
            "list-tags-for-resource",
            "--resource-arn",
            svc["serviceArn"].as_str().unwrap(),
        ],
    );
    let tags = tags["tags"].to_string();
    assert!(
        tags.contains("platform") && tags.contains("wharf:env"),
        "{tags}"
    );

    // A second deploy of the same tag registers nothing (plain moto forgets the deployment
    // configuration, so wharf sees a settings change and updates the service with the same
    // revision); a new tag registers revision 2 and updates the service in one call.
    wharf(&[
        "deploy",
        "--env",
        "local",
        "--tag",
        "v1",
        "--no-wait",
        "--skip-image-check",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains("registered").not())
    .stderr(predicate::str::contains("plain-web:1"));
    let list = aws_at(
        ep,
        &[
            "ecs",
            "list-task-definitions",
            "--family-prefix",
            "plain-web",
        ],
    );
    assert_eq!(list["taskDefinitionArns"].as_array().unwrap().len(), 1);
    wharf(&[
        "deploy",
        "--env",
        "local",
        "--tag",
        "v2",
        "--no-wait",
        "--skip-image-check",
    ])
    .assert()
    .success();
    let svc = aws_at(
        ep,
        &[
            "ecs",
            "describe-services",
            "--cluster",
            "plain",
            "--services",
            "web",
        ],
    );
    assert!(svc["services"][0]["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with("plain-web:2"));
    let list = aws_at(
        ep,
        &[
            "ecs",
            "list-task-definitions",
            "--family-prefix",
            "plain-web",
        ],
    );
    assert_eq!(list["taskDefinitionArns"].as_array().unwrap().len(), 2);

    // Plain moto never shows a deployment for an update: a deploy that waits keeps watching (it
    // may be DescribeServices' eventual consistency) and ends at its timeout with exit 4 saying
    // the rollout never started, not "another deployment took over" at once.
    wharf(&[
        "deploy",
        "--env",
        "local",
        "--tag",
        "v3",
        "--timeout",
        "6s",
        "--no-rollback",
    ])
    .assert()
    .code(4)
    .stderr(predicate::str::contains("never started"))
    .stderr(predicate::str::contains("took over").not());
}
