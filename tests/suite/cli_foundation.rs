//! End-to-end tests of the foundation verbs: validate, render, init, completions.
//!
//! Tests marked "needs AWS" read the endpoint from `AWS_ENDPOINT_URL` (the local test bed or a
//! moto server) and fail, not skip, when it is unreachable.

use crate::support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn wharf() -> Command {
    let mut c = support::wharf_assert();
    c.env_remove("WHARF_ENV")
        .env_remove("WHARF_FILE")
        .env("NO_COLOR", "1");
    c
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello/wharf.toml")
}

#[test]
fn validate_accepts_the_example() {
    wharf()
        .arg("--file")
        .arg(example())
        .arg("validate")
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok  local    service web  (unresolved until deploy: tag)",
        ))
        .stdout(predicate::str::contains(
            "is valid: 3 service(s)/job(s) in 2 environment(s)",
        ));
}

#[test]
fn validate_json_lists_unresolved_names() {
    let out = wharf()
        .arg("--file")
        .arg(example())
        .args(["validate", "--env", "prod", "--tag", "v1", "-o", "json"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["environments"][0]["environment"], "prod");
    assert_eq!(
        doc["environments"][0]["units"][0]["unresolved"],
        serde_json::json!([])
    );
}

#[test]
fn validate_reports_a_located_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        "app = \"x\"\n[services.web]\ntask_definiton = \"a.json\"\n",
    )
    .unwrap();
    wharf()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unknown key `task_definiton`; did you mean `task_definition`?",
        ))
        .stderr(predicate::str::contains("wharf.toml:3:1"));
}

#[test]
fn validate_warns_about_secret_looking_variables() {
    let dir = tempfile::tempdir().unwrap();
    wharf()
        .current_dir(dir.path())
        .arg("init")
        .assert()
        .success();
    let td = dir.path().join("ecs/web.json");
    let text = std::fs::read_to_string(&td).unwrap().replace(
        "{ \"name\": \"APP_ENV\", \"value\": \"{{ env }}\" }",
        "{ \"name\": \"DB_PASSWORD\", \"value\": \"hunter2\" }",
    );
    std::fs::write(&td, text).unwrap();
    wharf()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "sets DB_PASSWORD in plain `environment`",
        ));
}

#[test]
fn render_offline_prints_json() {
    let out = wharf()
        .arg("--file")
        .arg(example())
        .args(["render", "web", "--env", "prod", "--tag", "v7", "--offline"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let td: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(td["family"], "hello-prod-web");
    assert_eq!(
        td["containerDefinitions"][0]["image"],
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello/app:v7"
    );
}

#[test]
fn render_offline_without_tag_and_unknown_names() {
    wharf()
        .arg("--file")
        .arg(example())
        .args(["render", "web", "--env", "local", "--offline"])
        .assert()
        .success(); // offline: the tag is a marker
    wharf()
        .arg("--file")
        .arg(example())
        .args(["render", "wbe", "--env", "local", "--offline"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no service or job `wbe`"))
        .stderr(predicate::str::contains("did you mean `web`?"));
    // docker's `-e NAME=VALUE` is `--env` here: the hint says how to set a variable.
    wharf()
        .arg("--file")
        .arg(example())
        .args(["local", "run", "web", "-e", "LOG_LEVEL=debug"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no environment `LOG_LEVEL=debug`"))
        .stderr(predicate::str::contains(
            "to set a variable in the containers, use `--set-env LOG_LEVEL=debug`",
        ));
}

#[test]
fn init_writes_a_project_that_validates_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    wharf()
        .current_dir(dir.path())
        .args(["init", "--app", "demo"])
        .assert()
        .success();
    wharf()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .success();
    wharf()
        .current_dir(dir.path())
        .args(["init", "--app", "demo"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("refusing to overwrite"));
    wharf()
        .current_dir(dir.path())
        .args(["init", "--app", "demo", "--force"])
        .assert()
        .success();
}

#[test]
fn completions_for_bash() {
    wharf()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("_wharf()"))
        .stdout(predicate::str::contains("validate"));
}

// ---- needs AWS (AWS_ENDPOINT_URL) ----

fn endpoint() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("this test needs AWS: set AWS_ENDPOINT_URL to the local test bed or a moto server (e.g. moto_server -p 5599)")
    });
    let host = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let host = host.split('/').next().unwrap_or(host);
    if std::net::TcpStream::connect(host).is_err() {
        panic!("AWS_ENDPOINT_URL={url} is unreachable; start the test bed or moto_server");
    }
    url
}

fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

async fn ecs(endpoint: &str) -> aws_sdk_ecs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    aws_sdk_ecs::Client::new(&config)
}

fn aws_env(c: &mut Command, endpoint: &str) {
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env_remove("AWS_PROFILE");
}

#[tokio::test(flavor = "multi_thread")]
async fn init_from_service_reproduces_a_running_service() {
    use aws_sdk_ecs::types::{ContainerDefinition, PortMapping};
    let endpoint = endpoint();
    let client = ecs(&endpoint).await;
    let cluster = format!("wharf-init-{}", suffix());
    client
        .create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    let td = client
        .register_task_definition()
        .family("shop-staging-api")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            ContainerDefinition::builder()
                .name("api")
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:v42")
                .essential(true)
                .port_mappings(PortMapping::builder().container_port(8080).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = td
        .task_definition()
        .unwrap()
        .task_definition_arn()
        .unwrap()
        .to_string();
    client
        .create_service()
        .cluster(&cluster)
        .service_name("api")
        .task_definition(arn)
        .desired_count(2)
        .launch_type(aws_sdk_ecs::types::LaunchType::Fargate)
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut c = wharf();
    aws_env(&mut c, &endpoint);
    c.current_dir(dir.path())
        .args([
            "init",
            "--app",
            "shop",
            "--env",
            "staging",
            "--from-service",
        ])
        .arg(format!("{cluster}/api"))
        .assert()
        .success()
        // It says the tag that runs and a command that works (there is no `-f`).
        .stderr(predicates::str::contains("wharf -f").not())
        .stderr(predicates::str::contains("the service runs tag "))
        .stderr(predicates::str::contains("diff --env staging --tag "));
    let toml = std::fs::read_to_string(dir.path().join("wharf.toml")).unwrap();
    assert!(toml.contains("# It ran image tag "), "{toml}");
    assert!(toml.contains(&format!("cluster = \"{cluster}\"")), "{toml}");
    assert!(
        toml.contains(&format!("endpoint_url = \"{endpoint}\"")),
        "{toml}"
    );
    assert!(toml.contains("desired_count = 2"), "{toml}");
    assert!(toml.contains("launch_type = \"FARGATE\""), "{toml}");
    let template = std::fs::read_to_string(dir.path().join("ecs/api.json")).unwrap();
    assert!(
        template.contains("\"family\": \"shop-{{ env }}-api\""),
        "{template}"
    );
    assert!(template.contains("{{ image('api') }}"), "{template}");
    assert!(!template.contains("revision"), "{template}");

    // What it wrote validates, and renders online back to the original image.
    wharf()
        .current_dir(dir.path())
        .arg("validate")
        .assert()
        .success();
    let mut c = wharf();
    aws_env(&mut c, &endpoint);
    let out = c
        .current_dir(dir.path())
        .args(["render", "api", "--env", "staging", "--tag", "v42"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rendered: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        rendered["containerDefinitions"][0]["image"],
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:v42"
    );
    assert_eq!(rendered["family"], "shop-staging-api");
}

#[tokio::test(flavor = "multi_thread")]
async fn render_resolves_ssm_and_account_online_and_refuses_secure_strings() {
    let endpoint = endpoint();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let app = format!("wapp{}", suffix().replace('-', ""));
    let put = |name: String, value: &'static str, secure: bool| {
        let ssm = ssm.clone();
        async move {
            ssm.put_parameter()
                .name(name)
                .value(value)
                .r#type(if secure {
                    aws_sdk_ssm::types::ParameterType::SecureString
                } else {
                    aws_sdk_ssm::types::ParameterType::String
                })
                .overwrite(true)
                .send()
                .await
                .unwrap();
        }
    };
    put(format!("/{app}/dev/log_level"), "debug", false).await;
    put(
        format!("/{app}/dev/db_password"),
        support::secret("hunter2-4f0c"),
        true,
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ecs")).unwrap();
    std::fs::write(
        dir.path().join("wharf.toml"),
        format!(
            "app = \"{app}\"\n[images.app]\nrepository = \"{app}/app\"\n[environments.dev]\nregion = \"us-east-1\"\n\
             [services.web]\ntask_definition = \"ecs/web.json\"\n[services.bad]\ntask_definition = \"ecs/bad.json\"\n"
        ),
    )
    .unwrap();
    let td = |env_value: &str| {
        format!(
            r#"{{"family": "web", "containerDefinitions": [{{"name": "web", "image": "{{{{ image('app') }}}}", "memory": 128,
  "environment": [{{"name": "LOG_LEVEL", "value": "{env_value}"}}],
  "secrets": [{{"name": "DB_PASSWORD", "valueFrom": "{{{{ secret('db_password') }}}}"}}]}}]}}"#
        )
    };
    std::fs::write(
        dir.path().join("ecs/web.json"),
        td("{{ ssm('log_level') }}"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ecs/bad.json"),
        td("{{ ssm('db_password') }}"),
    )
    .unwrap();

    let mut c = wharf();
    aws_env(&mut c, &endpoint);
    let out = c
        .current_dir(dir.path())
        .args(["render", "web", "--env", "dev", "--tag", "t1"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("hunter2-4f0c"));
    let rendered: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let c0 = &rendered["containerDefinitions"][0];
    assert_eq!(c0["environment"][0]["value"], "debug");
    assert_eq!(
        c0["secrets"][0]["valueFrom"],
        format!("arn:aws:ssm:us-east-1:123456789012:parameter/{app}/dev/db_password")
    );
    assert_eq!(
        c0["image"],
        format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/{app}/app:t1")
    );

    let mut c = wharf();
    aws_env(&mut c, &endpoint);
    c.current_dir(dir.path())
        .args(["render", "web", "--env", "dev"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "image('app') needs an image tag: pass --tag",
        ))
        .stderr(predicate::str::contains("ecs/web.json:1:"));

    let mut c = wharf();
    aws_env(&mut c, &endpoint);
    let out = c
        .current_dir(dir.path())
        .args(["render", "bad", "--env", "dev", "--tag", "t1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a SecureString parameter"))
        .get_output()
        .clone();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2-4f0c"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2-4f0c"));
}

#[test]
fn a_bad_duration_names_the_flag_and_the_syntax() {
    for verb in [
        &["deploy"][..],
        &["run", "migrate"],
        &["local", "run", "web"],
    ] {
        wharf()
            .arg("--file")
            .arg(example())
            .args(verb)
            .args(["--env", "local", "--timeout", "soon"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("'--timeout <TIMEOUT>'"))
            .stderr(predicate::str::contains(
                "`soon` is not a duration; write a number with a unit, such as 90s, 15m or 1h30m",
            ));
    }
}

#[test]
fn a_closed_output_pipe_ends_wharf_quietly() {
    // `wharf completions bash | head -c 10`: the completions are ~90 KB, more than a pipe holds,
    // so wharf writes into a pipe nobody reads any more. (Run directly: through the transcript
    // wrapper, `tee` would take the broken pipe instead; the completions hold no secret.)
    use std::io::Read;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("wharf"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 10];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap(); // and the pipe is closed here
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no panic, no backtrace"
    );
}
