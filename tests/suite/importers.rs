//! `wharf init --from-copilot` and `--from-ecspresso` on fixtures written from each tool's
//! documented examples (`tests/fixtures/copilot/`, `tests/fixtures/ecspresso/`): the project
//! validates, and the rendered task definitions carry the source's settings, field by field,
//! read from the source files here. The ecspresso project is also deployed to the test bed and
//! judged with the AWS CLI.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{self, Project};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn yaml(path: &Path) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Copilot's `${COPILOT_*}` interpolation, as Copilot does it for `app` and `env`.
fn copilot_expand(s: &str, app: &str, env: &str) -> String {
    s.replace("${COPILOT_APPLICATION_NAME}", app)
        .replace("${COPILOT_ENVIRONMENT_NAME}", env)
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn by_name<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list.as_array()?.iter().find(|e| e["name"] == name)
}

fn offline_render(dir: &Path, name: &str, env: &str) -> Value {
    let out = support::wharf_command()
        .current_dir(dir)
        .args(["render", name, "--env", env, "--offline", "--tag", "t1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "render {name} --env {env}: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn copilot_workspace_becomes_a_project_that_renders_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&fixture("copilot"), dir.path());
    let out = support::wharf_command()
        .current_dir(dir.path())
        .args(["init", "--from-copilot", "--region", "us-east-1"])
        .output()
        .unwrap();
    let report = stderr(&out);
    assert!(out.status.success(), "{report}");
    // The report names what stays with the infrastructure, with file and line.
    for line in [
        "copilot/frontend/manifest.yml:11: `frontend`: the load balancer, its listener rule for path / and the target group's health check /_healthcheck: keep them in Terraform",
        "copilot/orders-worker/manifest.yml:8: `orders-worker`: the SNS topic subscriptions and SQS queue",
        "copilot/report-generator/manifest.yml:6: `report-generator`: the schedule `@daily` (an EventBridge rule) stays with the infrastructure; `wharf run report-generator` runs the job by hand",
        "copilot/orders-worker/manifest.yml:18: `orders-worker`: autoscaling range 1-10, queue_delay (Application Auto Scaling) stays with the infrastructure",
        "copilot/api/manifest.yml:25: `api`: Service Connect is not configured by wharf",
        "copilot/environments/prod/manifest.yml:2: environment `prod`: Copilot created its VPC",
        "adopt one with `wharf init --from-service CLUSTER/SERVICE --env ENV`",
    ] {
        assert!(report.contains(line), "missing `{line}` in:\n{report}");
    }
    let validate = support::wharf_command()
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert!(validate.status.success(), "{}", stderr(&validate));

    let toml: toml::Table = std::fs::read_to_string(dir.path().join("wharf.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(toml["app"].as_str(), Some("shop"));
    let test_net = &toml["environments"]["test"]["network"];
    assert_eq!(
        test_net["subnets"].as_array().unwrap().len(),
        2,
        "the test environment's public subnets: {test_net}"
    );

    let workloads = ["frontend", "api", "orders-worker", "report-generator"];
    for name in workloads {
        let manifest = yaml(&dir.path().join(format!("copilot/{name}/manifest.yml")));
        let is_job = manifest["type"] == "Scheduled Job";
        for env in ["test", "prod"] {
            let o = &manifest["environments"][env];
            let td = offline_render(dir.path(), name, env);
            let cpu = scalar(if o["cpu"].is_null() {
                &manifest["cpu"]
            } else {
                &o["cpu"]
            });
            let memory = scalar(if o["memory"].is_null() {
                &manifest["memory"]
            } else {
                &o["memory"]
            });
            assert_eq!(td["cpu"], cpu.as_str(), "{name} {env} cpu");
            assert_eq!(td["memory"], memory.as_str(), "{name} {env} memory");
            let main = &td["containerDefinitions"][0];
            assert_eq!(main["name"], name);
            if let Some(port) = manifest["image"]["port"].as_u64() {
                assert_eq!(
                    main["portMappings"][0]["containerPort"], port,
                    "{name} port"
                );
            } else {
                assert!(main.get("portMappings").is_none(), "{name}: no port");
            }
            for (var, value) in manifest["variables"].as_object().into_iter().flatten() {
                let expected = o["variables"].get(var).unwrap_or(value);
                let got = by_name(&main["environment"], var)
                    .unwrap_or_else(|| panic!("{name} {env}: variable {var} in {main}"));
                assert_eq!(
                    got["value"],
                    copilot_expand(&scalar(expected), "shop", env),
                    "{name} {env} {var}"
                );
            }
            for (secret, value) in manifest["secrets"].as_object().into_iter().flatten() {
                let value = o["secrets"].get(secret).unwrap_or(value);
                let got = by_name(&main["secrets"], secret)
                    .unwrap_or_else(|| panic!("{name} {env}: secret {secret} in {main}"))
                    ["valueFrom"]
                    .as_str()
                    .unwrap()
                    .to_string();
                match value.as_str() {
                    Some(param) => assert_eq!(got, copilot_expand(param, "shop", env)),
                    None => {
                        let sm = value["secretsmanager"].as_str().unwrap();
                        assert!(
                            got.starts_with("arn:aws:secretsmanager:us-east-1:"),
                            "{got}"
                        );
                        assert!(got.ends_with(&format!(":secret:{sm}")), "{got}");
                    }
                }
            }
            for (sidecar, spec) in manifest["sidecars"].as_object().into_iter().flatten() {
                let c = by_name(&td["containerDefinitions"], sidecar).unwrap();
                assert_eq!(c["image"], spec["image"], "{name} sidecar {sidecar}");
                assert_eq!(c["portMappings"][0]["containerPort"], spec["port"]);
                for (var, value) in spec["variables"].as_object().into_iter().flatten() {
                    assert_eq!(
                        by_name(&c["environment"], var).unwrap()["value"],
                        scalar(value)
                    );
                }
            }
            if let Some(gib) = manifest["storage"]["ephemeral"].as_u64() {
                assert_eq!(td["ephemeralStorage"]["sizeInGiB"], gib);
            }
            for (vol, spec) in manifest["storage"]["volumes"]
                .as_object()
                .into_iter()
                .flatten()
            {
                let v = by_name(&td["volumes"], vol).unwrap();
                assert_eq!(
                    v["efsVolumeConfiguration"]["fileSystemId"],
                    spec["efs"]["id"]
                );
                assert_eq!(
                    v["efsVolumeConfiguration"]["rootDirectory"],
                    spec["efs"]["root_dir"]
                );
                let m = &main["mountPoints"][0];
                assert_eq!(m["sourceVolume"], vol.as_str());
                assert_eq!(m["containerPath"], spec["path"]);
                assert_eq!(m["readOnly"], spec["read_only"]);
            }
            let hc = &manifest["image"]["healthcheck"];
            if hc.is_object() {
                assert_eq!(main["healthCheck"]["command"], hc["command"]);
                assert_eq!(main["healthCheck"]["retries"], hc["retries"]);
                assert_eq!(main["healthCheck"]["interval"], 10);
                assert_eq!(main["healthCheck"]["startPeriod"], 30);
            }
            if manifest["command"].is_array() {
                assert_eq!(main["command"], manifest["command"]);
            }
            // The wharf.toml side: count (and its environment override), exec, jobs.
            let table = if is_job { "jobs" } else { "services" };
            let unit = &toml[table][name];
            assert!(unit.is_table(), "{table}.{name} in wharf.toml");
            if !is_job {
                let count = o.get("count").unwrap_or(&manifest["count"]);
                let expected = count.as_u64().unwrap_or_else(|| {
                    let range = count["range"].as_str().unwrap();
                    range.split('-').next().unwrap().parse().unwrap()
                });
                let over = toml["environments"][env]
                    .get("services")
                    .and_then(|s| s.get(name))
                    .and_then(|s| s.get("desired_count"))
                    .and_then(toml::Value::as_integer)
                    .or_else(|| unit["desired_count"].as_integer());
                assert_eq!(over, Some(expected as i64), "{name} {env} desired count");
                assert_eq!(
                    unit.get("enable_execute_command")
                        .and_then(toml::Value::as_bool),
                    manifest["exec"].as_bool(),
                    "{name} exec"
                );
            }
        }
    }
    // The scheduled job's string entrypoint and command are split like a shell would.
    let job = offline_render(dir.path(), "report-generator", "test");
    let main = &job["containerDefinitions"][0];
    assert_eq!(main["entryPoint"], serde_json::json!(["/bin/report"]));
    assert_eq!(
        main["command"],
        serde_json::json!(["--since", "24h", "--format", "csv gz"])
    );
}

/// The ecspresso fixture with the test bed's subnet and a real security group in its state.
fn ecspresso_project() -> (Project, String, String) {
    let project = Project::new(&[]);
    let into = project.path().join("ecspresso");
    support::copy_dir(&fixture("ecspresso"), &into);
    let subnet = support::subnet();
    let vpc = support::aws(&["ec2", "describe-subnets", "--subnet-ids", &subnet])["Subnets"][0]
        ["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let sg = support::aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        &support::unique("web"),
        "--description",
        "ecspresso import",
        "--vpc-id",
        &vpc,
    ])["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let state = into.join("terraform/terraform.tfstate");
    let text = std::fs::read_to_string(&state)
        .unwrap()
        .replace("subnet-0123456789abcdef0", &subnet)
        .replace("sg-0123456789abcdef0", &sg);
    std::fs::write(&state, text).unwrap();
    (project, subnet, sg)
}

#[test]
fn two_ecspresso_services_become_one_project_that_deploys_with_their_settings() {
    let (project, subnet, sg) = ecspresso_project();
    let api_key = support::secret("k-ecspresso-7f3a");
    for (name, value, kind) in [
        ("/web/api_key", api_key, "SecureString"),
        ("/worker/queue_url", "orders-queue", "String"),
        (
            "/worker/db_password",
            support::secret("pw-ecspresso-2b9c"),
            "SecureString",
        ),
    ] {
        support::aws(&[
            "ssm",
            "put-parameter",
            "--name",
            name,
            "--value",
            value,
            "--type",
            kind,
            "--overwrite",
        ]);
    }
    let image = support::busybox_image();
    let envs = [
        ("CLUSTER", project.cluster.clone()),
        ("IMAGE", image.clone()),
    ];

    let out = project
        .wharf()
        .args([
            "init",
            "--from-ecspresso",
            "ecspresso/web/ecspresso.yml",
            "ecspresso/worker/ecspresso.yml",
            "--env",
            "local",
            "--app",
            &project.app,
        ])
        .output()
        .unwrap();
    let report = stderr(&out);
    assert!(out.status.success(), "{report}");
    for line in [
        "ecspresso/web/ecspresso.yml:7: `timeout` is not imported",
        "ecspresso/web/ecs-service-def.json:18: `propagateTags` is not imported",
        "ecspresso/worker/ecs-service-def.json:11: `placementConstraints` is not imported",
        "container `web`: 1 value(s) read with ssm became `secrets`",
    ] {
        assert!(report.contains(line), "missing `{line}` in:\n{report}");
    }
    let template = std::fs::read_to_string(project.path().join("ecs/web.json")).unwrap();
    assert!(
        template.contains("\"image\": \"{{ env_var('IMAGE') }}\""),
        "{template}"
    );
    assert!(
        template.contains("{{ env_var('APP_ENV', 'staging') }}"),
        "{template}"
    );
    assert!(
        template.contains("\"taskRoleArn\": \"{{ tf.web_task_role_arn }}\""),
        "{template}"
    );
    let toml_text = std::fs::read_to_string(project.path().join("wharf.toml")).unwrap();
    assert!(
        toml_text.contains("cluster = \"{{ env_var('CLUSTER') }}\""),
        "{toml_text}"
    );

    let validate = project
        .wharf()
        .arg("validate")
        .envs(envs.clone())
        .output()
        .unwrap();
    assert!(validate.status.success(), "{}", stderr(&validate));

    // Rendered through AWS (the test bed) and the state: field by field against the sources.
    let tfstate: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("ecspresso/terraform/terraform.tfstate"))
            .unwrap(),
    )
    .unwrap();
    let resource_attr = |rtype: &str, name: &str, attr: &str| -> Value {
        tfstate["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["type"] == rtype && r["name"] == name)
            .unwrap()["instances"][0]["attributes"][attr]
            .clone()
    };
    for name in ["web", "worker"] {
        let source: Value = serde_json::from_str(
            &std::fs::read_to_string(
                project
                    .path()
                    .join(format!("ecspresso/{name}/ecs-task-def.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let out = project
            .wharf()
            .args(["render", name, "--env", "local"])
            .envs(envs.clone())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let td: Value = serde_json::from_slice(&out.stdout).unwrap();
        for field in [
            "family",
            "cpu",
            "memory",
            "networkMode",
            "requiresCompatibilities",
        ] {
            assert_eq!(td[field], source[field], "{name} {field}");
        }
        assert_eq!(
            td["executionRoleArn"],
            resource_attr("aws_iam_role", "ecs_task_execution", "arn")
        );
        if name == "web" {
            assert_eq!(
                td["taskRoleArn"],
                resource_attr("aws_iam_role", "web_task", "arn")
            );
        }
        let (src_c, c) = (
            &source["containerDefinitions"][0],
            &td["containerDefinitions"][0],
        );
        assert_eq!(c["image"], image.as_str());
        for field in [
            "name",
            "command",
            "portMappings",
            "logConfiguration",
            "essential",
        ] {
            assert_eq!(c[field], src_c[field], "{name} {field}");
        }
        for e in src_c["environment"].as_array().unwrap() {
            let var = e["name"].as_str().unwrap();
            let written = e["value"].as_str().unwrap();
            if let Some(path) = written
                .strip_prefix("{{ ssm `")
                .and_then(|r| r.strip_suffix("` }}"))
            {
                assert!(
                    by_name(&c["environment"], var).is_none(),
                    "{var} is not a plain value"
                );
                assert_eq!(
                    by_name(&c["secrets"], var).unwrap()["valueFrom"],
                    path,
                    "{name} {var}"
                );
            } else if let Some(default) = written
                .split('`')
                .nth(3)
                .filter(|_| written.starts_with("{{ env "))
            {
                assert_eq!(
                    by_name(&c["environment"], var).unwrap()["value"],
                    default,
                    "{name} {var}"
                );
            } else {
                assert_eq!(
                    by_name(&c["environment"], var).unwrap()["value"],
                    written,
                    "{name} {var}"
                );
            }
        }
        for s in src_c["secrets"].as_array().into_iter().flatten() {
            assert_eq!(
                by_name(&c["secrets"], s["name"].as_str().unwrap()).unwrap()["valueFrom"],
                s["valueFrom"]
            );
        }
        assert!(!String::from_utf8_lossy(&out.stdout).contains(api_key));
    }

    // Deployed to the test bed, the services carry the service definitions' settings.
    let deploy = project
        .wharf()
        .args(["deploy", "--env", "local", "--timeout", "3m"])
        .envs(envs.clone())
        .output()
        .unwrap();
    assert!(deploy.status.success(), "{}", stderr(&deploy));
    for name in ["web", "worker"] {
        let source: Value = serde_json::from_str(
            &std::fs::read_to_string(
                project
                    .path()
                    .join(format!("ecspresso/{name}/ecs-service-def.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let svc = project.service(name);
        assert_eq!(svc["desiredCount"], source["desiredCount"], "{name}");
        assert_eq!(svc["launchType"], source["launchType"], "{name}");
        let vpc = &svc["networkConfiguration"]["awsvpcConfiguration"];
        assert_eq!(vpc["subnets"], serde_json::json!([subnet]), "{name}");
        assert_eq!(vpc["securityGroups"], serde_json::json!([sg]), "{name}");
        assert_eq!(vpc["assignPublicIp"], "DISABLED");
        if name == "web" {
            assert_eq!(svc["enableExecuteCommand"], true);
            assert_eq!(
                svc["deploymentConfiguration"]["deploymentCircuitBreaker"],
                source["deploymentConfiguration"]["deploymentCircuitBreaker"]
            );
            assert_eq!(svc["deploymentConfiguration"]["maximumPercent"], 200);
        }
        let td = support::aws(&[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            svc["taskDefinition"].as_str().unwrap(),
        ])["taskDefinition"]
            .clone();
        assert_eq!(td["family"], name);
        assert_eq!(td["containerDefinitions"][0]["image"], image.as_str());
    }
}

#[test]
fn jsonnet_configs_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ecspresso.jsonnet"),
        "{ region: 'us-east-1' }",
    )
    .unwrap();
    let out = support::wharf_command()
        .current_dir(dir.path())
        .args(["init", "--from-ecspresso", "ecspresso.jsonnet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("ecspresso.jsonnet: Jsonnet is not read by wharf"),
        "{e}"
    );
    assert!(e.contains("render it to JSON first"), "{e}");
    assert!(!dir.path().join("wharf.toml").exists());
}
