//! `wharf init`: writes a starter project; `--from-service CLUSTER/SERVICE` adopts a running one;
//! `--from-copilot [DIR]` and `--from-ecspresso CONFIG...` import another tool's project
//! ([`crate::project::import`]) and print what has to be finished by hand.
//!
//! Adoption reads the service (DescribeServices) and its task definition (DescribeTaskDefinition)
//! as raw JSON and turns them into a `wharf.toml` and a template that reproduce them
//! ([`adopt`], pure). Existing files are never overwritten without `--force`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::project::import::{key_name as key, toml_str as q};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Import a running ECS service (CLUSTER/SERVICE) with its task definition; needs --env.
    #[arg(long, value_name = "CLUSTER/SERVICE", conflicts_with_all = ["from_copilot", "from_ecspresso"])]
    pub from_service: Option<String>,
    /// Import an AWS Copilot workspace (the folder holding copilot/; default: this folder).
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".", conflicts_with = "from_ecspresso")]
    pub from_copilot: Option<PathBuf>,
    /// Import ecspresso configs (YAML or JSON), one service each, into one project (environment: --env, default `default`).
    #[arg(long, value_name = "CONFIG", num_args = 1..)]
    pub from_ecspresso: Vec<PathBuf>,
    /// The app name (default: the project folder's name).
    #[arg(long)]
    pub app: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Files to write, relative to the project folder.
#[derive(Debug, Clone, PartialEq)]
pub struct StarterFiles {
    pub files: Vec<(PathBuf, String)>,
    /// The image tag the adopted service runs (its essential container's), if it has one.
    pub running_tag: Option<String>,
    /// What an import could not carry over.
    pub notes: Vec<crate::project::import::Note>,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest_path = ctx.file.clone();
    let root = manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let copilot =
        args.from_copilot
            .as_ref()
            .map(|dir| crate::project::import::copilot::CopilotSource {
                dir,
                root: &root,
                app: args.app.as_deref(),
                region: ctx.region.as_deref(),
                file_name: "",
            });
    let app = match (&args.app, &copilot) {
        (Some(a), _) => a.clone(),
        (None, Some(c)) => crate::project::import::copilot::app_name(c)?,
        (None, None) => default_app_name(&root),
    };
    if let Some(problem) = crate::project::manifest::name_problem(&app, 64) {
        return Err(
            Error::usage(format!("app name `{app}` cannot be used: {problem}"))
                .with_hint("pass --app NAME"),
        );
    }
    let file_name = manifest_path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| crate::project::manifest::FILE_NAME.to_string());
    let project = match &args.from_service {
        None if copilot.is_some() => {
            let mut source = copilot.expect("checked");
            source.file_name = &file_name;
            source.app = Some(&app);
            imported(crate::project::import::copilot::import(&source)?)
        }
        None if !args.from_ecspresso.is_empty() => {
            imported(crate::project::import::ecspresso::import(
                &crate::project::import::ecspresso::EcspressoSource {
                    configs: &args.from_ecspresso,
                    root: &root,
                    app: &app,
                    env: ctx.env.as_deref().unwrap_or("default"),
                    region: ctx.region.as_deref(),
                    file_name: &file_name,
                },
            )?)
        }
        None => starter(&app, &file_name),
        Some(spec) => {
            let env = ctx.env_name()?.to_string();
            let (cluster, service) = spec
                .split_once('/')
                .filter(|(c, s)| !c.is_empty() && !s.is_empty())
                .ok_or_else(|| {
                    Error::usage(format!(
                        "--from-service wants CLUSTER/SERVICE, got `{spec}`"
                    ))
                })?;
            let (service_json, taskdef_json, region) = describe(ctx, cluster, service).await?;
            let endpoint = std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|e| !e.is_empty());
            adopt(&Adoption {
                app: &app,
                env: &env,
                region: &region,
                endpoint_url: endpoint.as_deref(),
                cluster,
                service: &service_json,
                task_definition: &taskdef_json,
                file_name: &file_name,
            })?
        }
    };
    let existing: Vec<String> = project
        .files
        .iter()
        .map(|(p, _)| root.join(p))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() && !args.force {
        return Err(
            Error::usage(format!("refusing to overwrite {}", existing.join(", ")))
                .with_hint("pass --force to overwrite"),
        );
    }
    for (path, text) in &project.files {
        let full = root.join(path);
        if let Some(dir) = full.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&full, text)
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", full.display())))?;
        ctx.out.status(format!("wrote {}", full.display()));
    }
    report(ctx, &project.notes);
    let file_flag = if manifest_path == Path::new(crate::project::manifest::FILE_NAME) {
        String::new()
    } else {
        format!(" --file {}", manifest_path.display())
    };
    match (&project.running_tag, &ctx.env) {
        (Some(tag), Some(env)) => ctx.out.status(format!(
            "the service runs tag {tag}; next: wharf{file_flag} diff --env {env} --tag {tag} (no differences expected), then deploy with --tag"
        )),
        _ => ctx.out.status(format!("next: wharf{file_flag} validate")),
    }
    Ok(0)
}

fn imported(i: crate::project::import::Imported) -> StarterFiles {
    StarterFiles {
        files: i.files,
        running_tag: None,
        notes: i.notes,
    }
}

/// The notes of an import, grouped by kind, each with its file and line.
fn report(ctx: &Settings, notes: &[crate::project::import::Note]) {
    use crate::project::import::NoteKind;
    for kind in [
        NoteKind::Infrastructure,
        NoteKind::NoEquivalent,
        NoteKind::Untranslated,
    ] {
        let of_kind: Vec<_> = notes.iter().filter(|n| n.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        ctx.out
            .status(format!("{} ({}):", kind.heading(), of_kind.len()));
        for n in of_kind {
            ctx.out.status(format!("  {}", n.located()));
        }
    }
}

fn default_app_name(root: &Path) -> String {
    let dir = std::fs::canonicalize(root).ok();
    let name = dir
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches(|c| c == '-' || c == '_')
        .to_string();
    if cleaned.is_empty() {
        "my-app".to_string()
    } else {
        cleaned
    }
}

/// A starter project that passes `wharf validate`.
pub fn starter(app: &str, file_name: &str) -> StarterFiles {
    let toml = format!(
        r#"# wharf project file; every key is described in docs/project-file.md.
app = "{app}"

[images.app]
context = "."
dockerfile = "Dockerfile"
repository = "{app}/app"          # ECR repository name, or a full image URI

[environments.dev]
region = "us-east-1"
# account = "123456789012"         # refuse to act on another account
cluster = "{app}-dev"

[environments.dev.network]
subnets = []                       # subnet ids for awsvpc tasks
security_groups = []
assign_public_ip = false

[services.web]
task_definition = "ecs/web.json"   # rendered per environment
desired_count = 1
launch_type = "FARGATE"
"#
    );
    let template = r#"{
  "family": "{{ app }}-{{ env }}-{{ service }}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::{{ account }}:role/{{ app }}-{{ env }}-execution",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "{{ image('app') }}",
      "essential": true,
      "portMappings": [{ "containerPort": 8080, "protocol": "tcp" }],
      "environment": [{ "name": "APP_ENV", "value": "{{ env }}" }],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/{{ app }}/{{ env }}",
          "awslogs-region": "{{ region }}",
          "awslogs-stream-prefix": "{{ service }}",
          "awslogs-create-group": "true"
        }
      }
    }
  ]
}
"#;
    StarterFiles {
        files: vec![
            (PathBuf::from(file_name), toml),
            (PathBuf::from("ecs/web.json"), template.to_string()),
        ],
        running_tag: None,
        notes: Vec::new(),
    }
}

/// DescribeServices and DescribeTaskDefinition as raw JSON, and the region asked.
async fn describe(ctx: &Settings, cluster: &str, service: &str) -> Result<(Value, Value, String)> {
    let env = crate::project::manifest::Environment {
        region: None,
        profile: None,
        account: None,
        cluster: None,
        endpoint_url: None,
        registry: None,
        confirm: false,
        network: None,
        vars: Default::default(),
        services: Default::default(),
        jobs: Default::default(),
    };
    let clients = crate::aws::Clients::connect(&env.aws(ctx)).await?;
    let ecs = crate::aws::ecs::Ecs::new(clients.ecs.clone(), cluster);
    let found = match ecs.describe_services(&[service.to_string()]).await?.pop() {
        Some(crate::aws::ecs::Described::Found(_, raw)) => raw,
        _ => {
            return Err(Error::usage(format!(
                "no active service `{service}` in cluster `{cluster}`"
            )))
        }
    };
    let arn = found["taskDefinition"]
        .as_str()
        .ok_or_else(|| Error::aws("ecs:DescribeServices: the service has no task definition"))?
        .to_string();
    let td = ecs
        .describe_task_definition(&arn)
        .await?
        .ok_or_else(|| Error::aws(format!("ecs:DescribeTaskDefinition: {arn} does not exist")))?;
    Ok((found, td, clients.region.clone()))
}

/// What [`adopt`] works from.
pub struct Adoption<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub region: &'a str,
    pub endpoint_url: Option<&'a str>,
    pub cluster: &'a str,
    /// One element of DescribeServices' `services`.
    pub service: &'a Value,
    /// DescribeTaskDefinition's `taskDefinition`.
    pub task_definition: &'a Value,
    pub file_name: &'a str,
}

/// The project (wharf.toml and one template) that reproduces a running service.
pub fn adopt(a: &Adoption) -> Result<StarterFiles> {
    let svc = a.service;
    let service_name = svc["serviceName"].as_str().unwrap_or("web").to_string();
    let service_key = key(&service_name);
    let mut td = crate::project::taskdef::strip_read_only(a.task_definition.clone());
    let obj = td
        .as_object_mut()
        .ok_or_else(|| Error::aws("ecs:DescribeTaskDefinition returned no task definition"))?;
    // The family keeps its name (so the first deploy adds a revision, not a new family), but
    // names the environment through the template when it contains it.
    if let Some(family) = obj
        .get("family")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        let templated = family
            .split('-')
            .map(|part| {
                if part == a.env {
                    "{{ env }}".to_string()
                } else {
                    part.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("-");
        obj.insert("family".into(), json!(templated));
    }
    // The essential container's image tag becomes {{ tag }}, through an [images.*] entry; other
    // containers with the same tag follow; sidecars pinned elsewhere keep their image.
    let mut images: Vec<(String, String)> = Vec::new();
    let mut primary_tag: Option<String> = None;
    if let Some(containers) = obj
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
    {
        let primary = containers
            .iter()
            .position(|c| c.get("essential").and_then(Value::as_bool).unwrap_or(true))
            .unwrap_or(0);
        let order: Vec<usize> = std::iter::once(primary)
            .chain((0..containers.len()).filter(|i| *i != primary))
            .collect();
        for i in order {
            let c = &mut containers[i];
            let Some(image) = c.get("image").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if image.contains('@') {
                continue;
            }
            let last_slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
            let Some(colon) = image[last_slash..].rfind(':').map(|i| i + last_slash) else {
                continue;
            };
            let (repo, tag) = (&image[..colon], &image[colon + 1..]);
            match &primary_tag {
                None => primary_tag = Some(tag.to_string()),
                Some(t) if t == tag => {}
                Some(_) => continue,
            }
            let name = key(c.get("name").and_then(Value::as_str).unwrap_or("app"));
            if !images.iter().any(|(n, _)| n == &name) {
                images.push((name.clone(), repo.to_string()));
            }
            c["image"] = json!(format!("{{{{ image('{name}') }}}}"));
        }
    }
    let template_path = format!("ecs/{service_key}.json");
    let mut template = serde_json::to_string_pretty(&td).unwrap_or_default();
    template.push('\n');

    let mut t = String::new();
    t.push_str(&format!(
        "# Adopted from ECS service {service_name} in cluster {} by `wharf init --from-service`.\n",
        a.cluster
    ));
    if let Some(tag) = &primary_tag {
        t.push_str(&format!(
            "# It ran image tag {tag}: `wharf diff --env {} --tag {tag}` shows no differences.\n",
            a.env
        ));
    }
    t.push_str(&format!("app = {}\n", q(a.app)));
    for (name, repo) in &images {
        t.push_str(&format!("\n[images.{name}]\nrepository = {}\n", q(repo)));
    }
    t.push_str(&format!(
        "\n[environments.{}]\nregion = {}\n",
        a.env,
        q(a.region)
    ));
    if let Some(e) = a.endpoint_url {
        t.push_str(&format!("endpoint_url = {}\n", q(e)));
    }
    let cluster_name = svc["clusterArn"]
        .as_str()
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or(a.cluster);
    t.push_str(&format!("cluster = {}\n", q(cluster_name)));

    t.push_str(&format!(
        "\n[services.{service_key}]\ntask_definition = {}\n",
        q(&template_path)
    ));
    if service_key != service_name {
        t.push_str(&format!("name = {}\n", q(&service_name)));
    }
    t.push_str(&crate::project::import::service_settings(&service_key, svc));
    Ok(StarterFiles {
        files: vec![
            (PathBuf::from(a.file_name), t),
            (PathBuf::from(template_path), template),
        ],
        running_tag: primary_tag,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adoption_templates_the_tag_and_keeps_settings() {
        let service = json!({
            "serviceName": "api", "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/main",
            "desiredCount": 3, "launchType": "FARGATE", "enableExecuteCommand": true,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "loadBalancers": [{"targetGroupArn": "arn:tg", "containerName": "api", "containerPort": 80}],
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100,
                "deploymentCircuitBreaker": {"enable": true, "rollback": true}}
        });
        let td = json!({
            "taskDefinitionArn": "arn:td", "revision": 7, "status": "ACTIVE", "family": "shop-prod-api",
            "compatibilities": ["EC2", "FARGATE"], "requiresAttributes": [],
            "containerDefinitions": [
                {"name": "api", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api:v42"},
                {"name": "proxy", "image": "nginx:1.25", "essential": false}
            ]
        });
        let p = adopt(&Adoption {
            app: "shop",
            env: "prod",
            region: "us-east-1",
            endpoint_url: Some("http://127.0.0.1:5599"),
            cluster: "main",
            service: &service,
            task_definition: &td,
            file_name: "wharf.toml",
        })
        .unwrap();
        let toml = &p.files[0].1;
        let template: Value = serde_json::from_str(&p.files[1].1).unwrap();
        assert!(toml.contains("[images.api]\nrepository = \"123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api\""), "{toml}");
        assert!(toml.contains("endpoint_url = \"http://127.0.0.1:5599\""));
        assert!(toml.contains(
            "desired_count = 3\nlaunch_type = \"FARGATE\"\nenable_execute_command = true"
        ));
        assert!(toml.contains("subnets = [\"subnet-1\"]"));
        assert!(toml.contains("circuit_breaker = true\nrollback = true"));
        assert!(toml.contains("It ran image tag "), "{toml}");
        assert!(p.running_tag.is_some());
        assert_eq!(template["family"], "shop-{{ env }}-api");
        assert_eq!(
            template["containerDefinitions"][0]["image"],
            "{{ image('api') }}"
        );
        assert_eq!(template["containerDefinitions"][1]["image"], "nginx:1.25");
        assert!(template.get("revision").is_none() && template.get("compatibilities").is_none());
        // The result loads as a project file.
        let m = crate::project::manifest::Manifest::parse(Path::new("wharf.toml"), toml.clone())
            .unwrap();
        assert_eq!(
            m.doc.services["api"]
                .desired_count
                .as_ref()
                .map(|c| *c.get_ref()),
            Some(3)
        );
    }

    #[test]
    fn starter_parses() {
        let p = starter("demo", "wharf.toml");
        crate::project::manifest::Manifest::parse(Path::new("wharf.toml"), p.files[0].1.clone())
            .unwrap();
    }
}
