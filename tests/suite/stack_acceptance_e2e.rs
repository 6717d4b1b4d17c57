//! The seed's own flow (ecs-app-utils: Terraform owns the services, the CLI applies tags) on
//! `examples/stack` with the real AWS provider against the test bed, driven by wharf from end to
//! end: `env create dev` → `apply --tag v1` (cluster, the ALB routing to web and admin, the NLB in
//! front of api, search in Cloud Map, the worker, roles, config bucket, EFS) → `redeploy web` →
//! `status` → `apply --tag bad`, whose rollout fails and which puts Terraform back on v1 → the
//! switch to wharf-deployed services with nothing destroyed → `deploy --tag v2` from wharf.toml
//! templates → destroy. The only changes to the example are what points it at the test bed: the
//! S3 backend and the provider's endpoints (an override file), the var file, and the
//! environment's endpoint, account and registry in wharf.toml.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::support::{self, aws, Project};
use crate::terraform_apply_e2e::{provider_for_the_test_bed, terraform_command};

/// The image every service of the stack runs: `sh /app.sh [ROLE]` (the stack's commands are
/// `api`, `search`, `worker`, `admin`; web has none). A good tag says which role and version it
/// runs and stays up; the bad one fails at start, as a release missing its configuration would.
fn push_app_image(app: &str, tag: &str, good: bool) -> String {
    let reference = format!("{}/{app}/app:{tag}", support::registry());
    let script = if good {
        format!("echo \"shop ${{1:-web}} {tag} started\"\nexec sleep 3600\n")
    } else {
        "echo \"shop ${1:-web}: cannot start: SHOP_DATABASE_URL is not set\" >&2\nexit 1\n"
            .to_string()
    };
    support::push_busybox_image(
        &reference,
        "ENTRYPOINT [\"/bin/sh\", \"/app.sh\"]\n",
        &[("/app.sh", &script)],
    );
    reference
}

fn wharf(p: &Project, stack: &Path) -> assert_cmd::Command {
    let mut c = p.wharf();
    c.current_dir(stack)
        .env("PATH", support::path_with_terraform())
        .env_remove("TF_WORKSPACE")
        .timeout(std::time::Duration::from_secs(600));
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Terraform itself in the `dev` workspace of the stack.
fn terraform(stack: &Path, args: &[&str]) -> Output {
    terraform_command(stack, args)
        .env("TF_WORKSPACE", "dev")
        .output()
        .expect("terraform runs")
}

/// A plain Terraform plan with `tag` has nothing to change (`-detailed-exitcode` 0).
fn assert_terraform_has_no_change(stack: &Path, tag: &str) {
    let plan = terraform(
        stack,
        &[
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-var-file=terraform.dev.tfvars",
            &format!("-var=app_tag={tag}"),
        ],
    );
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
}

/// The stack's services (label → ECS service) as the AWS CLI describes them.
fn services(cluster: &str, names: &[(String, String)]) -> Vec<(String, Value)> {
    let mut args = vec![
        "ecs",
        "describe-services",
        "--cluster",
        cluster,
        "--services",
    ];
    args.extend(names.iter().map(|(_, n)| n.as_str()));
    let described = aws(&args);
    names
        .iter()
        .map(|(label, name)| {
            let s = described["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["serviceName"] == name.as_str())
                .unwrap_or_else(|| panic!("service {name}: {described}"))
                .clone();
            (label.clone(), s)
        })
        .collect()
}

/// The image of the (single) container of task definition `arn`.
fn image_of(arn: &str) -> String {
    let td = aws(&["ecs", "describe-task-definition", "--task-definition", arn]);
    td["taskDefinition"]["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every service runs `tag`: its task definition has the image, one deployment is left, and
/// its tasks run.
fn assert_all_run(cluster: &str, names: &[(String, String)], image_base: &str, tag: &str) {
    for (label, s) in services(cluster, names) {
        let image = image_of(s["taskDefinition"].as_str().unwrap());
        assert_eq!(image, format!("{image_base}:{tag}"), "{label}: {s}");
        assert_eq!(
            s["deployments"].as_array().unwrap().len(),
            1,
            "{label}: {s}"
        );
        assert_eq!(s["runningCount"], s["desiredCount"], "{label}: {s}");
        assert!(s["runningCount"].as_i64().unwrap() >= 1, "{label}: {s}");
    }
}

fn stack_dir(p: &Project) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    support::copy_dir(&root.join("terraform"), &p.path().join("terraform"));
    support::copy_dir(
        &root.join("examples/stack"),
        &p.path().join("examples/stack"),
    );
    p.path().join("examples/stack")
}

#[test]
fn the_seed_flow_on_the_example_stack_from_env_create_to_destroy() {
    let p = Project::new(&[]);
    let stack = stack_dir(&p);
    let app = support::unique("shop").replace('-', "");
    let bucket = support::unique("shop-state");
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let (vpc, a, b) = crate::terraform_apply_e2e::network("10.78");
    let registry = support::registry();
    let image_base = format!("{registry}/{app}/app");
    for (tag, good) in [("v1", true), ("v2", true), ("bad", false)] {
        push_app_image(&app, tag, good);
    }

    // The example's wharf.toml, pointed at the test bed.
    let example = std::fs::read_to_string(stack.join("wharf.toml")).unwrap();
    let toml = example
        .replace("app = \"shop\"", &format!("app = \"{app}\""))
        .replace("shop-terraform-state", &bucket)
        .replace(
            "[environments.dev]\nregion = \"us-east-1\"\n",
            &format!(
                "[environments.dev]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{}\"\nregistry = \"{registry}\"\n",
                support::endpoint()
            ),
        );
    assert!(
        toml.contains(&bucket) && toml.contains("endpoint_url"),
        "{toml}"
    );
    std::fs::write(stack.join("wharf.toml"), &toml).unwrap();
    let endpoint = support::endpoint();
    std::fs::write(
        stack.join("testbed_override.tf"),
        format!(
            r#"terraform {{
  backend "s3" {{
    bucket                      = "{bucket}"
    key                         = "shop/terraform.tfstate"
    region                      = "us-east-1"
    workspace_key_prefix        = "env:"
    use_lockfile                = true
    endpoints                   = {{ s3 = "{endpoint}" }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
    access_key                  = "testing"
    secret_key                  = "testing"
  }}
}}

{}"#,
            provider_for_the_test_bed()
        ),
    )
    .unwrap();
    let tfvars = |wharf_deploys: bool| {
        format!(
            "app = \"{app}\"\nregistry = \"{registry}\"\nvpc_id = \"{vpc}\"\npublic_subnet_ids = [\"{a}\", \"{b}\"]\nprivate_subnet_ids = [\"{a}\", \"{b}\"]\nhttp_only = true\nweb_count = 2\nadmin_count = 1\napi_count = 1\nsearch_count = 1\nwharf_deploys = {wharf_deploys}\n"
        )
    };
    std::fs::write(stack.join("terraform.dev.tfvars"), tfvars(false)).unwrap();

    // env create: the S3 backend is initialised and the workspace made.
    let out = wharf(&p, &stack)
        .args(["env", "create", "dev"])
        .output()
        .unwrap();
    assert!(out.status.success(), "env create:\n{}", text(&out));

    // apply --tag v1: everything is created, and every service Terraform owns is watched to
    // its end.
    let out = wharf(&p, &stack)
        .args(["apply", "--env", "dev", "--tag", "v1", "--yes"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "apply v1:\n{said}");
    assert!(said.contains("watching Terraform-owned services"), "{said}");
    let outputs: Value =
        serde_json::from_slice(&terraform(&stack, &["output", "-json"]).stdout).unwrap();
    let cluster = outputs["cluster_name"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mut names: Vec<(String, String)> = outputs["services"]["value"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    names.sort();
    assert_eq!(
        names.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["admin", "api", "search", "web", "worker"]
    );
    assert_all_run(&cluster, &names, &image_base, "v1");
    let name_of = |label: &str| {
        names
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, n)| n.clone())
            .unwrap()
    };
    // The load balancer routes two services: web and admin, each its own target group, on one
    // listener.
    let described = services(&cluster, &names);
    let group_of = |label: &str| {
        described
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, s)| {
                s["loadBalancers"][0]["targetGroupArn"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .unwrap()
    };
    let (web_group, admin_group) = (group_of("web"), group_of("admin"));
    assert_ne!(web_group, admin_group);
    let groups = aws(&[
        "elbv2",
        "describe-target-groups",
        "--target-group-arns",
        &web_group,
        &admin_group,
    ]);
    let lbs: std::collections::BTreeSet<String> = groups["TargetGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["LoadBalancerArns"][0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lbs.len(), 1, "both behind the one ALB: {groups}");
    let listeners = aws(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        lbs.iter().next().unwrap(),
    ]);
    let rules = aws(&[
        "elbv2",
        "describe-rules",
        "--listener-arn",
        listeners["Listeners"][0]["ListenerArn"].as_str().unwrap(),
    ]);
    let forwards_to = |group: &str| {
        rules["Rules"].as_array().unwrap().iter().any(|r| {
            r["Actions"][0]["TargetGroupArn"] == group
                || r["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == group
        })
    };
    assert!(
        forwards_to(&web_group) && forwards_to(&admin_group),
        "{rules}"
    );
    let web_before = services(&cluster, &[("web".into(), name_of("web"))])[0]
        .1
        .clone();

    // redeploy web: a new deployment of the same revision, watched to its end.
    let out = wharf(&p, &stack)
        .args(["redeploy", "--env", "dev", "web"])
        .output()
        .unwrap();
    assert!(out.status.success(), "redeploy web:\n{}", text(&out));
    let web_after = services(&cluster, &[("web".into(), name_of("web"))])[0]
        .1
        .clone();
    assert_eq!(web_after["taskDefinition"], web_before["taskDefinition"]);
    assert_ne!(
        web_after["deployments"][0]["id"], web_before["deployments"][0]["id"],
        "a new deployment: {web_after}"
    );
    assert_eq!(web_after["runningCount"], 2, "{web_after}");

    // status: every service Terraform owns, with its tasks, and the NLB's targets of api.
    let out = wharf(&p, &stack)
        .args(["status", "--env", "dev", "--output", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "status:\n{}", text(&out));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    let listed = status["services"].as_array().expect("services");
    for (_, name) in &names {
        let s = listed
            .iter()
            .find(|s| s["service"] == name.as_str())
            .unwrap_or_else(|| panic!("status lists {name}: {status}"));
        assert!(!s["tasks"].as_array().unwrap().is_empty(), "{s}");
    }
    let api = listed
        .iter()
        .find(|s| s["service"] == name_of("api").as_str())
        .unwrap();
    assert!(
        !api["targets"].as_array().unwrap().is_empty(),
        "the NLB's targets of api: {api}"
    );

    // apply --tag bad: the new tasks fail, ECS's circuit breaker rolls each service back, wharf
    // says so (exit 1) and applies Terraform again with v1, so that its state does not keep a
    // tag no service runs.
    let out = wharf(&p, &stack)
        .args([
            "apply",
            "--env",
            "dev",
            "--tag",
            "bad",
            "--yes",
            "--timeout",
            "5m",
        ])
        .output()
        .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "apply bad:\n{said}");
    assert!(
        said.contains("SHOP_DATABASE_URL is not set"),
        "the cause, from the logs:\n{said}"
    );
    assert!(said.contains("putting Terraform back on tag v1"), "{said}");
    assert!(said.contains("Terraform is back on tag v1"), "{said}");
    assert_all_run(&cluster, &names, &image_base, "v1");
    // Terraform's state holds v1: a plan with v1 has nothing to change.
    assert_terraform_has_no_change(&stack, "v1");

    // The switch to wharf-deployed services: nothing destroyed, the same services.
    let arns_before: Vec<(Value, Value)> = services(&cluster, &names)
        .into_iter()
        .map(|(_, s)| (s["serviceArn"].clone(), s["createdAt"].clone()))
        .collect();
    std::fs::write(stack.join("terraform.dev.tfvars"), tfvars(true)).unwrap();
    let out = wharf(&p, &stack)
        .args(["apply", "--env", "dev", "--tag", "v1", "--yes"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "the switch:\n{said}");
    assert!(said.contains("0 destroyed"), "{said}");
    for label in ["web", "admin", "api", "search", "worker"] {
        assert!(
            said.contains(&format!(
                "moving module.{label}.aws_ecs_service.terraform[0] to module.{label}.aws_ecs_service.wharf[0]"
            )),
            "{label}: {said}"
        );
    }
    let arns_after: Vec<(Value, Value)> = services(&cluster, &names)
        .into_iter()
        .map(|(_, s)| (s["serviceArn"].clone(), s["createdAt"].clone()))
        .collect();
    assert_eq!(arns_after, arns_before, "the same services, not new ones");

    // deploy --tag v2: wharf registers revisions from its templates and rolls them out.
    let mut toml = std::fs::read_to_string(stack.join("wharf.toml")).unwrap();
    toml.push_str(&format!(
        r#"
[images.app]
repository = "{app}/app"

[environments.dev.network]
subnets = ["{{{{ tf.subnet_ids[0] }}}}", "{{{{ tf.subnet_ids[1] }}}}"]
security_groups = ["{{{{ tf.security_group }}}}"]

[vars]
command = ""
port = 0

[services.web]
name = "{{{{ tf.services.web }}}}"
task_definition = "ecs/service.json"
launch_type = "FARGATE"
enable_execute_command = true
vars = {{ port = 8080 }}

[services.admin]
name = "{{{{ tf.services.admin }}}}"
task_definition = "ecs/service.json"
launch_type = "FARGATE"
enable_execute_command = true
vars = {{ command = "admin", port = 8080 }}

[services.api]
name = "{{{{ tf.services.api }}}}"
task_definition = "ecs/service.json"
launch_type = "FARGATE"
enable_execute_command = true
vars = {{ command = "api", port = 9000 }}

[services.search]
name = "{{{{ tf.services.search }}}}"
task_definition = "ecs/service.json"
launch_type = "FARGATE"
enable_execute_command = true
vars = {{ command = "search", port = 9200 }}

[services.worker]
name = "{{{{ tf.services.worker }}}}"
task_definition = "ecs/service.json"
launch_type = "FARGATE"
enable_execute_command = true
vars = {{ command = "worker" }}
"#
    ));
    std::fs::write(stack.join("wharf.toml"), toml).unwrap();
    std::fs::create_dir_all(stack.join("ecs")).unwrap();
    std::fs::write(
        stack.join("ecs/service.json"),
        r#"{
  "family": "{{ tf.services[service] }}",
  "executionRoleArn": "{{ tf.execution_role_arn }}",
  "taskRoleArn": "{{ tf.task_role_arn }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "{{ tf.services[service] }}",
      "image": "{{ image('app') }}",
      "essential": true,
      {% if vars.command %}"command": ["{{ vars.command }}"],{% endif %}
      {% if vars.port %}"portMappings": [{"containerPort": {{ vars.port }}, "protocol": "tcp"}],{% endif %}
      {% if service == "web" %}"mountPoints": [
        {"sourceVolume": "uploads", "containerPath": "/srv/uploads", "readOnly": false},
        {"sourceVolume": "catalog", "containerPath": "/srv/catalog", "readOnly": true}
      ],{% endif %}
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/ecs/{{ tf.cluster_name }}/{{ service }}",
          "awslogs-region": "{{ region }}",
          "awslogs-stream-prefix": "{{ tf.services[service] }}"
        }
      }
    }
  ]{% if service == "web" %},
  "volumes": [
    {"name": "uploads", "efsVolumeConfiguration": {"fileSystemId": "{{ tf.file_system_id }}", "transitEncryption": "ENABLED", "authorizationConfig": {"accessPointId": "{{ tf.access_point_ids.uploads }}", "iam": "DISABLED"}}},
    {"name": "catalog", "efsVolumeConfiguration": {"fileSystemId": "{{ tf.file_system_id }}", "rootDirectory": "/catalog", "transitEncryption": "ENABLED"}}
  ]{% endif %}
}
"#,
    )
    .unwrap();
    let out = wharf(&p, &stack)
        .args(["validate", "--env", "dev"])
        .output()
        .unwrap();
    assert!(out.status.success(), "validate:\n{}", text(&out));
    let out = wharf(&p, &stack)
        .args(["deploy", "--env", "dev", "--tag", "v2"])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "deploy v2:\n{said}");
    assert_all_run(&cluster, &names, &image_base, "v2");
    let described = services(&cluster, &names);
    for (label, s) in &described {
        let (arn, created) = arns_before
            .iter()
            .find(|(arn, _)| arn == &s["serviceArn"])
            .unwrap_or_else(|| panic!("{label} is one of the services Terraform created: {s}"));
        assert_eq!(&s["createdAt"], created, "{label}: {arn}");
    }
    // What Terraform set on the services stays: web and admin behind the ALB, api behind the
    // NLB, search in Cloud Map.
    assert_eq!(group_of("web"), web_group);
    let find = |label: &str| {
        described
            .iter()
            .find(|(l, _)| l == label)
            .unwrap()
            .1
            .clone()
    };
    assert_eq!(
        find("web")["loadBalancers"][0]["targetGroupArn"],
        web_group.as_str()
    );
    assert_eq!(
        find("admin")["loadBalancers"][0]["targetGroupArn"],
        admin_group.as_str()
    );
    assert!(find("api")["loadBalancers"][0]["targetGroupArn"].is_string());
    assert!(find("search")["serviceRegistries"][0]["registryArn"].is_string());
    // And Terraform has nothing to change: it leaves wharf's revisions and counts alone, and
    // wharf.toml's settings match what the module set (ECS Exec on, as the module's default;
    // without `enable_execute_command = true` wharf would turn it off and Terraform back on).
    assert_terraform_has_no_change(&stack, "v1");

    let destroy = terraform(
        &stack,
        &[
            "destroy",
            "-auto-approve",
            "-input=false",
            "-var-file=terraform.dev.tfvars",
            "-var=app_tag=v1",
        ],
    );
    assert!(destroy.status.success(), "destroy:\n{}", text(&destroy));
    let after = aws(&["ecs", "describe-clusters", "--clusters", &cluster]);
    assert_ne!(after["clusters"][0]["status"], "ACTIVE", "{after}");
}
