//! The Terraform modules with the real AWS provider (5.100.0, from the machine's filesystem mirror
//! that `scripts/testbed install` configures): every module validates, and the example stack
//! applies against the test bed, its resources are there as the AWS CLI sees them, and it is
//! destroyed again. The only change to the stack is an override file pointing the provider at the
//! test bed and the state at a local backend (the S3 backend of the example names a real bucket).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::{self, aws};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// terraform/ and examples/stack laid out as in the repository (the stack's module sources are
/// relative), in a fresh folder, so that init writes nothing into the checkout.
fn layout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&root().join("terraform"), &dir.path().join("terraform"));
    support::copy_dir(
        &root().join("examples/stack"),
        &dir.path().join("examples/stack"),
    );
    dir
}

fn terraform(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::terraform_bin())
        .current_dir(dir)
        .args(args)
        .arg("-no-color")
        .envs(support::aws_env())
        .env("TF_IN_AUTOMATION", "1")
        .output()
        .expect("terraform runs")
}

fn ok(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "terraform {what}:\n{text}");
    text
}

/// The AWS provider pointed at the test bed (no credentials check, path-style S3).
fn provider_for_the_test_bed() -> String {
    let endpoint = support::endpoint();
    let services = [
        "autoscaling",
        "cloudwatch",
        "ec2",
        "ecr",
        "ecs",
        "efs",
        "elbv2",
        "iam",
        "kms",
        "logs",
        "s3",
        "servicediscovery",
        "ssm",
        "sts",
    ]
    .map(|s| format!("    {s} = \"{endpoint}\"\n"))
    .concat();
    format!(
        "provider \"aws\" {{\n  region                      = \"us-east-1\"\n  access_key                  = \"testing\"\n  secret_key                  = \"testing\"\n  skip_credentials_validation = true\n  skip_metadata_api_check     = true\n  s3_use_path_style           = true\n  endpoints {{\n{services}  }}\n}}\n"
    )
}

/// A VPC of the test bed with two subnets in two zones.
fn network(cidr_prefix: &str) -> (String, String, String) {
    let vpc = aws(&[
        "ec2",
        "create-vpc",
        "--cidr-block",
        &format!("{cidr_prefix}.0.0/16"),
    ])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = |third: u8, az: &str| {
        aws(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            &format!("{cidr_prefix}.{third}.0/24"),
            "--availability-zone",
            az,
        ])["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (a, b) = (subnet(1, "us-east-1a"), subnet(2, "us-east-1b"));
    (vpc, a, b)
}

#[test]
fn every_module_validates_with_the_real_provider() {
    let dir = layout();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir.path().join("terraform/modules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.push(dir.path().join("examples/stack"));
    assert!(dirs.len() >= 6, "{dirs:?}");
    for d in &dirs {
        let init = terraform(d, &["init", "-backend=false", "-input=false"]);
        let text = ok(&format!("init in {}", d.display()), &init);
        assert!(
            text.contains("hashicorp/aws v5.100.0"),
            "the provider comes from the mirror: {text}"
        );
        ok(
            &format!("validate in {}", d.display()),
            &terraform(d, &["validate"]),
        );
    }
}

#[test]
fn the_example_stack_applies_against_the_test_bed_and_is_destroyed() {
    support::require_testbed();
    let dir = layout();
    let stack = dir.path().join("examples/stack");
    let app = support::unique("tfs").replace('-', "");
    let (vpc, a, b) = network("10.77");
    std::fs::write(
        stack.join("testbed_override.tf"),
        format!(
            "terraform {{\n  backend \"local\" {{}}\n}}\n\n{}",
            provider_for_the_test_bed()
        ),
    )
    .unwrap();
    std::fs::write(
        stack.join("testbed.tfvars"),
        format!(
            "app = \"{app}\"\nregistry = \"{}\"\nvpc_id = \"{vpc}\"\npublic_subnet_ids = [\"{a}\", \"{b}\"]\nprivate_subnet_ids = [\"{a}\", \"{b}\"]\nweb_count = 0\n",
            support::registry()
        ),
    )
    .unwrap();
    ok("init", &terraform(&stack, &["init", "-input=false"]));
    ok(
        "workspace new",
        &terraform(&stack, &["workspace", "new", "dev"]),
    );
    let apply = ok(
        "apply",
        &terraform(
            &stack,
            &[
                "apply",
                "-auto-approve",
                "-input=false",
                "-var-file=testbed.tfvars",
                "-var=app_tag=1.0.1",
            ],
        ),
    );
    assert!(apply.contains("Apply complete!"), "{apply}");
    let outputs: serde_json::Value =
        serde_json::from_slice(&terraform(&stack, &["output", "-json"]).stdout).unwrap();
    let cluster = outputs["cluster_name"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(cluster, format!("{app}-dev"));

    // What Terraform created, as the AWS CLI sees it.
    let described = aws(&[
        "ecs",
        "describe-clusters",
        "--clusters",
        &cluster,
        "--include",
        "SETTINGS",
    ]);
    assert_eq!(described["clusters"][0]["status"], "ACTIVE", "{described}");
    assert_eq!(
        described["clusters"][0]["settings"],
        serde_json::json!([{"name": "containerInsights", "value": "enabled"}]),
        "Container Insights is on by default: {described}"
    );
    let groups = aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &format!("/ecs/{cluster}/"),
    ]);
    let groups = groups["logGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "web, worker, migrate and exec: {groups:?}");
    assert!(
        groups.iter().all(|g| g["retentionInDays"] == 30),
        "{groups:?}"
    );
    let names: Vec<String> = outputs["services"]["value"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2, "{outputs}");
    let mut args = vec![
        "ecs",
        "describe-services",
        "--cluster",
        &cluster,
        "--services",
    ];
    args.extend(names.iter().map(String::as_str));
    let svcs = aws(&args);
    for s in svcs["services"].as_array().unwrap() {
        assert_eq!(s["status"], "ACTIVE", "{s}");
        assert_eq!(s["launchType"], "FARGATE", "{s}");
        let td = aws(&[
            "ecs",
            "describe-task-definition",
            "--task-definition",
            s["taskDefinition"].as_str().unwrap(),
        ]);
        let image = td["taskDefinition"]["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(image.ends_with(&format!("/{app}/app:1.0.1")), "{image}");
    }
    let web = svcs["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["serviceName"] == format!("{app}-dev-web"))
        .expect("the web service");
    let target_group = web["loadBalancers"][0]["targetGroupArn"]
        .as_str()
        .expect("web is behind the load balancer")
        .to_string();
    let rules = aws(&[
        "elbv2",
        "describe-target-groups",
        "--target-group-arns",
        &target_group,
    ]);
    // A readable prefix and a hash: 32 characters at most, never colliding after truncation.
    let group_name = rules["TargetGroups"][0]["TargetGroupName"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, hash) = group_name.rsplit_once('-').unwrap();
    assert!(
        group_name.len() <= 32 && hash.len() == 8 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{group_name}"
    );
    let lb = rules["TargetGroups"][0]["LoadBalancerArns"][0]
        .as_str()
        .expect("the target group is attached to the load balancer")
        .to_string();
    let listeners = aws(&["elbv2", "describe-listeners", "--load-balancer-arn", &lb]);
    assert!(
        !listeners["Listeners"].as_array().unwrap().is_empty(),
        "{listeners}"
    );
    let role = aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &format!("{app}-dev-execution"),
    ]);
    assert!(
        role.to_string()
            .contains("AmazonECSTaskExecutionRolePolicy"),
        "{role}"
    );

    let destroy = ok(
        "destroy",
        &terraform(
            &stack,
            &[
                "destroy",
                "-auto-approve",
                "-input=false",
                "-var-file=testbed.tfvars",
                "-var=app_tag=1.0.1",
            ],
        ),
    );
    assert!(destroy.contains("Destroy complete!"), "{destroy}");
    let after = aws(&["ecs", "describe-clusters", "--clusters", &cluster]);
    assert_ne!(after["clusters"][0]["status"], "ACTIVE", "{after}");
}

/// The EC2 capacity module: its Auto Scaling group's instances (the ECS-optimized AMI from SSM)
/// join the cluster as container instances, the capacity provider has managed scaling and
/// managed termination protection, and `terraform destroy` ends (the group is force-deleted:
/// scale-in protection would otherwise keep its instances forever).
#[test]
fn the_ec2_capacity_module_joins_instances_to_the_cluster_and_is_destroyed() {
    support::require_testbed();
    let dir = layout();
    let root = dir.path().join("capacity");
    std::fs::create_dir(&root).unwrap();
    let cluster = support::unique("cap");
    let (vpc, a, b) = network("10.78");
    let group = aws(&[
        "ec2",
        "create-security-group",
        "--group-name",
        &cluster,
        "--description",
        "container instances",
        "--vpc-id",
        &vpc,
    ])["GroupId"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(
        root.join("main.tf"),
        format!(
            r#"terraform {{
  required_providers {{
    aws = {{
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }}
  }}
}}

{}
resource "aws_ecs_cluster" "this" {{
  name = "{cluster}"
}}

module "capacity" {{
  source             = "../terraform/modules/ec2_capacity"
  cluster_name       = aws_ecs_cluster.this.name
  name               = "{cluster}-ec2"
  subnet_ids         = ["{a}", "{b}"]
  security_group_ids = ["{group}"]
  desired_capacity   = 2
}}
"#,
            provider_for_the_test_bed()
        ),
    )
    .unwrap();
    ok("init", &terraform(&root, &["init", "-input=false"]));
    ok(
        "apply",
        &terraform(&root, &["apply", "-auto-approve", "-input=false"]),
    );
    let instances = aws(&["ecs", "list-container-instances", "--cluster", &cluster]);
    let arns: Vec<&str> = instances["containerInstanceArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(arns.len(), 2, "{instances}");
    let mut args = vec![
        "ecs",
        "describe-container-instances",
        "--cluster",
        &cluster,
        "--container-instances",
    ];
    args.extend(arns.iter().copied());
    let described = aws(&args);
    for i in described["containerInstances"].as_array().unwrap() {
        assert_eq!(i["status"], "ACTIVE", "{i}");
        assert_eq!(i["agentConnected"], true, "{i}");
    }
    let provider = aws(&[
        "ecs",
        "describe-capacity-providers",
        "--capacity-providers",
        &format!("{cluster}-ec2"),
    ]);
    let asg = &provider["capacityProviders"][0]["autoScalingGroupProvider"];
    assert_eq!(asg["managedScaling"]["status"], "ENABLED", "{provider}");
    assert_eq!(asg["managedTerminationProtection"], "ENABLED", "{provider}");
    let destroy = ok(
        "destroy",
        &terraform(&root, &["destroy", "-auto-approve", "-input=false"]),
    );
    assert!(destroy.contains("Destroy complete!"), "{destroy}");
}
