//! EC2 capacity end to end on the test bed: an Auto Scaling group whose instances join the
//! cluster, a bridge-mode service with dynamic host ports behind a target group, a deploy that
//! no instance can hold failing at once with the placement reason, and `wharf cluster roll`
//! replacing both instances while the service keeps at least half its tasks RUNNING (checked by
//! the test at every poll), Ctrl-C mid-roll and a rerun finishing it.

use std::time::{Duration, Instant};

use crate::support;

use predicates::prelude::*;
use serde_json::Value;
use support::{aws, testbed_control, unique, Project};

const TOML: &str = r#"app = "{app}"

[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{endpoint}"
registry = "{registry}"
cluster = "{cluster}"

[services.web]
task_definition = "ecs/web.json"
desired_count = 2
launch_type = "EC2"
load_balancers = [{ target_group_arn = "TG", container_name = "web", container_port = 8080 }]
[services.web.deployment]
minimum_healthy_percent = 50
maximum_percent = 100
"#;

fn web(memory: u32) -> String {
    format!(
        r#"{{"family": "{{{{ app }}}}-web", "networkMode": "bridge", "containerDefinitions": [{{
  "name": "web", "image": "scripted/web:1", "essential": true, "cpu": 256, "memory": {memory},
  "portMappings": [{{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}}],
  "environment": [{{"name": "TESTBED_RUN_CONTAINERS", "value": "0"}}]}}]}}"#
    )
}

/// A cluster with an Auto Scaling group of two instances (launch template version 1) that join
/// it, and a target group; returns (project, group name, launch template id, target group).
fn ec2_project() -> (Project, String, String, String) {
    let p = Project::new(&[("ecs/web.json", &web(256))]);
    let ami = aws(&["ec2", "describe-images"])["Images"][0]["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    let user_data = support_b64(&format!(
        "#!/bin/bash\necho ECS_CLUSTER={} >> /etc/ecs/ecs.config\n",
        p.cluster
    ));
    let lt_name = unique("lt");
    let lt = aws(&[
        "ec2",
        "create-launch-template",
        "--launch-template-name",
        &lt_name,
        "--launch-template-data",
        &format!(
            r#"{{"ImageId": "{ami}", "InstanceType": "t3.medium", "UserData": "{user_data}"}}"#
        ),
    ]);
    let lt_id = lt["LaunchTemplate"]["LaunchTemplateId"]
        .as_str()
        .unwrap()
        .to_string();
    let group = unique("asg");
    aws(&[
        "autoscaling",
        "create-auto-scaling-group",
        "--auto-scaling-group-name",
        &group,
        "--launch-template",
        &format!(r#"{{"LaunchTemplateId": "{lt_id}", "Version": "1"}}"#),
        "--min-size",
        "0",
        "--max-size",
        "4",
        "--desired-capacity",
        "2",
        "--availability-zones",
        "us-east-1a",
    ]);
    let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.7.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let tg = aws(&[
        "elbv2",
        "create-target-group",
        "--name",
        &unique("tg"),
        "--protocol",
        "HTTP",
        "--port",
        "80",
        "--vpc-id",
        &vpc,
        "--target-type",
        "instance",
    ])["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    p.write("wharf.toml", &TOML.replace("TG", &tg));
    wait(Duration::from_secs(30), "both instances registered", || {
        instances(&p).len() == 2
    });
    (p, group, lt_id, tg)
}

fn support_b64(s: &str) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn instances(p: &Project) -> Vec<Value> {
    let arns = aws(&["ecs", "list-container-instances", "--cluster", &p.cluster]);
    let arns: Vec<&str> = arns["containerInstanceArns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if arns.is_empty() {
        return vec![];
    }
    let mut args = vec![
        "ecs",
        "describe-container-instances",
        "--cluster",
        &p.cluster,
        "--container-instances",
    ];
    args.extend(arns.iter().copied());
    aws(&args)["containerInstances"].as_array().unwrap().clone()
}

fn wait(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn running_web(p: &Project) -> usize {
    let arns = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        &p.cluster,
        "--service-name",
        "web",
    ]);
    let arns: Vec<&str> = arns["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if arns.is_empty() {
        return 0;
    }
    let mut args = vec!["ecs", "describe-tasks", "--cluster", &p.cluster, "--tasks"];
    args.extend(arns.iter().copied());
    aws(&args)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .count()
}

#[test]
fn bridge_service_on_two_instances_then_an_unplaceable_deploy_fails_at_once() {
    let (p, _, _, tg) = ec2_project();
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    let tasks = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &p.cluster,
        "--tasks",
        aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            &p.cluster,
            "--service-name",
            "web",
        ])["taskArns"][0]
            .as_str()
            .unwrap(),
        aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            &p.cluster,
            "--service-name",
            "web",
        ])["taskArns"][1]
            .as_str()
            .unwrap(),
    ]);
    let tasks = tasks["tasks"].as_array().unwrap();
    let on: std::collections::HashSet<&str> = tasks
        .iter()
        .map(|t| t["containerInstanceArn"].as_str().unwrap())
        .collect();
    assert_eq!(on.len(), 2, "one task per instance");
    let by_ci: std::collections::HashMap<String, String> = instances(&p)
        .iter()
        .map(|c| {
            (
                c["containerInstanceArn"].as_str().unwrap().to_string(),
                c["ec2InstanceId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want: Vec<(String, i64)> = tasks
        .iter()
        .map(|t| {
            let port = t["containers"][0]["networkBindings"][0]["hostPort"]
                .as_i64()
                .unwrap();
            assert!((32768..=65535).contains(&port), "dynamic host port: {port}");
            (
                by_ci[t["containerInstanceArn"].as_str().unwrap()].clone(),
                port,
            )
        })
        .collect();
    want.sort();
    let mut got: Vec<(String, i64)> = Vec::new();
    wait(Duration::from_secs(20), "two targets", || {
        let h = aws(&["elbv2", "describe-target-health", "--target-group-arn", &tg]);
        got = h["TargetHealthDescriptions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["Target"]["Id"].as_str().unwrap().to_string(),
                    d["Target"]["Port"].as_i64().unwrap(),
                )
            })
            .collect();
        got.sort();
        got.len() == 2
    });
    assert_eq!(got, want, "targets are (instance id, host port)");
    p.wharf()
        .args(["status", "--env", "local"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("instance  i-")
                .and(predicate::str::contains("memory 3840/4096 MiB free")),
        );

    p.write("ecs/web.json", &web(6000));
    let start = Instant::now();
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2", "--timeout", "3m"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("tasks cannot be placed").and(predicate::str::contains(
                "it reserves 6000 MiB of memory, but the largest instance registers 4096 MiB",
            )),
        )
        .stderr(predicate::str::contains(
            "has insufficient memory available",
        ));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "failed within seconds, not at the timeout: {:?}",
        start.elapsed()
    );
}

/// Host network mode: the container's port is the instance's, so two tasks of a service sit on
/// two instances, and a rolling deploy at 50 % replaces them one at a time (an old task stops
/// and frees the port before its replacement can start).
#[test]
fn host_mode_service_takes_the_port_on_each_instance_and_rolls_one_at_a_time() {
    let (p, _, _, _) = ec2_project();
    let host = web(256)
        .replace(r#""networkMode": "bridge""#, r#""networkMode": "host""#)
        .replace(r#""hostPort": 0"#, r#""hostPort": 8080"#);
    p.write("ecs/web.json", &host);
    // No load balancer: in host mode the targets would be (instance, 8080); the point here is
    // the port as a resource.
    let toml = std::fs::read_to_string(p.path().join("wharf.toml")).unwrap();
    let toml: String = toml
        .lines()
        .filter(|l| !l.starts_with("load_balancers"))
        .map(|l| format!("{l}\n"))
        .collect();
    p.write("wharf.toml", &toml);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    let placed = |p: &Project| -> Vec<(String, i64)> {
        let arns = aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            &p.cluster,
            "--service-name",
            "web",
            "--desired-status",
            "RUNNING",
        ]);
        let arns: Vec<String> = arns["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let mut args = vec!["ecs", "describe-tasks", "--cluster", &p.cluster, "--tasks"];
        args.extend(arns.iter().map(String::as_str));
        aws(&args)["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["containerInstanceArn"].as_str().unwrap().to_string(),
                    t["containers"][0]["networkBindings"][0]["hostPort"]
                        .as_i64()
                        .unwrap(),
                )
            })
            .collect()
    };
    let tasks = placed(&p);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|(_, port)| *port == 8080), "{tasks:?}");
    assert_ne!(tasks[0].0, tasks[1].0, "one task per instance: {tasks:?}");
    // A new revision rolls at minimumHealthyPercent 50: one old task stops, its port frees, the
    // new one takes it.
    p.write(
        "ecs/web.json",
        &host.replace(
            r#""value": "0""#,
            r#""value": "0"}, {"name": "REVISION", "value": "2""#,
        ),
    );
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    assert_eq!(placed(&p).len(), 2);
    let tasks = placed(&p);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_ne!(
        tasks[0].0, tasks[1].0,
        "still one task per instance: {tasks:?}"
    );
    // A third task has no instance with port 8080 free: only the count changes (ECS starts no
    // deployment, its PRIMARY one stays COMPLETED), and the deploy fails at once with the
    // placement reason and puts the count back.
    let toml = std::fs::read_to_string(p.path().join("wharf.toml")).unwrap();
    p.write(
        "wharf.toml",
        &toml.replace("desired_count = 2", "desired_count = 3"),
    );
    let started = Instant::now();
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "is already using a port required by your task",
        ))
        .stderr(predicate::str::contains(
            "3 tasks of ",
        ))
        .stderr(predicate::str::contains(
            "each takes host port 8080/tcp on its instance, and the cluster has 2 ACTIVE container instances: at most 2 can run",
        ))
        .stderr(predicate::str::contains("rolling back to desired count 2"))
        .stderr(predicate::str::contains("failed ").and(predicate::str::contains("(rolled back to ")));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "detected at once, not at the timeout: {:?}",
        started.elapsed()
    );
    // Put back as it was: two tasks wanted, two running, one per instance.
    let svc = p.service("web");
    assert_eq!(svc["desiredCount"], 2, "{svc}");
    assert_eq!(placed(&p).len(), 2);
}

#[test]
fn cluster_roll_replaces_both_instances_keeping_half_the_tasks_and_resumes_after_ctrl_c() {
    let _alone = support::alone();
    testbed_control(
        "POST",
        "/_testbed/config",
        Some(r#"{"instance_boot_seconds": 1.0}"#),
    );
    let (p, group, lt_id, _) = ec2_project();
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    let old: Vec<String> = instances(&p)
        .iter()
        .map(|c| c["ec2InstanceId"].as_str().unwrap().to_string())
        .collect();
    let other = aws(&["ec2", "describe-images"])["Images"][1]["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    let ud = support_b64(&format!(
        "#!/bin/bash\necho ECS_CLUSTER={} >> /etc/ecs/ecs.config\n",
        p.cluster
    ));
    aws(&[
        "ec2",
        "create-launch-template-version",
        "--launch-template-id",
        &lt_id,
        "--launch-template-data",
        &format!(r#"{{"ImageId": "{other}", "InstanceType": "t3.medium", "UserData": "{ud}"}}"#),
    ]);

    p.wharf()
        .args([
            "cluster",
            "roll",
            "--env",
            "local",
            "--replace-with",
            "2",
            "--dry-run",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("batch 1/2").and(predicate::str::contains("batch 2/2")));

    // Ctrl-C once the first batch drains; the test watches the service meanwhile.
    const ROLL: &[&str] = &[
        "cluster",
        "roll",
        "--env",
        "local",
        "--replace-with",
        "2",
        "--timeout",
        "2m",
    ];
    let mut child = spawn(&p, ROLL);
    let mut low = 2;
    let start = Instant::now();
    loop {
        low = low.min(running_web(&p));
        let now = instances(&p);
        let draining = now.iter().any(|c| c["status"] == "DRAINING");
        let replaced = now
            .iter()
            .any(|c| !old.contains(&c["ec2InstanceId"].as_str().unwrap().to_string()));
        if draining || replaced {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the roll never started"
        );
    }
    std::thread::sleep(Duration::from_millis(300));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        instances(&p).iter().all(|c| c["status"] == "ACTIVE"),
        "nothing left DRAINING after Ctrl-C"
    );

    let mut child = spawn(&p, ROLL);
    loop {
        low = low.min(running_web(&p));
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the rerun finished the roll");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the roll took too long"
        );
    }
    assert!(
        low >= 1,
        "the service kept at least half its tasks RUNNING at every poll"
    );
    let now = instances(&p);
    assert_eq!(now.len(), 2);
    for c in &now {
        assert!(
            !old.contains(&c["ec2InstanceId"].as_str().unwrap().to_string()),
            "replaced"
        );
        let ami = c["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "ecs.ami-id")
            .unwrap();
        assert_eq!(ami["value"].as_str().unwrap(), other);
    }
    let g = aws(&[
        "autoscaling",
        "describe-auto-scaling-groups",
        "--auto-scaling-group-names",
        &group,
    ]);
    assert_eq!(g["AutoScalingGroups"][0]["DesiredCapacity"], 2);
    wait(Duration::from_secs(30), "two tasks running again", || {
        running_web(&p) == 2
    });
    testbed_control("DELETE", "/_testbed/config", None);
}

fn spawn(p: &Project, args: &[&str]) -> std::process::Child {
    support::wharf_command()
        .args(args)
        .current_dir(p.path())
        .envs(support::aws_env())
        .spawn()
        .unwrap()
}

const CP_TOML: &str = r#"app = "{app}"

[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{endpoint}"
registry = "{registry}"
cluster = "{cluster}"

[services.web]
task_definition = "ecs/web.json"
desired_count = 3
capacity_providers = [{ provider = "CP", weight = 1 }]
[services.web.deployment]
minimum_healthy_percent = 0
maximum_percent = 100
"#;

/// A cluster whose capacity provider (managed scaling on, target 100 %, managed termination
/// protection) has an Auto Scaling group of t3.medium instances (4096 MiB) that join it, one
/// running now and at most `max` of them; the service needs 3000 MiB a task, so one task an
/// instance. Returns (project, group name).
fn managed_scaling_project(max: u32) -> (Project, String) {
    let p = Project::new(&[("ecs/web.json", &web(3000))]);
    let ami = aws(&["ec2", "describe-images"])["Images"][0]["ImageId"]
        .as_str()
        .unwrap()
        .to_string();
    let user_data = support_b64(&format!(
        "#!/bin/bash\necho ECS_CLUSTER={} >> /etc/ecs/ecs.config\n",
        p.cluster
    ));
    let lt = aws(&[
        "ec2",
        "create-launch-template",
        "--launch-template-name",
        &unique("lt"),
        "--launch-template-data",
        &format!(
            r#"{{"ImageId": "{ami}", "InstanceType": "t3.medium", "UserData": "{user_data}"}}"#
        ),
    ]);
    let lt_id = lt["LaunchTemplate"]["LaunchTemplateId"].as_str().unwrap();
    let group = unique("asg");
    aws(&[
        "autoscaling",
        "create-auto-scaling-group",
        "--auto-scaling-group-name",
        &group,
        "--launch-template",
        &format!(r#"{{"LaunchTemplateId": "{lt_id}", "Version": "1"}}"#),
        "--min-size",
        "0",
        "--max-size",
        &max.to_string(),
        "--desired-capacity",
        "1",
        "--availability-zones",
        "us-east-1a",
    ]);
    let group_arn = aws(&[
        "autoscaling",
        "describe-auto-scaling-groups",
        "--auto-scaling-group-names",
        &group,
    ])["AutoScalingGroups"][0]["AutoScalingGroupARN"]
        .as_str()
        .unwrap()
        .to_string();
    let cp = unique("cp");
    aws(&[
        "ecs",
        "create-capacity-provider",
        "--name",
        &cp,
        "--auto-scaling-group-provider",
        &format!(
            r#"{{"autoScalingGroupArn": "{group_arn}", "managedTerminationProtection": "ENABLED",
                "managedScaling": {{"status": "ENABLED", "targetCapacity": 100}}}}"#
        ),
    ]);
    aws(&[
        "ecs",
        "put-cluster-capacity-providers",
        "--cluster",
        &p.cluster,
        "--capacity-providers",
        &cp,
        "--default-capacity-provider-strategy",
        &format!(r#"[{{"capacityProvider": "{cp}", "weight": 1}}]"#),
    ]);
    p.write("wharf.toml", &CP_TOML.replace("CP", &cp));
    wait(
        Duration::from_secs(30),
        "the first instance registered",
        || instances(&p).len() == 1,
    );
    (p, group)
}

fn desired_capacity(group: &str) -> i64 {
    aws(&[
        "autoscaling",
        "describe-auto-scaling-groups",
        "--auto-scaling-group-names",
        group,
    ])["AutoScalingGroups"][0]["DesiredCapacity"]
        .as_i64()
        .unwrap()
}

/// Three tasks, one instance: two tasks wait in PROVISIONING (not a placement failure), managed
/// scaling grows the group to three, the new instances join, the tasks run, the deploy succeeds.
#[test]
fn managed_scaling_grows_the_group_while_the_deploy_waits() {
    let (p, group) = managed_scaling_project(4);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success();
    assert_eq!(running_web(&p), 3);
    assert_eq!(desired_capacity(&group), 3, "the group grew by two");
    assert_eq!(instances(&p).len(), 3);
}

/// The group is at its maximum (one instance): the waiting tasks stop when their provisioning
/// times out (the knob makes that seconds), the circuit breaker stops the deployment, and wharf
/// names the stopped reason, well before its own timeout.
#[test]
fn at_the_groups_maximum_the_deploy_fails_with_the_provisioning_reason() {
    let _alone = support::alone();
    testbed_control(
        "POST",
        "/_testbed/config",
        Some(r#"{"capacity_provisioning_timeout_seconds": 3.0}"#),
    );
    let (p, group) = managed_scaling_project(1);
    let start = Instant::now();
    let out = p
        .wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "5m"])
        .output()
        .unwrap();
    testbed_control("DELETE", "/_testbed/config", None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("TaskFailedToStart: EMPTY CAPACITY PROVIDER (the task waited in PROVISIONING for an instance of capacity provider"),
        "names the stopped reason and what it means: {stderr}"
    );
    assert!(
        !stderr.contains("timed out"),
        "not a bare timeout: {stderr}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "failed on the circuit breaker, not at the timeout: {:?}",
        start.elapsed()
    );
    assert_eq!(desired_capacity(&group), 1);
}
