//! Config-file sync end to end against the local test bed, judged by the AWS CLI: deploy uploads a
//! service's config folder to `s3://BUCKET/<app>/<env>/<service>/`, a change of files alone
//! registers a new revision with a new `WHARF_CONFIG_HASH` and rolls the service, removed files
//! are deleted, an unchanged folder changes nothing, drift in the bucket is repaired; and the
//! init-container example validates, renders and plans.

use crate::support;

use predicates::prelude::*;
use serde_json::Value;
use support::{aws, task_definition, unique, Project, WHARF_TOML};

const SERVE: &str =
    r#"["sh", "-c", "echo serving config $WHARF_CONFIG_HASH; while true; do sleep 1; done"]"#;

/// Name -> content of every object under `prefix` in `bucket`.
fn objects(bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let listed = aws(&[
        "s3api",
        "list-objects-v2",
        "--bucket",
        bucket,
        "--prefix",
        prefix,
    ]);
    let mut out = Vec::new();
    for object in listed["Contents"].as_array().into_iter().flatten() {
        let key = object["Key"].as_str().unwrap().to_string();
        let file = tempfile::NamedTempFile::new().unwrap();
        aws(&[
            "s3api",
            "get-object",
            "--bucket",
            bucket,
            "--key",
            &key,
            file.path().to_str().unwrap(),
        ]);
        let content = std::fs::read_to_string(file.path()).unwrap();
        out.push((key[prefix.len()..].to_string(), content));
    }
    out.sort();
    out
}

fn config_hash(task_definition_arn: &str) -> String {
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        task_definition_arn,
    ]);
    let env = &td["taskDefinition"]["containerDefinitions"][0]["environment"];
    env.as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "WHARF_CONFIG_HASH")
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("WHARF_CONFIG_HASH is in the task definition: {td}"))
        .to_string()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn config_change_alone_rolls_the_service_and_the_bucket_follows_the_folder() {
    let bucket = unique("config").to_lowercase();
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n\n[services.web.config]\ndir = \"config/web\"\nbucket = \"{bucket}\"\n"
    );
    let p = Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &task_definition("web", SERVE, "")),
        ("config/web/app.conf", "level = 1\n"),
        ("config/web/html/index.html", "<p>hello</p>\n"),
    ]);
    let prefix = format!("{}/local/web/", p.app);
    let family = format!("{}-web", p.app);
    let deploy = |extra: &[&str]| {
        let mut args = vec!["deploy", "--env", "local", "--tag", "v1", "--timeout", "2m"];
        args.extend_from_slice(extra);
        p.wharf().args(args).assert()
    };

    // First deploy: both files uploaded, the hash in the task definition, the service rolled out.
    deploy(&[])
        .success()
        .stderr(predicate::str::contains(format!(
            "web: config s3://{bucket}/{prefix}: 2 uploaded (app.conf, html/index.html), 0 unchanged"
        )))
        .stderr(predicate::str::contains("web: rolled out in"));
    assert_eq!(
        objects(&bucket, &prefix),
        pairs(&[
            ("app.conf", "level = 1\n"),
            ("html/index.html", "<p>hello</p>\n")
        ])
    );
    let first = p.revisions(&family);
    assert_eq!(first.len(), 1);
    let first_hash = config_hash(&first[0]);
    assert_eq!(first_hash.len(), 64);
    assert_eq!(p.service("web")["taskDefinition"], first[0].as_str());

    // Nothing changed: nothing uploaded, nothing registered.
    deploy(&[])
        .success()
        .stderr(predicate::str::contains("nothing to deploy"))
        .stderr(predicate::str::contains("uploaded").not());
    assert_eq!(p.revisions(&family).len(), 1);

    // Files change, one is removed, one is added: the dry run says so and changes nothing.
    p.write("config/web/app.conf", "level = 2\n");
    std::fs::remove_file(p.path().join("config/web/html/index.html")).unwrap();
    p.write("config/web/extra.conf", "x = y\n");
    deploy(&["--dry-run"])
        .success()
        .stdout(predicate::str::contains(format!(
            "config s3://{bucket}/{prefix}: 2 to upload (app.conf, extra.conf), 1 to delete (html/index.html), 0 unchanged"
        )))
        .stdout(predicate::str::contains("WHARF_CONFIG_HASH"));
    assert_eq!(objects(&bucket, &prefix).len(), 2);
    assert_eq!(p.revisions(&family).len(), 1);
    p.wharf()
        .args(["diff", "--env", "local", "--tag", "v1"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "config s3://{bucket}/{prefix}: 2 to upload (app.conf, extra.conf), 1 to delete (html/index.html)"
        )));

    // The change of files alone registers a new revision and rolls the service onto it.
    deploy(&[])
        .success()
        .stderr(predicate::str::contains(
            "2 uploaded (app.conf, extra.conf), 1 deleted (html/index.html), 0 unchanged",
        ))
        .stderr(predicate::str::contains("web: rolled out in"));
    assert_eq!(
        objects(&bucket, &prefix),
        pairs(&[("app.conf", "level = 2\n"), ("extra.conf", "x = y\n")])
    );
    let second = p.revisions(&family);
    assert_eq!(second.len(), 2);
    let new_arn = second.iter().find(|a| !first.contains(a)).unwrap();
    assert_ne!(config_hash(new_arn), first_hash);
    let web = p.service("web");
    assert_eq!(web["taskDefinition"], new_arn.as_str());
    assert_eq!(web["runningCount"], 1);

    // Drift: a file deleted by hand comes back with the next deploy; the revision stays.
    aws(&[
        "s3api",
        "delete-object",
        "--bucket",
        &bucket,
        "--key",
        &format!("{prefix}extra.conf"),
    ]);
    deploy(&[]).success().stderr(predicate::str::contains(
        "1 uploaded (extra.conf), 1 unchanged",
    ));
    assert_eq!(objects(&bucket, &prefix).len(), 2);
    assert_eq!(p.revisions(&family).len(), 2);

    // Files of other services and environments under the bucket are never touched.
    let other = format!("{}/prod/web/keep.conf", p.app);
    let keep = p.path().join("keep.conf");
    std::fs::write(&keep, "keep\n").unwrap();
    aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        &other,
        "--body",
        keep.to_str().unwrap(),
    ]);
    deploy(&[]).success();
    assert_eq!(objects(&bucket, &format!("{}/prod/", p.app)).len(), 1);
}

#[test]
fn a_missing_bucket_or_folder_is_a_clear_error() {
    let bucket = unique("absent").to_lowercase();
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\n\n[services.web.config]\ndir = \"config\"\nbucket = \"{bucket}\"\n"
    );
    let p = Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &task_definition("web", SERVE, "")),
        ("config/a.conf", "a\n"),
    ]);
    p.wharf()
        .args(["deploy", "--env", "local", "--tag", "v1"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "s3:ListObjectsV2 failed: NoSuchBucket",
        ))
        .stderr(predicate::str::contains(format!(
            "service web syncs its config files to s3://{bucket}/"
        )));
    assert!(p.revisions(&format!("{}-web", p.app)).is_empty());

    std::fs::remove_dir_all(p.path().join("config")).unwrap();
    p.wharf()
        .args(["validate", "--env", "local"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("config folder"))
        .stderr(predicate::str::contains("does not exist"))
        .stderr(predicate::str::contains("wharf.toml:"));
}

#[test]
fn the_init_container_example_validates_renders_and_plans() {
    // A copy, pointed at the test bed in use (the example names the default one).
    let copy = tempfile::tempdir().unwrap();
    let example = copy.path().to_path_buf();
    support::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config-files"),
        &example,
    );
    let toml = std::fs::read_to_string(example.join("wharf.toml"))
        .unwrap()
        .replace("http://127.0.0.1:4566", &support::endpoint());
    std::fs::write(example.join("wharf.toml"), toml).unwrap();
    let wharf = || {
        let mut cmd = support::wharf_assert();
        cmd.current_dir(&example)
            .envs(support::aws_env())
            .env_remove("WHARF_ENV");
        cmd
    };
    wharf().args(["validate"]).assert().success();
    let out = wharf()
        .args(["render", "nginx", "--env", "local", "--output", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let td = if doc.get("containerDefinitions").is_some() {
        doc.clone()
    } else {
        doc["task_definition"].clone()
    };
    let containers = td["containerDefinitions"].as_array().unwrap();
    assert_eq!(containers.len(), 2);
    let init = containers.iter().find(|c| c["name"] == "config").unwrap();
    assert_eq!(init["essential"], false);
    assert!(init["command"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a == "s3://site-config/site/local/nginx/"));
    for c in containers {
        assert!(c["environment"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "WHARF_CONFIG_HASH"));
    }

    // Against the test bed, the plan lists the three files to upload (the bucket exists, empty).
    aws(&["ecs", "create-cluster", "--cluster-name", "site"]);
    let exists = std::process::Command::new(support::aws_bin())
        .args(["s3api", "head-bucket", "--bucket", "site-config"])
        .envs(support::aws_env())
        .env("AWS_ENDPOINT_URL", support::endpoint())
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        aws(&["s3api", "create-bucket", "--bucket", "site-config"]);
    }
    wharf()
        .args(["deploy", "--env", "local", "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "config s3://site-config/site/local/nginx/: 3 to upload (conf.d/default.conf, html/50x.html, html/index.html)",
        ));
}

/// A service using the init-container pattern: `config` (non-essential) copies into a task volume,
/// `main` starts after it (dependsOn SUCCESS) and reads it through a read-only mount.
fn init_container_task_definition(init_command: &str) -> String {
    let log = |prefix: &str| {
        format!(
            r#""logConfiguration": {{"logDriver": "awslogs", "options": {{
      "awslogs-group": "/wharf-test/{{{{ app }}}}", "awslogs-region": "us-east-1",
      "awslogs-stream-prefix": "{prefix}", "awslogs-create-group": "true"}}}}"#
        )
    };
    format!(
        r#"{{
  "family": "{{{{ app }}}}-web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
  "volumes": [{{"name": "conf"}}],
  "containerDefinitions": [
    {{
      "name": "main", "image": "{{image}}", "essential": true,
      "command": ["sh", "-c", "test \"$(cat /conf/hash)\" = \"$WHARF_CONFIG_HASH\" || exit 1; echo serving the config the init container copied; while true; do sleep 1; done"],
      "mountPoints": [{{"sourceVolume": "conf", "containerPath": "/conf", "readOnly": true}}],
      "dependsOn": [{{"containerName": "config", "condition": "SUCCESS"}}],
      {main_log}
    }},
    {{
      "name": "config", "image": "{{image}}", "essential": false,
      "command": {init_command},
      "mountPoints": [{{"sourceVolume": "conf", "containerPath": "/sync"}}],
      {init_log}
    }}
  ]
}}"#,
        main_log = log("web"),
        init_log = log("web"),
    )
}

#[test]
fn an_init_container_runs_first_and_a_failing_one_fails_the_deploy_with_its_logs() {
    let bucket = unique("config").to_lowercase();
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let toml = format!(
        "{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\ndesired_count = 1\n\n[services.web.config]\ndir = \"config\"\nbucket = \"{bucket}\"\n"
    );
    // The test bed's containers cannot reach its S3 (it listens on 127.0.0.1 only), so the
    // stand-in init container writes what it would have copied: the hash it was given.
    let copies = r#"["sh", "-c", "echo $WHARF_CONFIG_HASH > /sync/hash; echo copied"]"#;
    let p = Project::new(&[
        ("wharf.toml", &toml),
        ("ecs/web.json", &init_container_task_definition(copies)),
        ("config/app.conf", "level = 1\n"),
    ]);
    let deploy = |tag: &str| {
        p.wharf()
            .args(["deploy", "--env", "local", "--tag", tag, "--timeout", "2m"])
            .assert()
    };
    deploy("v1")
        .success()
        .stderr(predicate::str::contains("web: rolled out in"));
    let family = format!("{}-web", p.app);
    let first = p.revisions(&family);
    assert_eq!(p.service("web")["taskDefinition"], first[0].as_str());
    // The running task: the init container exited 0, main runs what it found in the volume.
    let task = p.running_task("web");
    let containers = task["containers"].as_array().unwrap();
    let state = |name: &str| {
        let c = containers.iter().find(|c| c["name"] == name).unwrap();
        (c["lastStatus"].clone(), c["exitCode"].clone())
    };
    assert_eq!(state("config"), ("STOPPED".into(), 0.into()));
    assert_eq!(state("main"), ("RUNNING".into(), Value::Null));

    // An init container that cannot copy: the task never starts main, the rollout fails, and the
    // diagnosis names the dependency and shows what the init container printed.
    p.write(
        "ecs/web.json",
        &init_container_task_definition(
            r#"["sh", "-c", "echo 'fatal error: An error occurred (AccessDenied) when calling the ListObjectsV2 operation' >&2; exit 1"]"#,
        ),
    );
    deploy("v2")
        .code(1)
        .stderr(predicate::str::contains(
            "dependency config of container main exited with code 1, and the condition is SUCCESS",
        ))
        .stderr(predicate::str::contains(
            "stopped: CannotStartContainerError: dependency config of container main exited with code 1, and the condition is SUCCESS; config exited 1\n",
        ))
        .stderr(predicate::str::contains("config: exit code 1\n"))
        .stderr(predicate::str::contains("(AccessDenied)"))
        .stderr(predicate::str::contains("rolled back to"));
    assert_eq!(p.service("web")["taskDefinition"], first[0].as_str());
}
