//! The Terraform modules with the real AWS provider (5.100.0, from the machine's filesystem mirror
//! that `scripts/testbed install` configures): every module validates, and the example stack
//! applies against the test bed, its resources are there as the AWS CLI sees them, and it is
//! destroyed again. The only change to the stack is an override file pointing the provider at the
//! test bed and the state at a local backend (the S3 backend of the example names a real bucket).
//!
//! The stack's one apply covers every module but ec2_capacity (applied on its own below): the
//! ALB with HTTPS and the HTTP redirect, the NLB with its TCP listener and `ip` target group, the
//! Cloud Map namespace and a discoverable service in it, and EFS (mount targets, NFS rule, an
//! access point) mounted as two volumes by the web task.
//!
//! What moto (5.2.1) gets wrong here, and the test therefore does not check: a network load
//! balancer's ARN says `loadbalancer/app/...` (AWS: `loadbalancer/net/...`), and listeners that
//! have no TLS (HTTP, TCP) report `SslPolicy` ELBSecurityPolicy-2016-08 (AWS reports none).

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

/// `terraform ARGS -no-color` in `dir`, pointed at the test bed.
pub(crate) fn terraform_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(support::terraform_bin());
    c.current_dir(dir)
        .args(args)
        .arg("-no-color")
        .envs(support::aws_env())
        .env("TF_IN_AUTOMATION", "1");
    c
}

fn terraform(dir: &Path, args: &[&str]) -> Output {
    terraform_command(dir, args)
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
pub(crate) fn provider_for_the_test_bed() -> String {
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
pub(crate) fn network(cidr_prefix: &str) -> (String, String, String) {
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
    // The stack is applied as production would be: HTTPS with a certificate (moto's ACM issues
    // one), HTTP redirected to it.
    let certificate = aws(&[
        "acm",
        "request-certificate",
        "--domain-name",
        &format!("{app}.example.test"),
    ])["CertificateArn"]
        .as_str()
        .unwrap()
        .to_string();
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
            "app = \"{app}\"\nregistry = \"{}\"\nvpc_id = \"{vpc}\"\npublic_subnet_ids = [\"{a}\", \"{b}\"]\nprivate_subnet_ids = [\"{a}\", \"{b}\"]\ncertificate_arn = \"{certificate}\"\nweb_count = 0\nadmin_count = 0\napi_count = 0\nsearch_count = 0\n",
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
    assert_eq!(
        groups.len(),
        7,
        "web, admin, api, search, worker, migrate and exec: {groups:?}"
    );
    for g in groups {
        let days = if g["logGroupName"] == format!("/ecs/{cluster}/exec") {
            365 // the ECS Exec audit trail
        } else {
            30
        };
        assert_eq!(g["retentionInDays"], days, "{g}");
    }
    let names: Vec<String> = outputs["services"]["value"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 5, "web, admin, api, search, worker: {outputs}");
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
    let listeners = listeners["Listeners"].as_array().unwrap();
    let on_port = |port: u16| {
        listeners
            .iter()
            .find(|l| l["Port"] == port)
            .unwrap_or_else(|| panic!("a listener on {port}: {listeners:?}"))
    };
    assert_eq!(listeners.len(), 2, "{listeners:?}");
    let http = on_port(80);
    assert_eq!(http["Protocol"], "HTTP", "{http}");
    let redirect = &http["DefaultActions"][0];
    assert_eq!(redirect["Type"], "redirect", "{http}");
    assert_eq!(redirect["RedirectConfig"]["Protocol"], "HTTPS", "{http}");
    assert_eq!(redirect["RedirectConfig"]["Port"], "443", "{http}");
    assert_eq!(
        redirect["RedirectConfig"]["StatusCode"], "HTTP_301",
        "{http}"
    );
    let https = on_port(443);
    assert_eq!(https["Protocol"], "HTTPS", "{https}");
    assert_eq!(
        https["SslPolicy"], "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "{https}"
    );
    assert_eq!(https["Certificates"][0]["CertificateArn"], certificate);
    // The routes live on the HTTPS listener.
    let rules = aws(&[
        "elbv2",
        "describe-rules",
        "--listener-arn",
        https["ListenerArn"].as_str().unwrap(),
    ]);
    assert!(
        rules["Rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Actions"][0]["TargetGroupArn"] == target_group.as_str()),
        "the web route forwards from the HTTPS listener: {rules}"
    );

    // The api service behind the network load balancer: a TCP listener forwarding to an `ip`
    // target group with TCP health checks.
    let service = |name: &str| {
        svcs["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["serviceName"] == format!("{app}-dev-{name}"))
            .unwrap_or_else(|| panic!("the {name} service: {svcs}"))
            .clone()
    };
    let api = service("api");
    assert_eq!(api["loadBalancers"][0]["containerPort"], 9000, "{api}");
    let api_group = aws(&[
        "elbv2",
        "describe-target-groups",
        "--target-group-arns",
        api["loadBalancers"][0]["targetGroupArn"].as_str().unwrap(),
    ]);
    let api_group = &api_group["TargetGroups"][0];
    assert_eq!(api_group["Protocol"], "TCP", "{api_group}");
    assert_eq!(api_group["TargetType"], "ip", "{api_group}");
    assert_eq!(api_group["Port"], 9000, "{api_group}");
    assert_eq!(api_group["HealthCheckProtocol"], "TCP", "{api_group}");
    let nlb = aws(&[
        "elbv2",
        "describe-load-balancers",
        "--load-balancer-arns",
        api_group["LoadBalancerArns"][0].as_str().unwrap(),
    ]);
    let nlb = &nlb["LoadBalancers"][0];
    assert_eq!(nlb["Type"], "network", "{nlb}");
    assert_eq!(nlb["LoadBalancerName"], format!("{app}-dev-api"), "{nlb}");
    assert_eq!(nlb["DNSName"], outputs["api_dns_name"]["value"], "{nlb}");
    let nlb_listeners = aws(&[
        "elbv2",
        "describe-listeners",
        "--load-balancer-arn",
        nlb["LoadBalancerArn"].as_str().unwrap(),
    ]);
    let tcp = &nlb_listeners["Listeners"];
    assert_eq!(tcp.as_array().unwrap().len(), 1, "{nlb_listeners}");
    assert_eq!(tcp[0]["Protocol"], "TCP", "{nlb_listeners}");
    assert_eq!(tcp[0]["Port"], 9000, "{nlb_listeners}");
    assert_eq!(tcp[0]["DefaultActions"][0]["Type"], "forward");
    assert_eq!(
        tcp[0]["DefaultActions"][0]["TargetGroupArn"],
        api_group["TargetGroupArn"]
    );

    // The Cloud Map namespace of the cluster, and the search service registered in it.
    let namespaces = aws(&["servicediscovery", "list-namespaces"]);
    let namespace = namespaces["Namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["Name"] == format!("{app}-dev.internal"))
        .unwrap_or_else(|| panic!("the namespace: {namespaces}"));
    assert_eq!(namespace["Type"], "DNS_PRIVATE", "{namespace}");
    assert_eq!(
        outputs["discovery_namespace"]["value"],
        format!("{app}-dev.internal")
    );
    let search = service("search");
    let registry = aws(&[
        "servicediscovery",
        "get-service",
        "--id",
        search["serviceRegistries"][0]["registryArn"]
            .as_str()
            .expect("search is registered in Cloud Map")
            .rsplit('/')
            .next()
            .unwrap(),
    ]);
    assert_eq!(registry["Service"]["Name"], format!("{app}-dev-search"));
    // AWS returns the namespace as Service.NamespaceId (and, deprecated, in DnsConfig); moto
    // only in DnsConfig.
    let registered_in = match &registry["Service"]["NamespaceId"] {
        serde_json::Value::Null => &registry["Service"]["DnsConfig"]["NamespaceId"],
        id => id,
    };
    assert_eq!(registered_in, &namespace["Id"], "{registry}");

    // EFS: encrypted, a mount target in each subnet behind a group that admits NFS from the
    // tasks' group, an access point, and the web task mounting two volumes.
    let fs_id = outputs["file_system_id"]["value"].as_str().unwrap();
    let fs = aws(&["efs", "describe-file-systems", "--file-system-id", fs_id]);
    assert_eq!(fs["FileSystems"][0]["Encrypted"], true, "{fs}");
    let targets = aws(&["efs", "describe-mount-targets", "--file-system-id", fs_id]);
    let mut subnets: Vec<&str> = targets["MountTargets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["SubnetId"].as_str().unwrap())
        .collect();
    subnets.sort();
    let mut want = vec![a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(subnets, want, "{targets}");
    let target_groups = aws(&[
        "efs",
        "describe-mount-target-security-groups",
        "--mount-target-id",
        targets["MountTargets"][0]["MountTargetId"]
            .as_str()
            .unwrap(),
    ]);
    let efs_group = target_groups["SecurityGroups"][0].as_str().unwrap();
    let efs_rules = aws(&[
        "ec2",
        "describe-security-group-rules",
        "--filters",
        &format!("Name=group-id,Values={efs_group}"),
    ]);
    let tasks_group = outputs["security_group"]["value"].as_str().unwrap();
    assert!(
        efs_rules["SecurityGroupRules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["IsEgress"] == false
                && r["IpProtocol"] == "tcp"
                && r["FromPort"] == 2049
                && r["ToPort"] == 2049
                && r["ReferencedGroupInfo"]["GroupId"] == tasks_group),
        "NFS from the tasks' group: {efs_rules}"
    );
    let points = aws(&["efs", "describe-access-points", "--file-system-id", fs_id]);
    let point = &points["AccessPoints"][0];
    assert_eq!(point["RootDirectory"]["Path"], "/uploads", "{points}");
    let web_td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        web["taskDefinition"].as_str().unwrap(),
    ]);
    let td = &web_td["taskDefinition"];
    let volume = |name: &str| {
        td["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("volume {name}: {td}"))
            .clone()
    };
    assert_eq!(td["volumes"].as_array().unwrap().len(), 2, "{td}");
    let uploads = volume("uploads")["efsVolumeConfiguration"].clone();
    assert_eq!(uploads["fileSystemId"], fs_id, "{uploads}");
    assert_eq!(uploads["transitEncryption"], "ENABLED", "{uploads}");
    assert_eq!(
        uploads["authorizationConfig"]["accessPointId"], point["AccessPointId"],
        "{uploads}"
    );
    let catalog = volume("catalog")["efsVolumeConfiguration"].clone();
    assert_eq!(catalog["fileSystemId"], fs_id, "{catalog}");
    assert_eq!(catalog["rootDirectory"], "/catalog", "{catalog}");
    assert_eq!(catalog["transitEncryption"], "ENABLED", "{catalog}");
    let mut mounts: Vec<(String, String, bool)> = td["containerDefinitions"][0]["mountPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["sourceVolume"].as_str().unwrap().to_string(),
                m["containerPath"].as_str().unwrap().to_string(),
                m["readOnly"].as_bool().unwrap(),
            )
        })
        .collect();
    mounts.sort();
    assert_eq!(
        mounts,
        [
            ("catalog".into(), "/srv/catalog".into(), true),
            ("uploads".into(), "/srv/uploads".into(), false)
        ],
        "{td}"
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

/// The alb module says what it wants when no certificate is given: HTTPS (certificate_arn) or an
/// explicit `http_only = true`; and both at once is refused too. With http_only the plan has the
/// HTTP listener carrying the routes and no HTTPS listener. (A plan only: nothing is created.)
#[test]
fn the_alb_module_needs_a_certificate_or_an_explicit_http_only() {
    support::require_testbed();
    let dir = layout();
    let root = dir.path().join("alb");
    std::fs::create_dir(&root).unwrap();
    let config = |modules: &str| {
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
{modules}"#,
            provider_for_the_test_bed()
        )
    };
    let alb = |name: &str, extra: &str| {
        format!(
            r#"module "{name}" {{
  source         = "../terraform/modules/alb"
  name           = "{name}"
  vpc_id         = "vpc-00000000000000001"
  vpc_cidr_block = "10.0.0.0/16"
  subnet_ids     = ["subnet-00000000000000001", "subnet-00000000000000002"]
  routes         = {{ web = {{ port = 8080, priority = 10, paths = ["/*"] }} }}
  {extra}
}}
"#
        )
    };
    std::fs::write(
        root.join("main.tf"),
        config(&format!(
            "{}{}",
            alb("plain", ""),
            alb(
                "both",
                "certificate_arn = \"arn:aws:acm:us-east-1:123456789012:certificate/x\"\n  http_only = true"
            )
        )),
    )
    .unwrap();
    ok("init", &terraform(&root, &["init", "-input=false"]));
    let refused = terraform(&root, &["plan", "-input=false"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "{text}");
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        text.contains(
            "set certificate_arn (HTTPS, with HTTP redirected to it), or set http_only = true"
        ),
        "{text}"
    );
    assert!(
        text.contains("certificate_arn is set and http_only = true: drop http_only"),
        "{text}"
    );
    std::fs::write(
        root.join("main.tf"),
        config(&alb("plain", "http_only = true")),
    )
    .unwrap();
    let plan = ok(
        "plan http_only",
        &terraform(&root, &["plan", "-input=false", "-out=plan.bin"]),
    );
    assert!(plan.contains("module.plain.aws_lb_listener.http"), "{plan}");
    assert!(!plan.contains("aws_lb_listener.https"), "{plan}");
    // Not through terraform(): -no-color after the plan file would be read as a second file.
    let shown = Command::new(support::terraform_bin())
        .current_dir(&root)
        .args(["show", "-json", "plan.bin"])
        .output()
        .expect("terraform runs");
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let listener = shown["resource_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == "module.plain.aws_lb_listener.http")
        .unwrap();
    let after = &listener["change"]["after"];
    assert_eq!(after["port"], 80, "{after}");
    assert_eq!(after["protocol"], "HTTP", "{after}");
    assert_eq!(
        after["default_action"][0]["type"], "fixed-response",
        "{after}"
    );
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
