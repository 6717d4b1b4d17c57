//! `wharf env`, `plan`, `apply` and `tf.*` outputs with the machine's real Terraform (1.11),
//! on configurations that need no provider; outputs read from local and S3 (test bed) state.

use crate::support;

use predicates::prelude::*;
use support::{aws, Project};

const MAIN_TF: &str = r#"
variable "app_tag" {
  type    = string
  default = "none"
}

variable "label" {
  type = string
}

output "cluster_name" {
  value = "{cluster}"
}

output "tag" {
  value = var.app_tag
}

output "label" {
  value = "${var.label}-${terraform.workspace}"
}

output "services" {
  value = {}
}
"#;

const WHARF_TOML: &str = r#"
app = "{app}"
[terraform]
dir = "infra"

[environments.dev]
region = "us-east-1"
account = "123456789012"
cluster = "{{ tf.cluster_name }}"

[environments.prod]
region = "us-east-1"
account = "123456789012"

[services.web]
task_definition = "web.json"
"#;

const WEB_JSON: &str = r#"{"family": "{{ app }}-web", "containerDefinitions": [{"name": "web", "image": "busybox",
  "memory": 64, "environment": [{"name": "LABEL", "value": "{{ tf.label }}"}, {"name": "TAG", "value": "{{ tf.tag }}"}]}]}"#;

fn project() -> Project {
    Project::new(&[
        ("wharf.toml", WHARF_TOML),
        ("infra/main.tf", MAIN_TF),
        (
            "infra/terraform.dev.tfvars",
            "label = \"from-dev-tfvars\"\n",
        ),
        ("web.json", WEB_JSON),
    ])
}

fn wharf(p: &Project) -> assert_cmd::Command {
    let mut c = p.wharf();
    c.env("PATH", support::path_with_terraform())
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env_remove("TF_WORKSPACE");
    c
}

fn state(p: &Project, ws: &str) -> serde_json::Value {
    let path = p
        .path()
        .join(format!("infra/terraform.tfstate.d/{ws}/terraform.tfstate"));
    serde_json::from_slice(&std::fs::read(&path).expect("a state file")).unwrap()
}

#[test]
fn env_create_apply_with_tag_and_list() {
    let p = project();
    wharf(&p)
        .args(["env", "create", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains("workspace `dev` is ready"));
    wharf(&p)
        .args(["env", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("* dev"))
        .stdout(predicate::str::contains(
            "environments without a workspace: prod",
        ));
    wharf(&p)
        .args(["apply", "--env", "dev", "--tag", "1.0.1", "--yes"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Apply complete!"));
    let s = state(&p, "dev");
    assert_eq!(s["outputs"]["tag"]["value"], "1.0.1");
    assert_eq!(s["outputs"]["label"]["value"], "from-dev-tfvars-dev");
    // Without --tag the variable keeps its default: no bogus value is passed.
    wharf(&p)
        .args(["apply", "--env", "dev", "--yes"])
        .assert()
        .success();
    assert_eq!(state(&p, "dev")["outputs"]["tag"]["value"], "none");
    // Outputs feed templates as tf.*.
    let out = wharf(&p)
        .args(["render", "web", "--env", "dev"])
        .assert()
        .success();
    let td: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        td["containerDefinitions"][0]["environment"][0]["value"],
        "from-dev-tfvars-dev"
    );
    // JSON output keeps stdout for the document; Terraform's output goes to stderr.
    let out = wharf(&p)
        .args(["env", "list", "--output", "json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        doc["environments_without_workspace"],
        serde_json::json!(["prod"])
    );
}

#[test]
fn apply_refuses_without_yes_and_without_a_terminal() {
    let p = project();
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args(["apply", "--env", "dev", "--tag", "1"])
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "asks for approval, and there is no terminal to ask on",
        ))
        .stderr(predicate::str::contains("pass --yes"));
    assert!(!p
        .path()
        .join("infra/terraform.tfstate.d/dev/terraform.tfstate")
        .exists());
}

#[test]
fn missing_workspace_and_failing_terraform_have_their_exit_codes() {
    let p = project();
    wharf(&p)
        .args(["plan", "--env", "dev", "--terraform-only"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no workspace `dev`"))
        .stderr(predicate::str::contains("wharf env create dev"));
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args(["plan", "--env", "dev", "--tag", "2.0", "--terraform-only"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2.0"));
    // A configuration error: Terraform's exit code 1 becomes wharf's.
    p.write(
        "infra/broken.tf",
        "output \"x\" {\n  value = var.undeclared\n}\n",
    );
    wharf(&p)
        .args(["plan", "--env", "dev", "--terraform-only"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "terraform plan failed for environment `dev` (exit 1)",
        ));
    wharf(&p)
        .args(["apply", "--env", "dev", "--yes"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("terraform apply failed"));
    // An environment that wharf.toml does not have.
    wharf(&p)
        .args(["env", "create", "stage"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no environment `stage`"));
}

#[test]
fn without_a_binary_outputs_come_from_local_state() {
    let p = project();
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args(["apply", "--env", "dev", "--tag", "3.1", "--yes"])
        .assert()
        .success();
    let out = p
        .wharf()
        .env("PATH", "/usr/bin:/bin")
        .args(["render", "web", "--env", "dev"])
        .assert()
        .success();
    let td: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        td["containerDefinitions"][0]["environment"][1]["value"],
        "3.1"
    );
    // No state for prod: a clear error naming the file.
    p.write(
        "wharf.toml",
        &WHARF_TOML.replace(
            "account = \"123456789012\"\n\n[services",
            "account = \"123456789012\"\ncluster = \"{{ tf.cluster_name }}\"\n\n[services",
        ),
    );
    p.wharf()
        .env("PATH", "/usr/bin:/bin")
        .args(["render", "web", "--env", "prod"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "terraform.tfstate.d/prod/terraform.tfstate",
        ));
}

#[test]
fn without_a_binary_outputs_come_from_s3_state_of_the_workspace() {
    let p = project();
    let bucket = support::unique("tfstate").to_lowercase();
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let state = format!(
        r#"{{"version": 4, "terraform_version": "1.5.7", "serial": 1, "lineage": "x",
           "outputs": {{"cluster_name": {{"value": "{}", "type": "string"}},
                        "label": {{"value": "from-s3", "type": "string"}},
                        "tag": {{"value": "9.9", "type": "string"}}}}, "resources": []}}"#,
        p.cluster
    );
    let file = p.path().join("state.json");
    std::fs::write(&file, state).unwrap();
    aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &bucket,
        "--key",
        "env:/dev/shop/terraform.tfstate",
        "--body",
        file.to_str().unwrap(),
    ]);
    p.write(
        "wharf.toml",
        &WHARF_TOML.replace(
            "dir = \"infra\"",
            &format!("dir = \"infra\"\nstate = \"s3://{bucket}/shop/terraform.tfstate\""),
        ),
    );
    let out = p
        .wharf()
        .env("PATH", "/usr/bin:/bin")
        .args(["render", "web", "--env", "dev"])
        .assert()
        .success();
    let td: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        td["containerDefinitions"][0]["environment"][0]["value"],
        "from-s3"
    );
    // The default workspace's key has no prefix; prod has no object: the error names where it looked.
    p.write(
        "wharf.toml",
        &WHARF_TOML
            .replace(
                "dir = \"infra\"",
                &format!("dir = \"infra\"\nstate = \"s3://{bucket}/shop/terraform.tfstate\""),
            )
            .replace(
                "account = \"123456789012\"\n\n[services",
                "account = \"123456789012\"\ncluster = \"{{ tf.cluster_name }}\"\n\n[services",
            ),
    );
    p.wharf()
        .env("PATH", "/usr/bin:/bin")
        .args(["render", "web", "--env", "prod"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("s3:GetObject failed"))
        .stderr(predicate::str::contains(format!(
            "s3://{bucket}/env:/prod/shop/terraform.tfstate"
        )));
}

/// A service created outside wharf (as Terraform would), running `image`.
fn terraform_owned_service(p: &Project, name: &str, image: &str) {
    let td = format!(
        r#"{{"family": "{name}", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "512",
        "containerDefinitions": [{{"name": "main", "image": "{image}", "essential": true,
        "command": ["sh", "-c", "echo {name} is up; while true; do sleep 1; done"],
        "logConfiguration": {{"logDriver": "awslogs", "options": {{"awslogs-group": "/wharf-test/{name}",
          "awslogs-region": "us-east-1", "awslogs-stream-prefix": "main", "awslogs-create-group": "true"}}}}}}]}}"#
    );
    let file = p.path().join(format!("{name}.json"));
    std::fs::write(&file, td).unwrap();
    let registered = aws(&[
        "ecs",
        "register-task-definition",
        "--cli-input-json",
        &format!("file://{}", file.display()),
    ]);
    let arn = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap();
    let subnet = support::subnet();
    let vpc = aws(&["ec2", "describe-subnets", "--subnet-ids", &subnet])["Subnets"][0]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let groups = aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        &format!("Name=vpc-id,Values={vpc}"),
    ]);
    let group = groups["SecurityGroups"][0]["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "ecs",
        "create-service",
        "--cluster",
        &p.cluster,
        "--service-name",
        name,
        "--task-definition",
        arn,
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &format!(
            "awsvpcConfiguration={{subnets=[{subnet}],securityGroups=[{group}],assignPublicIp=DISABLED}}"
        ),
    ]);
}

/// The seed's layout: `terraform/` with terraform.<env>.tfvars and the outputs ecs-app-utils
/// required, and a wharf.toml with nothing but the app and the environment.
/// The seed's layout with one Terraform-owned service, `web` (its ECS name returned): a
/// wharf.toml with nothing but the app and the environment, `terraform/` with the outputs
/// ecs-app-utils required.
fn seed_project() -> (Project, String) {
    let p = Project::new(&[(
        "wharf.toml",
        "app = \"{app}\"\n[environments.dev]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{endpoint}\"\n",
    )]);
    let web = support::unique("web");
    terraform_owned_service(&p, &web, &support::busybox_image());
    p.write(
        "terraform/main.tf",
        &format!(
            r#"variable "app_tag" {{
  type = string
}}

variable "env_label" {{
  type = string
}}

variable "services" {{
  type = map(string)
}}

output "cluster_name" {{
  value = "{{cluster}}"
}}

output "services" {{
  value = var.services
}}

output "job_task_definition_family" {{
  value = "{web}"
}}

output "subnet_ids" {{
  value = ["{{subnet}}"]
}}

output "security_group" {{
  value = "sg-1"
}}

output "image" {{
  value = "app:${{var.app_tag}}-${{var.env_label}}"
}}
"#
        ),
    );
    p.write(
        "terraform/terraform.dev.tfvars",
        &format!("env_label = \"dev\"\nservices = {{ web = \"{web}\" }}\n"),
    );
    (p, web)
}

#[test]
fn seed_layout_apply_watches_the_services_terraform_owns() {
    let (p, web) = seed_project();
    let broken = support::unique("broken");
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args([
            "apply",
            "--tag",
            "1.0.1",
            "--env",
            "dev",
            "--yes",
            "--timeout",
            "2m",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "watching Terraform-owned services: {web}"
        )));
    let s: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            p.path()
                .join("terraform/terraform.tfstate.d/dev/terraform.tfstate"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(s["outputs"]["image"]["value"], "app:1.0.1-dev");
    // A Terraform-owned service whose image does not exist: the watch fails with exit 1.
    terraform_owned_service(
        &p,
        &broken,
        &format!("{}/wharf-test/missing:1", support::registry()),
    );
    p.write(
        "terraform/terraform.dev.tfvars",
        &format!("env_label = \"dev\"\nservices = {{ web = \"{web}\", broken = \"{broken}\" }}\n"),
    );
    wharf(&p)
        .args([
            "apply",
            "--tag",
            "1.0.2",
            "--env",
            "dev",
            "--yes",
            "--timeout",
            "2m",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(&broken))
        .stderr(predicate::str::contains("CannotPullContainerError"));
}

/// A project whose configuration has an S3 backend (on the test bed) and was never initialised,
/// as a fresh clone of `examples/stack` is: `env create` initialises it, creates the workspace
/// (its state goes under `env:/dev/` in the bucket), `env list` and `env init` work, and a second
/// environment can be created after the first.
#[test]
fn env_create_init_and_list_initialise_an_s3_backend() {
    let p = project();
    let bucket = support::unique("tfstate");
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let endpoint = support::endpoint();
    p.write(
        "infra/backend.tf",
        &format!(
            r#"terraform {{
  backend "s3" {{
    bucket                      = "{bucket}"
    key                         = "app/terraform.tfstate"
    region                      = "us-east-1"
    workspace_key_prefix        = "env:"
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
"#
        ),
    );
    // Before: Terraform itself refuses to list workspaces.
    let before = std::process::Command::new(support::terraform_bin())
        .current_dir(p.path().join("infra"))
        .args(["workspace", "list", "-no-color"])
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .unwrap();
    assert!(!before.status.success());
    assert!(
        String::from_utf8_lossy(&before.stderr).contains("Backend initialization required"),
        "{}",
        String::from_utf8_lossy(&before.stderr)
    );
    wharf(&p)
        .args(["env", "create", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains("initialised the backend"))
        .stderr(predicate::str::contains("workspace `dev` is ready"));
    wharf(&p)
        .args(["apply", "--env", "dev", "--tag", "2.0.0", "--yes"])
        .assert()
        .success();
    let listed = aws(&["s3api", "list-objects-v2", "--bucket", &bucket]);
    assert!(
        listed
            .to_string()
            .contains("env:/dev/app/terraform.tfstate"),
        "{listed}"
    );
    wharf(&p)
        .args(["env", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("* dev"))
        .stdout(predicate::str::contains(
            "environments without a workspace: prod",
        ));
    wharf(&p).args(["env", "create", "prod"]).assert().success();
    wharf(&p)
        .args(["env", "init", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains("workspace `dev` is ready"));
    // A fresh clone (no .terraform folder) lists what the bucket holds.
    std::fs::remove_dir_all(p.path().join("infra/.terraform")).unwrap();
    wharf(&p)
        .args(["env", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("dev"))
        .stdout(predicate::str::contains("prod"));
}

/// In the seed's layout (services only in Terraform's `services` output, no `cluster` in
/// wharf.toml), status, redeploy, wait and rollback find the services and the cluster from the
/// outputs, by label or ECS name.
#[test]
fn status_redeploy_wait_and_rollback_act_on_the_services_terraform_owns() {
    let (p, web) = seed_project();
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args([
            "apply",
            "--tag",
            "1",
            "--env",
            "dev",
            "--yes",
            "--timeout",
            "2m",
        ])
        .assert()
        .success();
    let out = wharf(&p)
        .args(["status", "--env", "dev"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains(&web), "{stdout}");
    assert!(stdout.contains(&format!("{web}:1")), "{stdout}");
    wharf(&p)
        .args(["redeploy", "--env", "dev", "--timeout", "2m"])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "{web}: new deployment of {web}:1"
        )));
    // By label (the key of the `services` output) as well as by ECS name.
    wharf(&p)
        .args(["wait", "--env", "dev", "web", "--timeout", "2m"])
        .assert()
        .success();
    wharf(&p)
        .args(["wait", "--env", "dev", &web, "--timeout", "2m"])
        .assert()
        .success();
    // Terraform moves the service to a second revision; rollback takes it back to the first.
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &format!("{web}:1"),
    ]);
    let mut second = td["taskDefinition"].clone();
    for field in wharf::project::taskdef::READ_ONLY_FIELDS {
        second.as_object_mut().unwrap().remove(*field);
    }
    second["containerDefinitions"][0]["environment"] =
        serde_json::json!([{"name": "REVISION", "value": "2"}]);
    let file = p.path().join("second.json");
    std::fs::write(&file, second.to_string()).unwrap();
    aws(&[
        "ecs",
        "register-task-definition",
        "--cli-input-json",
        &format!("file://{}", file.display()),
    ]);
    aws(&[
        "ecs",
        "update-service",
        "--cluster",
        &p.cluster,
        "--service",
        &web,
        "--task-definition",
        &format!("{web}:2"),
    ]);
    wharf(&p)
        .args(["wait", "--env", "dev", "--timeout", "2m"])
        .assert()
        .success();
    wharf(&p)
        .args(["rollback", "--env", "dev", "--yes", "--timeout", "2m"])
        .assert()
        .success();
    let service = &aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        &p.cluster,
        "--services",
        &web,
    ])["services"][0];
    assert!(
        service["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{web}:1")),
        "{service}"
    );
    // Its logs, and a one-off command in the revision it runs, in its network.
    wharf(&p)
        .args(["logs", "--env", "dev", "web", "--since", "30m"])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("{web} is up")));
    wharf(&p)
        .args([
            "run",
            "--service",
            "web",
            "--env",
            "dev",
            "--timeout",
            "2m",
            "--",
            "sh",
            "-c",
            "echo one-off in the terraform revision",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "one-off in the terraform revision",
        ));
    // ecs-app-utils' `bin/deploy fargate`: no job named, the family of Terraform's
    // `job_task_definition_family` output, in the `subnet_ids`/`security_group` outputs' network.
    wharf(&p)
        .args([
            "run",
            "--env",
            "dev",
            "--timeout",
            "2m",
            "--",
            "sh",
            "-c",
            "echo the terraform job ran",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("the terraform job ran"))
        .stderr(
            predicate::str::is_match(format!(
                r"started task \S+ \({web}:\d+\) for Terraform's `job_task_definition_family`"
            ))
            .unwrap(),
        );
    wharf(&p)
        .args(["run", "--env", "dev", "--tag", "9", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "is registered by Terraform, so --tag does not apply",
        ));
    wharf(&p)
        .args([
            "run",
            "--service",
            "web",
            "--env",
            "dev",
            "--tag",
            "9",
            "--",
            "true",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--tag does not apply"));
    // A name that is neither: exit 2, naming what there is.
    wharf(&p)
        .args(["status", "--env", "dev", "nope"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no service `nope` in wharf.toml or in Terraform's `services` output (known: web)",
        ));
}

/// `wharf plan` on an environment never applied: Terraform's saved plan gives the outputs it
/// would leave, those known only after apply are named and shown as unresolved, and a cluster
/// Terraform has yet to create means every service would be created.
#[test]
fn plan_before_the_first_apply_reads_the_planned_outputs() {
    let main_tf = r#"
variable "app_tag" {
  type    = string
  default = "none"
}

resource "terraform_data" "role" {
  input = var.app_tag
}

output "cluster_name" {
  value = "{cluster}-not-yet"
}

output "role_id" {
  value = terraform_data.role.id
}

output "label" {
  value = "planned-${terraform.workspace}"
}
"#;
    let web = r#"{"family": "{{ app }}-web", "containerDefinitions": [{"name": "web", "image": "busybox",
  "memory": 64, "environment": [{"name": "ROLE", "value": "{{ tf.role_id }}"}, {"name": "LABEL", "value": "{{ tf.label }}"}]}]}"#;
    let p = Project::new(&[("wharf.toml", WHARF_TOML), ("web.json", web)]);
    p.write("infra/main.tf", &main_tf.replace("{cluster}", &p.cluster));
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    let out = wharf(&p)
        .args(["plan", "--env", "dev", "--tag", "1"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("known only after apply (shown as ⟨unresolved:…⟩ below): tf.role_id"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "cluster {}-not-yet does not exist yet: every service would be created",
            p.cluster
        )),
        "{stdout}"
    );
    assert!(stdout.contains("⟨unresolved:tf.role_id⟩"), "{stdout}");
    assert!(stdout.contains("planned-dev"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_slice(
        &wharf(&p)
            .args(["plan", "--env", "dev", "--tag", "1", "--output", "json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(doc["known_after_apply"], serde_json::json!(["tf.role_id"]));
    assert_eq!(doc["cluster_exists"], serde_json::json!(false));
    assert_eq!(doc["services"][0]["action"], serde_json::json!("create"));
    // Nothing was applied by the plans; after an apply every output is known.
    assert!(!p
        .path()
        .join("infra/terraform.tfstate.d/dev/terraform.tfstate")
        .exists());
    wharf(&p)
        .args(["apply", "--env", "dev", "--tag", "1", "--yes"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(
        &wharf(&p)
            .args(["plan", "--env", "dev", "--tag", "1", "--output", "json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(doc["known_after_apply"], serde_json::json!([]));
}
