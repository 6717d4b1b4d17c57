//! Switching a service of the `service` module from Terraform-owned (`wharf_deploys = false`) to
//! wharf-deployed (`true`) and back, with the real AWS provider on the test bed: `wharf plan`
//! says the service would be destroyed and created and that `wharf apply` keeps it instead;
//! `wharf apply` moves it in the state first, so the ECS service is the same one afterwards (its
//! creation time unchanged) and a plain `terraform plan` then has nothing to destroy.

use std::path::Path;
use std::process::Output;

use predicates::prelude::*;

use crate::support::{self, aws, Project};
use crate::terraform_apply_e2e::{provider_for_the_test_bed, terraform_command};

fn wharf(p: &Project) -> assert_cmd::Command {
    let mut c = p.wharf();
    // The real provider comes from the machine's mirror, named by the CLI config that
    // `scripts/testbed install` wrote; TF_CLI_CONFIG_FILE stays as the environment has it.
    c.env("PATH", support::path_with_terraform())
        .env_remove("TF_WORKSPACE");
    c
}

/// Terraform in the `dev` workspace of `dir`.
fn terraform(dir: &Path, args: &[&str]) -> Output {
    terraform_command(dir, args)
        .env("TF_WORKSPACE", "dev")
        .output()
        .expect("terraform runs")
}

fn main_tf(p: &Project, service: &str) -> String {
    let (role, subnet) = (
        aws(&[
            "iam",
            "create-role",
            "--role-name",
            &support::unique("exec"),
            "--assume-role-policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        ])["Role"]["Arn"]
            .as_str()
            .unwrap()
            .to_string(),
        support::subnet(),
    );
    let sg = aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        &support::unique("sg"),
        "--description",
        "switch test",
    ])["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    format!(
        r#"terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }}
  }}
}}

{provider}
variable "wharf_deploys" {{
  type = bool
}}

data "aws_ecs_cluster" "this" {{
  cluster_name = "{cluster}"
}}

resource "aws_cloudwatch_log_group" "web" {{
  name = "/{service}"
}}

module "web" {{
  source             = "./modules/service"
  name               = "{service}"
  cluster_arn        = data.aws_ecs_cluster.this.arn
  region             = "us-east-1"
  image              = "{image}"
  command            = ["sh", "-c", "sleep 3600"]
  memory             = 512
  execution_role_arn = "{role}"
  subnet_ids         = ["{subnet}"]
  security_group_ids = ["{sg}"]
  log_group_name     = aws_cloudwatch_log_group.web.name
  wharf_deploys      = var.wharf_deploys
}}

output "cluster_name" {{
  value = "{cluster}"
}}

output "services" {{
  value = {{ web = module.web.service_name }}
}}
"#,
        provider = provider_for_the_test_bed(),
        cluster = p.cluster,
        image = support::busybox_image(),
    )
}

fn created_at(p: &Project, service: &str) -> (String, serde_json::Value) {
    let s = p.service(service);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    (
        s["serviceArn"].as_str().unwrap().to_string(),
        s["createdAt"].clone(),
    )
}

#[test]
fn switching_wharf_deploys_keeps_the_service_and_plans_nothing_to_destroy() {
    let p = Project::new(&[(
        "wharf.toml",
        "app = \"{app}\"\n[terraform]\ndir = \"infra\"\n[environments.dev]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{endpoint}\"\n",
    )]);
    let service = support::unique("web");
    p.write("infra/main.tf", &main_tf(&p, &service));
    support::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("terraform/modules/service"),
        &p.path().join("infra/modules/service"),
    );
    p.write("infra/terraform.dev.tfvars", "wharf_deploys = false\n");
    wharf(&p).args(["env", "create", "dev"]).assert().success();
    wharf(&p)
        .args(["apply", "--env", "dev", "--yes", "--no-wait"])
        .assert()
        .success();
    let before = created_at(&p, &service);
    let infra = p.path().join("infra");
    let list = terraform(&infra, &["state", "list"]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("module.web.aws_ecs_service.terraform[0]"),
        "{list:?}"
    );

    // Switch to wharf-deployed: the plan shows Terraform's replace and says wharf keeps it.
    p.write("infra/terraform.dev.tfvars", "wharf_deploys = true\n");
    wharf(&p)
        .args(["plan", "--env", "dev"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "module.web.aws_ecs_service.terraform[0] becomes module.web.aws_ecs_service.wharf[0]",
        ));
    wharf(&p)
        .args(["apply", "--env", "dev", "--yes", "--no-wait"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "moving module.web.aws_ecs_service.terraform[0] to module.web.aws_ecs_service.wharf[0]",
        ))
        .stdout(predicate::str::contains("0 destroyed"));
    assert_eq!(
        created_at(&p, &service),
        before,
        "the same service, not a new one"
    );
    let list = String::from_utf8_lossy(&terraform(&infra, &["state", "list"]).stdout).into_owned();
    assert!(
        list.contains("module.web.aws_ecs_service.wharf[0]"),
        "{list}"
    );
    assert!(!list.contains("aws_ecs_service.terraform"), "{list}");
    // A plain Terraform plan now has no change at all (exit 0 with -detailed-exitcode).
    let plan = terraform(
        &infra,
        &[
            "plan",
            "-detailed-exitcode",
            "-input=false",
            "-var-file=terraform.dev.tfvars",
        ],
    );
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&plan.stdout),
        String::from_utf8_lossy(&plan.stderr)
    );

    // And back to Terraform-owned: the same service still.
    p.write("infra/terraform.dev.tfvars", "wharf_deploys = false\n");
    wharf(&p)
        .args(["apply", "--env", "dev", "--yes", "--no-wait"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "moving module.web.aws_ecs_service.wharf[0] to module.web.aws_ecs_service.terraform[0]",
        ))
        .stdout(predicate::str::contains("0 destroyed"));
    assert_eq!(created_at(&p, &service), before);

    wharf(&p)
        .args(["apply", "--env", "dev", "--yes", "--no-wait"])
        .assert()
        .success()
        .stderr(predicate::str::contains("moving").not());
    let destroy = terraform(
        &infra,
        &[
            "destroy",
            "-auto-approve",
            "-input=false",
            "-var-file=terraform.dev.tfvars",
        ],
    );
    assert!(destroy.status.success(), "{destroy:?}");
}
