//! Blue/green, linear and canary deploys end to end on the test bed (docs/deploy.md,
//! "Deployment strategies"): wharf follows the service deployment stage by stage, and the
//! AWS CLI (ELBv2 listener rules, DescribeServiceDeployments) and the test bed's hook record
//! judge what ECS did. Minutes last a second here (`strategy_minute_seconds`).

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

use crate::support::{self, aws, task_definition, unique, Project, WHARF_TOML};

const ROLE: &str = "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers";
const HOOK_ROLE: &str = "arn:aws:iam::123456789012:role/ecs-lambda-invoke";

/// A minute of bake time lasts a second. Every test here sets the same value and none resets
/// it: the knob only changes blue/green, linear and canary deployments, which only these tests
/// make, so they may run side by side.
fn fast_minutes() {
    support::testbed_control(
        "POST",
        "/_testbed/config",
        Some(r#"{"strategy_minute_seconds": 1.0}"#),
    );
}

/// An Application Load Balancer with two target groups, a production listener (port 80) and a
/// test listener (port 8080), each with a rule forwarding to the first group.
struct Alb {
    blue: String,
    green: String,
    prod: String,
    test: String,
}

fn alb() -> Alb {
    let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.20.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnets: Vec<String> = [
        ("10.20.1.0/24", "us-east-1a"),
        ("10.20.2.0/24", "us-east-1b"),
    ]
    .iter()
    .map(|(cidr, az)| {
        aws(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            cidr,
            "--availability-zone",
            az,
        ])["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_string()
    })
    .collect();
    let short = |p: &str| {
        let u = unique(p);
        u[u.len().saturating_sub(30)..]
            .trim_start_matches('-')
            .to_string()
    };
    let mut args = vec!["elbv2", "create-load-balancer", "--name"];
    let name = short("lb");
    args.push(&name);
    args.push("--subnets");
    args.extend(subnets.iter().map(String::as_str));
    let lb = aws(&args)["LoadBalancers"][0]["LoadBalancerArn"]
        .as_str()
        .unwrap()
        .to_string();
    let tg = |p: &str| {
        aws(&[
            "elbv2",
            "create-target-group",
            "--name",
            &short(p),
            "--protocol",
            "HTTP",
            "--port",
            "8080",
            "--vpc-id",
            &vpc,
            "--target-type",
            "ip",
        ])["TargetGroups"][0]["TargetGroupArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (blue, green) = (tg("b"), tg("g"));
    let forward = format!(r#"[{{"Type": "forward", "TargetGroupArn": "{blue}"}}]"#);
    let rule = |port: &str| {
        let listener = aws(&[
            "elbv2",
            "create-listener",
            "--load-balancer-arn",
            &lb,
            "--protocol",
            "HTTP",
            "--port",
            port,
            "--default-actions",
            &forward,
        ])["Listeners"][0]["ListenerArn"]
            .as_str()
            .unwrap()
            .to_string();
        aws(&[
            "elbv2",
            "create-rule",
            "--listener-arn",
            &listener,
            "--priority",
            "1",
            "--conditions",
            r#"[{"Field": "path-pattern", "Values": ["/*"]}]"#,
            "--actions",
            &forward,
        ])["Rules"][0]["RuleArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let prod = rule("80");
    let test = rule("8080");
    Alb {
        blue,
        green,
        prod,
        test,
    }
}

/// Percent of `rule`'s traffic that goes to `group`, as `aws elbv2 describe-rules` shows it.
fn share(rule: &str, group: &str) -> f64 {
    let rules = aws(&["elbv2", "describe-rules", "--rule-arns", rule]);
    let forward = rules["Rules"][0]["Actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Type"] == "forward")
        .cloned()
        .expect("a forward action");
    let groups: Vec<(String, f64)> = match forward["ForwardConfig"]["TargetGroups"].as_array() {
        Some(tgs) => tgs
            .iter()
            .map(|t| {
                (
                    t["TargetGroupArn"].as_str().unwrap().to_string(),
                    t["Weight"].as_f64().unwrap_or(1.0),
                )
            })
            .collect(),
        None => vec![(forward["TargetGroupArn"].as_str().unwrap().to_string(), 1.0)],
    };
    let total: f64 = groups.iter().map(|(_, w)| w).sum();
    let mine: f64 = groups
        .iter()
        .filter(|(g, _)| g == group)
        .map(|(_, w)| w)
        .sum();
    if total == 0.0 {
        0.0
    } else {
        (1000.0 * mine / total).round() / 10.0
    }
}

/// [`share`] for sampling while a deploy runs: the same DescribeRules, sent to the test bed as
/// one HTTP request (about 0.1 s, where the AWS CLI takes a second or more on a busy machine and
/// would miss a step).
fn sampled_share(rule: &str, group: &str) -> f64 {
    let out = std::process::Command::new("curl")
        .args(["-sf", "-X", "POST", &format!("{}/", support::endpoint())])
        .args([
            "-H",
            "Authorization: AWS4-HMAC-SHA256 Credential=testing/20261206/us-east-1/elasticloadbalancing/aws4_request, SignedHeaders=host, Signature=0",
        ])
        .args(["--data-urlencode", "Action=DescribeRules"])
        .args(["--data-urlencode", "Version=2015-12-01"])
        .args(["--data-urlencode", &format!("RuleArns.member.1={rule}")])
        .output()
        .expect("curl runs");
    let xml = String::from_utf8_lossy(&out.stdout);
    let tag = |text: &str, name: &str| -> Option<String> {
        let start = text.find(&format!("<{name}>"))? + name.len() + 2;
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_string())
    };
    let Some(groups) = tag(&xml, "TargetGroups") else {
        // A plain forward: all to its one group.
        return if tag(&xml, "TargetGroupArn").as_deref() == Some(group) {
            100.0
        } else {
            0.0
        };
    };
    let weights: Vec<(String, f64)> = groups
        .split("<member>")
        .filter_map(|m| {
            Some((
                tag(m, "TargetGroupArn")?,
                tag(m, "Weight")?.parse::<f64>().ok()?,
            ))
        })
        .collect();
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    let mine: f64 = weights
        .iter()
        .filter(|(g, _)| g == group)
        .map(|(_, w)| w)
        .sum();
    if total == 0.0 {
        0.0
    } else {
        (1000.0 * mine / total).round() / 10.0
    }
}

const SERVE: &str = r#"["sh", "-c", "echo serving; while true; do sleep 1; done"]"#;
const CRASH: &str = r#"["sh", "-c", "echo boom; exit 3"]"#;
const PORTS: &str = r#",
    "portMappings": [{"containerPort": 8080}]"#;

/// A project whose service `web` deploys with `deployment` (the body of its
/// `[services.web.deployment]` table, and anything after it) behind `alb`; `{command}` in the
/// task definition is a template variable so a deploy can make the new revision crash.
fn project(alb: &Alb, deployment: &str) -> Project {
    let toml = format!(
        r#"{WHARF_TOML}
[services.web]
task_definition = "ecs/web.json"
desired_count = 2

[[services.web.load_balancers]]
target_group_arn = "{blue}"
container_name = "main"
container_port = 8080
alternate_target_group_arn = "{green}"
production_listener_rule = "{prod}"
test_listener_rule = "{test}"
role_arn = "{ROLE}"

[services.web.deployment]
{deployment}
"#,
        blue = alb.blue,
        green = alb.green,
        prod = alb.prod,
        test = alb.test,
    );
    let td = task_definition("web", "COMMAND", PORTS).replace(
        "\"command\": COMMAND",
        "\"command\": {% if tag == \"crash\" %}CRASH{% else %}SERVE{% endif %}",
    );
    let td = td.replace("CRASH", CRASH).replace("SERVE", SERVE);
    Project::new(&[("wharf.toml", &toml), ("ecs/web.json", &td)])
}

fn deploy(p: &Project, tag: &str) -> assert_cmd::assert::Assert {
    p.wharf()
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            tag,
            "--timeout",
            "2m",
            "--output",
            "json",
        ])
        .assert()
}

fn json_of(assert: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&assert.get_output().stdout).expect("wharf prints JSON")
}

fn stages_of(result: &Value) -> Vec<String> {
    result["services"][0]["service_deployment"]["stages"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s["stage"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The newest service deployment of `web`, as the AWS CLI describes it.
fn newest_deployment(p: &Project) -> Value {
    let listed = aws(&[
        "ecs",
        "list-service-deployments",
        "--cluster",
        &p.cluster,
        "--service",
        "web",
    ]);
    let mut briefs = listed["serviceDeployments"].as_array().unwrap().clone();
    briefs.sort_by(|a, b| {
        b["createdAt"]
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&a["createdAt"].as_f64().unwrap_or(0.0))
    });
    let arn = briefs[0]["serviceDeploymentArn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "ecs",
        "describe-service-deployments",
        "--service-deployment-arns",
        &arn,
    ])["serviceDeployments"][0]
        .clone()
}

/// Runs `wharf deploy --tag TAG` in the background and samples the production rule's share
/// of `group` until it ends; returns the distinct shares in order, with when each was first
/// and last seen, and wharf's exit status and stdout.
fn deploy_sampling(
    p: &Project,
    tag: &str,
    rule: &str,
    group: &str,
) -> (Vec<(f64, Instant, Instant)>, bool, Value) {
    let mut child = support::wharf_command()
        .current_dir(p.path())
        .envs(support::aws_env())
        .env_remove("WHARF_ENV")
        .args([
            "deploy",
            "--env",
            "local",
            "--tag",
            tag,
            "--timeout",
            "2m",
            "--output",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("wharf starts");
    let mut seen: Vec<(f64, Instant, Instant)> = Vec::new();
    loop {
        let now = Instant::now();
        let s = sampled_share(rule, group);
        match seen.last_mut() {
            Some(last) if last.0 == s => last.2 = now,
            _ => seen.push((s, now, now)),
        }
        if child.try_wait().expect("wharf runs").is_some() {
            break;
        }
    }
    let status = child.wait().expect("wharf ends");
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (
        seen,
        status.success(),
        serde_json::from_str(&out).unwrap_or(Value::Null),
    )
}

#[test]
fn blue_green_moves_all_traffic_to_green_after_the_test_traffic_smoke_test_passed() {
    fast_minutes();
    let alb = alb();
    // The smoke test's server: it answers 200 and records the production rule's share of the
    // green target group at the moment it is asked.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let asked: Arc<Mutex<Vec<f64>>> = Arc::default();
    {
        let asked = asked.clone();
        let (prod, green) = (alb.prod.clone(), alb.green.clone());
        std::thread::spawn(move || {
            for stream in server.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                asked.lock().unwrap().push(sampled_share(&prod, &green));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
    }
    let p = project(
        &alb,
        &format!(
            "strategy = \"blue_green\"\nbake_time = 2\n\n[services.web.smoke]\nurl = \"http://127.0.0.1:{port}/\"\ntest_url = \"http://127.0.0.1:{port}/health\"\ntimeout = \"5s\"\n"
        ),
    );
    let first = deploy(&p, "v1").success();
    // The first deployment has no blue: its tasks take the production group, nothing shifts.
    assert_eq!(json_of(&first)["services"][0]["outcome"], "deployed");
    assert_eq!(share(&alb.prod, &alb.blue), 100.0);

    let second = deploy(&p, "v2").success();
    let result = json_of(&second);
    let stderr = String::from_utf8_lossy(&second.get_output().stderr).to_string();
    assert_eq!(result["services"][0]["outcome"], "deployed", "{stderr}");
    let stages = stages_of(&result);
    for stage in [
        "SCALE_UP",
        "TEST_TRAFFIC_SHIFT",
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE_TIME",
        "CLEAN_UP",
    ] {
        assert!(stages.contains(&stage.to_string()), "{stage} in {stages:?}");
        assert!(
            stderr.contains(&format!("web: stage {stage}")),
            "{stage} shown: {stderr}"
        );
    }
    assert!(
        stderr.contains("smoke test on test traffic passed"),
        "{stderr}"
    );
    let hooks = &result["services"][0]["service_deployment"]["hooks"];
    assert_eq!(hooks[0]["stage"], "POST_TEST_TRAFFIC_SHIFT", "{hooks}");
    assert_eq!(hooks[0]["status"], "SUCCEEDED", "{hooks}");
    assert!(stderr.contains("production traffic: "), "{stderr}");
    assert!(stderr.contains("(both revisions run 2 min"), "{stderr}");
    // Judged by the AWS CLI: the smoke test ran on test traffic before production moved, and
    // production ended all on green with blue drained.
    let during = asked.lock().unwrap().clone();
    assert!(!during.is_empty(), "the smoke test asked the test URL");
    assert!(
        during.iter().all(|s| *s == 0.0),
        "no production traffic on green while the smoke test ran: {during:?}"
    );
    assert_eq!(share(&alb.prod, &alb.green), 100.0);
    assert_eq!(share(&alb.test, &alb.green), 100.0);
    let sd = newest_deployment(&p);
    assert_eq!(sd["status"], "SUCCESSFUL");
    let blue_targets = aws(&[
        "elbv2",
        "describe-target-health",
        "--target-group-arn",
        &alb.blue,
    ]);
    assert_eq!(
        blue_targets["TargetHealthDescriptions"]
            .as_array()
            .map_or(0, Vec::len),
        0,
        "blue drained: {blue_targets}"
    );
}

#[test]
fn linear_shifts_production_traffic_in_its_steps() {
    fast_minutes();
    let alb = alb();
    let p = project(
        &alb,
        "strategy = \"linear\"\nbake_time = 0\n\n[services.web.deployment.linear]\nstep_percent = 25.0\nstep_bake_time = 4\n",
    );
    deploy(&p, "v1").success();
    let (seen, ok, result) = deploy_sampling(&p, "v2", &alb.prod, &alb.green);
    assert!(ok, "the deploy succeeded: {result}");
    let shares: Vec<f64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(
        shares,
        vec![0.0, 25.0, 50.0, 75.0, 100.0],
        "production moved in steps of 25 %"
    );
    assert_eq!(
        result["services"][0]["service_deployment"]["status"],
        "SUCCESSFUL"
    );
}

#[test]
fn canary_holds_at_its_percent_for_its_bake_time() {
    fast_minutes();
    let alb = alb();
    let p = project(
        &alb,
        "strategy = \"canary\"\nbake_time = 0\n\n[services.web.deployment.canary]\npercent = 10.0\nbake_time = 10\n",
    );
    deploy(&p, "v1").success();
    let (seen, ok, result) = deploy_sampling(&p, "v2", &alb.prod, &alb.green);
    assert!(ok, "the deploy succeeded: {result}");
    let shares: Vec<f64> = seen.iter().map(|s| s.0).collect();
    assert_eq!(shares, vec![0.0, 10.0, 100.0]);
    let (_, first, last) = seen[1];
    assert!(
        last - first >= Duration::from_secs(6),
        "the canary held 10 % through its 10 s bake time (seen for {:?})",
        last - first
    );
}

#[test]
fn a_hook_failing_after_test_traffic_rolls_back_with_production_never_moved() {
    fast_minutes();
    let alb = alb();
    let function = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        unique("check").replace('-', "_")
    );
    // The first deployment's invocation succeeds, every later one fails.
    support::testbed_control(
        "POST",
        "/_testbed/hooks",
        Some(&format!(
            r#"{{"hookTargetArn": "{function}", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
                "answers": [{{"hookStatus": "SUCCEEDED"}}, {{"hookStatus": "FAILED"}}]}}"#
        )),
    );
    let p = project(
        &alb,
        &format!(
            "strategy = \"blue_green\"\nbake_time = 1\n\n[[services.web.deployment.hooks]]\nlambda = \"{function}\"\nrole_arn = \"{HOOK_ROLE}\"\nstages = [\"POST_TEST_TRAFFIC_SHIFT\"]\n"
        ),
    );
    deploy(&p, "v1").success();
    let failed = deploy(&p, "v2").code(1);
    let result = json_of(&failed);
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    let service = &result["services"][0];
    assert_eq!(service["outcome"], "failed", "{stderr}");
    let reason = service["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service deployment ROLLBACK_SUCCESSFUL at POST_TEST_TRAFFIC_SHIFT"),
        "{reason}"
    );
    assert!(
        reason.contains("answered FAILED"),
        "the hook's answer: {reason}"
    );
    assert_eq!(
        service["rolled_back_to"],
        format!("{}-web:1", p.app),
        "{result}"
    );
    assert!(!stages_of(&result).contains(&"PRODUCTION_TRAFFIC_SHIFT".to_string()));
    assert!(
        stderr.contains("service deployment ROLLBACK_IN_PROGRESS"),
        "{stderr}"
    );
    // Judged by the AWS CLI and the hook record: production never moved.
    assert_eq!(share(&alb.prod, &alb.blue), 100.0);
    assert_eq!(newest_deployment(&p)["status"], "ROLLBACK_SUCCESSFUL");
    let record: Value = serde_json::from_slice(
        &std::process::Command::new("curl")
            .args(["-sf", &format!("{}/_testbed/hooks", support::endpoint())])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let ours: Vec<&Value> = record["invocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["hookTargetArn"] == function.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "one invocation per deployment");
    let weights = ours[1]["payload"]["productionTrafficWeights"]
        .as_object()
        .unwrap();
    assert!(
        weights.values().any(|w| w.as_f64() == Some(100.0))
            && weights.values().any(|w| w.as_f64() == Some(0.0)),
        "all production traffic on blue when the hook ran: {weights:?}"
    );
}

#[test]
fn a_crashing_green_trips_the_circuit_breaker_and_ecs_rolls_back() {
    fast_minutes();
    let alb = alb();
    let p = project(&alb, "strategy = \"blue_green\"\nbake_time = 1\n");
    deploy(&p, "v1").success();
    let failed = deploy(&p, "crash").code(1);
    let result = json_of(&failed);
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    let service = &result["services"][0];
    let reason = service["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service deployment ROLLBACK_SUCCESSFUL at SCALE_UP"),
        "{reason}\n{stderr}"
    );
    // The diagnosis of a rolling deploy: the crashed tasks, their exit codes.
    assert!(
        service["diagnosis"]["containers"]
            .to_string()
            .contains("exit code 3"),
        "{}",
        service["diagnosis"]
    );
    assert_eq!(service["rolled_back_to"], format!("{}-web:1", p.app));
    let sd = newest_deployment(&p);
    assert_eq!(sd["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(sd["deploymentCircuitBreaker"]["status"], "TRIGGERED");
    assert_eq!(share(&alb.prod, &alb.blue), 100.0);
}

#[test]
fn rollback_during_the_bake_returns_all_traffic_to_blue() {
    fast_minutes();
    let alb = alb();
    let p = project(&alb, "strategy = \"blue_green\"\nbake_time = 0\n");
    deploy(&p, "v1").success();
    // v2 bakes for 2 minutes (seconds here); it is left to ECS and caught in its bake.
    let toml = std::fs::read_to_string(p.path().join("wharf.toml")).unwrap();
    p.write(
        "wharf.toml",
        &toml.replace("bake_time = 0", "bake_time = 120"),
    );
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2", "--no-wait"])
        .assert()
        .success();
    let started = Instant::now();
    loop {
        let sd = newest_deployment(&p);
        if sd["lifecycleStage"] == "BAKE_TIME" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "v2 reaches BAKE_TIME: {sd}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        share(&alb.prod, &alb.green),
        100.0,
        "green serves during the bake"
    );
    p.wharf()
        .args(["rollback", "--env", "local", "web", "--timeout", "1m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("with ROLLBACK"))
        .stderr(predicate::str::contains(
            "service deployment ROLLBACK_SUCCESSFUL",
        ));
    assert_eq!(share(&alb.prod, &alb.blue), 100.0);
    assert_eq!(share(&alb.test, &alb.blue), 100.0);
    let sd = newest_deployment(&p);
    assert_eq!(sd["status"], "ROLLBACK_SUCCESSFUL");
    assert_eq!(sd["lifecycleStage"], "BAKE_TIME");
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}

#[test]
fn a_failing_smoke_test_on_test_traffic_shifts_nothing() {
    fast_minutes();
    let alb = alb();
    // Nothing listens on this port: the smoke test fails.
    let closed = support::free_port();
    let p = project(
        &alb,
        &format!(
            "strategy = \"blue_green\"\nbake_time = 1\n\n[services.web.smoke]\nurl = \"http://127.0.0.1:{closed}/\"\ntest_url = \"http://127.0.0.1:{closed}/health\"\ntimeout = \"2s\"\n"
        ),
    );
    // The first deployment has no test traffic to move (no blue), and its smoke test is not
    // asked: there is a pause hook all the same, so wharf's answer is needed then too. Answer
    // it here by letting a server answer the first deploy's smoke test.
    let server = std::net::TcpListener::bind(("127.0.0.1", closed)).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let serving = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            server.set_nonblocking(true).unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok((mut s, _)) = server.accept() {
                    let mut buf = [0u8; 1024];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    deploy(&p, "v1").success();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    serving.join().unwrap();

    let failed = deploy(&p, "v2").code(1);
    let result = json_of(&failed);
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).to_string();
    let reason = result["services"][0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("service deployment ROLLBACK_SUCCESSFUL at POST_TEST_TRAFFIC_SHIFT: the smoke test on test traffic failed: GET http://127.0.0.1:"),
        "{reason}\n{stderr}"
    );
    assert!(
        stderr.contains("smoke test on test traffic FAILED"),
        "{stderr}"
    );
    assert!(!stages_of(&result).contains(&"PRODUCTION_TRAFFIC_SHIFT".to_string()));
    // Judged by the AWS CLI: production never left blue, test traffic went back to it.
    assert_eq!(share(&alb.prod, &alb.blue), 100.0);
    assert_eq!(share(&alb.test, &alb.blue), 100.0);
    assert_eq!(newest_deployment(&p)["status"], "ROLLBACK_SUCCESSFUL");
    assert!(p.service("web")["taskDefinition"]
        .as_str()
        .unwrap()
        .ends_with(":1"));
}

#[test]
fn wait_answers_the_smoke_test_of_a_deploy_left_with_no_wait() {
    fast_minutes();
    let alb = alb();
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let asked = asked.clone();
        std::thread::spawn(move || {
            for stream in server.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                );
            }
        });
    }
    let p = project(
        &alb,
        &format!(
            "strategy = \"blue_green\"\nbake_time = 0\n\n[services.web.smoke]\nurl = \"http://127.0.0.1:{port}/\"\ntest_url = \"http://127.0.0.1:{port}/health\"\ntimeout = \"5s\"\n"
        ),
    );
    deploy(&p, "v1").success();
    let before = asked.load(std::sync::atomic::Ordering::SeqCst);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2", "--no-wait"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "its smoke test on test traffic runs only while wharf watches",
        ));
    p.wharf()
        .args(["wait", "--env", "local", "--timeout", "1m"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "smoke test on test traffic passed",
        ))
        .stderr(predicate::str::contains("service deployment SUCCESSFUL"));
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) > before);
    assert_eq!(newest_deployment(&p)["status"], "SUCCESSFUL");
    assert_eq!(share(&alb.prod, &alb.green), 100.0);
}
