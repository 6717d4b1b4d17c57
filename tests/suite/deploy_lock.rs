//! The deploy lock's edges (issue #13): `wharf unlock` behind the account guard and `confirm`, a
//! lock left by a deploy killed on this host, a lock that cannot be released, and the holder's
//! name without `USER`.

use crate::support;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use predicates::prelude::*;
use serde_json::Value;
use support::{aws, task_definition, Project, WHARF_TOML};

const SERVE: &str = r#"["sh", "-c", "echo serving; while true; do sleep 1; done"]"#;

/// A project with one service `web`; `env_lines` go into `[environments.local]`.
fn project(env_lines: &str, command: &str, extra_container_fields: &str) -> Project {
    let toml = WHARF_TOML.replace(
        "cluster = \"{cluster}\"\n",
        &format!("cluster = \"{{cluster}}\"\n{env_lines}"),
    ) + "\n[services.web]\ntask_definition = \"ecs/web.json\"\n";
    let web = task_definition("web", command, extra_container_fields);
    Project::new(&[("wharf.toml", &toml), ("ecs/web.json", &web)])
}

fn lock_name(p: &Project) -> String {
    format!("/wharf/locks/{}/local", p.app)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Puts a lock held by alice@laptop that expires `expires_in` seconds from now (negative: past).
fn put_lock(p: &Project, expires_in: i64) {
    let expires = (now() as i64 + expires_in) as u64;
    let holder = format!(
        r#"{{"who":"alice@laptop","pid":4242,"action":"deploy","since":{},"expires":{expires}}}"#,
        expires - 3600
    );
    aws(&[
        "ssm",
        "put-parameter",
        "--name",
        &lock_name(p),
        "--type",
        "String",
        "--value",
        &holder,
    ]);
}

/// The lock's holder as stored, if the lock exists.
fn holder(p: &Project) -> Option<Value> {
    let out = aws(&["ssm", "get-parameters", "--names", &lock_name(p)]);
    out["Parameters"][0]["Value"]
        .as_str()
        .map(|v| serde_json::from_str(v).expect("the lock holds JSON"))
}

/// Starts a deploy whose rollout stays in progress (a health check that stays `starting` for
/// its start period) and waits until it holds the lock; returns the child and the holder it wrote.
fn held_by_a_running_deploy(p: &Project, env_remove: &[&str]) -> (std::process::Child, Value) {
    let slow = r#",
    "healthCheck": {"command": ["CMD-SHELL", "exit 1"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 300}"#;
    p.write(
        "ecs/web.json",
        &task_definition("web", r#"["sh", "-c", "sleep 3600"]"#, slow),
    );
    let mut cmd = support::wharf_command();
    cmd.args(["deploy", "--env", "local", "--tag", "v1"])
        .current_dir(p.path())
        .envs(support::aws_env())
        .stderr(std::process::Stdio::piped());
    for name in env_remove {
        cmd.env_remove(name);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        seen.push_str(&line);
        if line.contains("creating service") {
            break;
        }
        line.clear();
    }
    assert!(seen.contains("creating service"), "{seen}");
    // Keep draining its stderr so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(h) = holder(p) {
            return (child, h);
        }
        let ended = child.try_wait().unwrap();
        assert!(
            ended.is_none() && Instant::now() < deadline,
            "the deploy never held the lock (ended: {ended:?}): {seen}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn kill_9(child: &mut std::process::Child) {
    std::process::Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn unlock_refuses_with_the_wrong_account() {
    let p = project("", SERVE, "");
    p.write(
        "wharf.toml",
        &std::fs::read_to_string(p.path().join("wharf.toml"))
            .unwrap()
            .replace("123456789012", "999999999999"),
    );
    put_lock(&p, 3600);
    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "environment `local` is account 999999999999, but the credentials in use are for account 123456789012; refusing to act",
        ));
    assert!(holder(&p).is_some(), "the lock is still there");
}

#[test]
fn unlock_in_a_confirm_environment_asks_for_a_live_lock_not_an_expired_one() {
    let p = project("confirm = true\n", SERVE, "");
    put_lock(&p, 3600);
    p.wharf()
        .args(["unlock", "--env", "local"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("there is no terminal to ask on"))
        .stderr(predicate::str::contains("alice@laptop (deploy, pid 4242)"))
        .stderr(predicate::str::contains("pass --yes"));
    assert!(
        holder(&p).is_some(),
        "an unexpired lock is kept without --yes"
    );
    p.wharf()
        .args(["unlock", "--env", "local", "--yes"])
        .write_stdin("")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "broke the lock held by alice@laptop (deploy, pid 4242)",
        ));
    assert!(holder(&p).is_none());

    // An expired lock is broken without asking.
    put_lock(&p, -60);
    p.wharf()
        .args(["unlock", "--env", "local"])
        .write_stdin("")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "broke the expired lock held by alice@laptop",
        ));
    assert!(holder(&p).is_none());
}

#[test]
fn a_lock_left_by_a_deploy_killed_on_this_host_is_explained() {
    let p = project("", SERVE, "");
    let (mut child, h) = held_by_a_running_deploy(&p, &[]);
    let pid = h["pid"].as_u64().unwrap();
    assert_eq!(pid, u64::from(child.id()), "{h}");
    kill_9(&mut child);

    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "held by pid {pid} on this host, which is no longer running (killed?)"
        )))
        .stderr(predicate::str::contains("`wharf unlock --env local`"));
    assert_eq!(holder(&p), Some(h), "not broken behind anyone's back");

    // A lock from another host is not called dead.
    aws(&["ssm", "delete-parameter", "--name", &lock_name(&p)]);
    put_lock(&p, 3600);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is locked by alice@laptop"))
        .stderr(predicate::str::contains("no longer running").not());

    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .success();
    assert!(holder(&p).is_none());
}

#[test]
fn the_holder_is_named_after_the_uid_without_user() {
    let p = project("", SERVE, "");
    let (mut child, h) = held_by_a_running_deploy(&p, &["USER", "USERNAME", "LOGNAME"]);
    kill_9(&mut child);
    let id = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let name = String::from_utf8(id.stdout).unwrap().trim().to_string();
    let who = h["who"].as_str().unwrap();
    assert!(who.starts_with(&format!("{name}@")), "{who} names {name}");
    aws(&["ssm", "delete-parameter", "--name", &lock_name(&p)]);
}

#[test]
fn a_lock_that_cannot_be_released_says_so_with_its_expiry_and_the_unlock_command() {
    let _alone = support::alone();
    let p = project("", SERVE, "");
    // Every request that releases the lock fails (the SDK's retries included).
    let _clear = support::inject_faults(
        r#"{"operations": ["ssm:GetParameter", "ssm:DeleteParameter"], "error": "500", "rate": 1.0}"#,
    );
    let out = p
        .wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("web: rolled out in"))
        .stderr(predicate::str::contains("deployed"))
        .stderr(predicate::str::contains(format!(
            "the deploy lock {} remains",
            lock_name(&p)
        )))
        .stderr(predicate::str::contains("`wharf unlock --env local`"));
    drop(_clear);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    let h = holder(&p).expect("the lock is still there");
    let expires = humantime::format_rfc3339_seconds(
        UNIX_EPOCH + Duration::from_secs(h["expires"].as_u64().unwrap()),
    )
    .to_string();
    assert!(
        stderr.contains(&format!("expires at {expires}")),
        "{stderr}"
    );
    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .success();
    assert!(holder(&p).is_none());

    // A deploy that did not succeed keeps its own exit code (4, timed out).
    let _clear = support::inject_faults(
        r#"{"operations": ["ssm:GetParameter", "ssm:DeleteParameter"], "error": "500", "rate": 1.0}"#,
    );
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2"])
        .args(["--timeout", "300ms", "--no-rollback"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("timed out"))
        .stderr(predicate::str::contains(format!(
            "the deploy lock {} remains",
            lock_name(&p)
        )));
    drop(_clear);
    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .success();
}

#[test]
fn a_lock_taken_whose_answers_were_all_lost_is_used_and_released() {
    let _alone = support::alone();
    let p = project("", SERVE, "");
    // SSM creates the lock, and the answer to that request and to each of the SDK's retries
    // (which find the parameter there) is lost: wharf cannot tell from PutParameter alone
    // whether it holds the lock.
    let _clear = support::inject_faults(
        r#"{"operations": ["ssm:PutParameter"], "error": "drop_after", "count": 5}"#,
    );
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains("web: rolled out in"));
    drop(_clear);
    assert!(holder(&p).is_none(), "the lock was released");

    // When even reading the lock back fails, the error says the lock may be held, and how
    // to clear it.
    let _clear = support::inject_faults(
        r#"[{"operations": ["ssm:PutParameter"], "error": "drop_after", "count": 5},
            {"operations": ["ssm:GetParameter"], "error": "500", "rate": 1.0}]"#,
    );
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2", "--timeout", "2m"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "whether SSM took the lock is unknown",
        ))
        .stderr(predicate::str::contains("`wharf unlock --env local`"));
    drop(_clear);
    let h = holder(&p).expect("SSM took the lock");
    assert!(h["pid"].as_u64().is_some());
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v2", "--timeout", "2m"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no longer running"));
    p.wharf()
        .args(["unlock", "--env", "local"])
        .assert()
        .success();
}
