//! Checks of the Terraform modules under terraform/modules and the example stack, without a
//! provider (it cannot be downloaded here, so `terraform validate` is not possible): every file
//! parses as HCL, every variable has a description and a type, every output a description, the
//! modules pin Terraform ≥ 1.5 and AWS provider 5, and the example stack produces the outputs
//! wharf reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::{Block, Body};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parse_dir(dir: &Path) -> BTreeMap<String, Body> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) == Some("tf") {
            let text = std::fs::read_to_string(&path).unwrap();
            let body: Body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            out.insert(path.display().to_string(), body);
        }
    }
    assert!(!out.is_empty(), "no .tf files in {}", dir.display());
    out
}

fn blocks<'a>(bodies: &'a BTreeMap<String, Body>, kind: &'a str) -> Vec<(&'a str, &'a Block)> {
    bodies
        .iter()
        .flat_map(|(file, body)| {
            body.blocks()
                .filter(move |b| b.identifier() == kind)
                .map(move |b| (file.as_str(), b))
        })
        .collect()
}

fn label(b: &Block) -> String {
    b.labels()
        .first()
        .map(|l| l.as_str().to_string())
        .unwrap_or_default()
}

fn has_attr(b: &Block, name: &str) -> bool {
    b.body().attributes().any(|a| a.key() == name)
}

fn modules() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("terraform/modules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_module_exists_and_documents_its_interface() {
    let names: Vec<String> = modules()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "alb",
            "cluster",
            "config-bucket",
            "ec2_capacity",
            "efs",
            "nlb",
            "roles",
            "service"
        ]
    );
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in modules().into_iter().chain([root().join("examples/stack")]) {
        let bodies = parse_dir(&dir);
        for (file, v) in blocks(&bodies, "variable") {
            checked += 1;
            for attr in ["description", "type"] {
                if !has_attr(v, attr) {
                    problems.push(format!("{file}: variable \"{}\" has no {attr}", label(v)));
                }
            }
        }
        for (file, o) in blocks(&bodies, "output") {
            if !has_attr(o, "description") {
                problems.push(format!(
                    "{file}: output \"{}\" has no description",
                    label(o)
                ));
            }
        }
        let terraform = blocks(&bodies, "terraform");
        let text: String = bodies
            .keys()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        if terraform.is_empty()
            || !text.contains("required_version = \">= 1.5\"")
            || !text.contains("version = \">= 5.0, < 6.0\"")
        {
            problems.push(format!(
                "{}: must pin required_version >= 1.5 and the AWS provider 5",
                dir.display()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked > 60,
        "only {checked} variables were found: the HCL walk is broken"
    );
}

#[test]
fn the_example_stack_produces_the_outputs_wharf_reads() {
    let bodies = parse_dir(&root().join("examples/stack"));
    let outputs: Vec<String> = blocks(&bodies, "output")
        .iter()
        .map(|(_, b)| label(b))
        .collect();
    for required in [
        "cluster_name",
        "services",
        "job_task_definition_family",
        "subnet_ids",
        "security_group",
    ] {
        assert!(
            outputs.iter().any(|o| o == required),
            "examples/stack lacks output {required}"
        );
    }
    // Module sources are relative to the stack (not to the working directory) and exist.
    for (_, m) in blocks(&bodies, "module") {
        let source = m
            .body()
            .attributes()
            .find(|a| a.key() == "source")
            .map(|a| a.expr().to_string())
            .unwrap();
        let source = source.trim_matches('"');
        assert!(source.starts_with("../../terraform/modules/"), "{source}");
        assert!(
            root().join("examples/stack").join(source).is_dir(),
            "{source}"
        );
    }
}

#[test]
fn roles_grant_no_wildcard_action_on_every_resource() {
    for dir in ["roles", "config-bucket"] {
        let text: String = parse_dir(&root().join("terraform/modules").join(dir))
            .keys()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        assert!(
            !text.contains("actions   = [\"*\"]") && !text.contains("actions = [\"*\"]"),
            "{dir} grants every action"
        );
    }
    // ECS Exec: the ssmmessages actions, which AWS documents without resource-level permissions.
    let roles = std::fs::read_to_string(root().join("terraform/modules/roles/main.tf")).unwrap();
    assert!(roles.contains("parameter/${var.app}/${var.env}/*"));
    assert!(roles.contains("ssmmessages:CreateControlChannel"));
}

#[test]
fn services_ignore_what_wharf_deploys_and_alb_rules_use_their_own_target_group() {
    let service =
        std::fs::read_to_string(root().join("terraform/modules/service/main.tf")).unwrap();
    assert!(service.contains("ignore_changes = [task_definition, desired_count]"));
    assert!(service.contains("rollback = var.rollback_on_failure"));
    assert!(service.contains("cpu                      = tostring(var.cpu)"));
    let alb = std::fs::read_to_string(root().join("terraform/modules/alb/main.tf")).unwrap();
    assert!(alb.contains("target_group_arn = aws_lb_target_group.route[each.key].arn"));
    // blue_green routes: ECS moves the rules' weights, an apply must not move them back; and
    // ECS gets the infrastructure role that lets it.
    assert_eq!(alb.matches("ignore_changes = [action]").count(), 2);
    assert!(alb.contains("policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"));
}

#[test]
fn terraform_fmt_check_passes_with_the_test_bed_terraform() {
    let bin = crate::support::terraform_bin();
    for dir in ["terraform", "examples/stack"] {
        let out = std::process::Command::new(&bin)
            .args(["fmt", "-check", "-recursive", "-no-color"])
            .arg(root().join(dir))
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "terraform fmt -check {dir}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
