//! `wharf init --from-copilot [DIR]`: an AWS Copilot workspace (`copilot/.workspace`, one
//! `copilot/<name>/manifest.yml` per service or job, `copilot/environments/*/manifest.yml`)
//! becomes a wharf.toml and one task-definition template per workload.
//!
//! Load Balanced Web, Backend and Worker Services become `[services.*]`, Scheduled Jobs
//! `[jobs.*]`. What Copilot put in its CloudFormation stacks (load balancer, listener rules,
//! target groups, autoscaling, queues and topics, schedules, VPC, roles, log groups) is not
//! recreated: each is listed as a [`Note`] with the manifest line it comes from. Copilot's
//! `${COPILOT_APPLICATION_NAME}` / `${COPILOT_ENVIRONMENT_NAME}` become `{{ app }}` / `{{ env }}`,
//! other `${VAR}` become `env_var('VAR')`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{key_name, read_yaml, toml_list, toml_str, yaml_line, Imported, Note, NoteKind};
use crate::error::{Error, Result};

/// What the importer works from.
pub struct CopilotSource<'a> {
    /// The folder holding `copilot/`.
    pub dir: &'a Path,
    /// The folder wharf.toml is written into (paths in it are relative to this).
    pub root: &'a Path,
    /// The app name (default: the workspace's `application`).
    pub app: Option<&'a str>,
    /// The region for every environment (Copilot keeps it outside the files).
    pub region: Option<&'a str>,
    pub file_name: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Service,
    Job,
}

/// One `copilot/<name>/manifest.yml`.
struct Workload {
    name: String,
    key: String,
    kind: Kind,
    type_name: String,
    path: PathBuf,
    text: String,
    doc: Value,
}

impl Workload {
    fn line(&self, path: &[&str]) -> Option<usize> {
        yaml_line(&self.text, path)
    }

    fn note(&self, notes: &mut Vec<Note>, kind: NoteKind, path: &[&str], text: String) {
        notes.push(Note::new(kind, &self.path, self.line(path), text));
    }
}

/// The keys each workload type has that this importer translates; anything else is reported.
const HANDLED: &[&str] = &[
    "name",
    "type",
    "image",
    "cpu",
    "memory",
    "count",
    "exec",
    "variables",
    "secrets",
    "sidecars",
    "storage",
    "environments",
    "platform",
    "command",
    "entrypoint",
    "http",
    "network",
    "subscribe",
    "on",
    "retries",
    "timeout",
    "deployment",
    "tags",
];

/// The application's name in `copilot/.workspace`.
pub fn app_name(src: &CopilotSource) -> Result<String> {
    let workspace = workspace_file(src)?;
    let (_, ws) = read_yaml(&workspace)?;
    ws["application"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| {
            Error::usage(format!("{}: no `application` name", workspace.display()))
                .with_hint("pass --app NAME")
        })
}

/// `copilot/` under the source folder (named without a leading `./`).
fn copilot_dir(src: &CopilotSource) -> PathBuf {
    if src.dir == Path::new(".") {
        PathBuf::from("copilot")
    } else {
        src.dir.join("copilot")
    }
}

fn workspace_file(src: &CopilotSource) -> Result<PathBuf> {
    let workspace = copilot_dir(src).join(".workspace");
    if !workspace.is_file() {
        return Err(Error::usage(format!(
            "{} does not exist: {} is not a Copilot workspace",
            workspace.display(),
            src.dir.display()
        ))
        .with_hint("pass the folder that holds copilot/ (wharf init --from-copilot DIR)"));
    }
    Ok(workspace)
}

pub fn import(src: &CopilotSource) -> Result<Imported> {
    let workspace = workspace_file(src)?;
    let copilot = copilot_dir(src);
    let app = match src.app {
        Some(a) => a.to_string(),
        None => app_name(src)?,
    };
    let mut notes = Vec::new();
    let mut workloads = Vec::new();
    let mut env_manifests = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&copilot)
        .map_err(|e| Error::usage(format!("cannot read {}: {e}", copilot.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for dir in entries {
        if dir.file_name().is_some_and(|n| n == "environments") {
            let mut envs: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| Error::usage(format!("cannot read {}: {e}", dir.display())))?
                .filter_map(|e| e.ok().map(|e| e.path().join("manifest.yml")))
                .filter(|p| p.is_file())
                .collect();
            envs.sort();
            for path in envs {
                let (text, doc) = read_yaml(&path)?;
                env_manifests.push((path, text, doc));
            }
            continue;
        }
        let path = dir.join("manifest.yml");
        if !path.is_file() {
            continue;
        }
        let (text, doc) = read_yaml(&path)?;
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let name = doc["name"].as_str().unwrap_or(&dir_name).to_string();
        let type_name = doc["type"].as_str().unwrap_or("").to_string();
        let kind = match type_name.as_str() {
            "Load Balanced Web Service" | "Backend Service" | "Worker Service" => Kind::Service,
            "Scheduled Job" => Kind::Job,
            "Request-Driven Web Service" | "Static Site" => {
                notes.push(Note::new(
                    NoteKind::NoEquivalent,
                    &path,
                    yaml_line(&text, &["type"]),
                    format!("`{name}` is a {type_name} (App Runner / S3 and CloudFront, not ECS): not imported"),
                ));
                continue;
            }
            other => {
                return Err(Error::usage(format!(
                    "{}:{}: unknown Copilot workload type `{other}`",
                    path.display(),
                    yaml_line(&text, &["type"]).unwrap_or(1)
                ))
                .with_hint("the types imported: Load Balanced Web Service, Backend Service, Worker Service, Scheduled Job"));
            }
        };
        workloads.push(Workload {
            key: key_name(&name),
            name,
            kind,
            type_name,
            path,
            text,
            doc,
        });
    }
    if workloads.is_empty() {
        return Err(Error::usage(format!(
            "no service or job manifests (copilot/<name>/manifest.yml) under {}",
            copilot.display()
        )));
    }

    // Environments: the environment manifests, and any name a workload overrides.
    let mut env_names: BTreeSet<String> = env_manifests
        .iter()
        .filter_map(|(p, _, d)| {
            d["name"].as_str().map(str::to_string).or_else(|| {
                p.parent()
                    .and_then(Path::file_name)
                    .map(|n| n.to_string_lossy().to_string())
            })
        })
        .collect();
    for w in &workloads {
        if let Some(envs) = w.doc["environments"].as_object() {
            env_names.extend(envs.keys().cloned());
        }
    }
    if env_names.is_empty() {
        env_names.insert("dev".into());
        notes.push(Note::new(
            NoteKind::NoEquivalent,
            &workspace,
            None,
            "no environment manifests (copilot/environments/*/manifest.yml) and no overrides: wrote an environment `dev`",
        ));
    }

    let mut images = String::new();
    let mut services = String::new();
    let mut overrides: BTreeMap<String, String> = BTreeMap::new();
    let mut templates = Vec::new();
    let mut placements = BTreeSet::new();
    for w in &workloads {
        let t = workload(
            src,
            &app,
            &env_names,
            w,
            &mut images,
            &mut overrides,
            &mut notes,
        )?;
        services.push_str(&t.toml);
        templates.push((PathBuf::from(format!("ecs/{}.json", w.key)), t.template));
        placements.insert(t.placement);
    }

    let mut toml = format!(
        "# Imported from the Copilot application `{app}` by `wharf init --from-copilot`.\n\
         # Copilot's CloudFormation stacks (VPC, cluster, load balancer, roles, log groups, autoscaling,\n\
         # queues, schedules) are not managed by wharf: see the list init printed.\n\
         app = {}\n",
        toml_str(&app)
    );
    toml.push_str(&images);
    let public = !placements.contains("private") || placements.contains("public");
    if placements.len() > 1 {
        notes.push(Note::new(
            NoteKind::NoEquivalent,
            &workspace,
            None,
            "services use both public and private placement: the environments' network uses the public subnets; give private services their own [services.NAME.network]",
        ));
    }
    for env in &env_names {
        toml.push_str(&format!("\n[environments.{env}]\n"));
        if let Some(r) = src.region {
            toml.push_str(&format!("region = {}\n", toml_str(r)));
        }
        toml.push_str(
            "# Copilot's environment stack named its cluster `<app>-<env>-Cluster-<suffix>`: put that name here.\n\
             cluster = \"{{ app }}-{{ env }}\"\n",
        );
        let manifest = env_manifests.iter().find(|(p, _, d)| {
            d["name"].as_str() == Some(env.as_str())
                || p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == env.as_str())
        });
        let mut subnets: Vec<String> = Vec::new();
        if let Some((path, text, doc)) = manifest {
            let side = if public { "public" } else { "private" };
            subnets = doc["network"]["vpc"]["subnets"][side]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["id"].as_str().or(s.as_str()).map(interpolate))
                .collect();
            if doc["network"]["vpc"]["id"].is_null() {
                notes.push(Note::new(
                    NoteKind::Infrastructure,
                    path,
                    yaml_line(text, &["name"]),
                    format!("environment `{env}`: Copilot created its VPC; list the {side} subnet IDs in [environments.{env}.network]"),
                ));
            }
            for (k, _) in doc.as_object().into_iter().flatten() {
                if !matches!(k.as_str(), "name" | "type" | "network") {
                    notes.push(Note::new(
                        NoteKind::Infrastructure,
                        path,
                        yaml_line(text, &[k]),
                        format!("environment `{env}`: `{k}` stays with Copilot's environment stack (CloudFormation)"),
                    ));
                }
            }
        }
        toml.push_str(&format!(
            "\n[environments.{env}.network]\nsubnets = {}\nsecurity_groups = []\nassign_public_ip = {public}\n",
            toml_list(subnets.iter().map(String::as_str))
        ));
        if let Some(o) = overrides.get(env) {
            toml.push_str(o);
        }
    }
    toml.push_str(&services);
    notes.push(Note::new(
        NoteKind::Infrastructure,
        &workspace,
        None,
        "the running services stay as Copilot deployed them: adopt one with `wharf init --from-service CLUSTER/SERVICE --env ENV` to compare, or deploy over it with `wharf deploy`; delete Copilot's stacks only after the first wharf deploy",
    ));
    let mut files = vec![(PathBuf::from(src.file_name), toml)];
    files.extend(templates);
    Ok(Imported { files, notes })
}

/// The wharf.toml part and template of one workload.
struct Translated {
    toml: String,
    template: String,
    placement: String,
}

#[allow(clippy::too_many_arguments)]
fn workload(
    src: &CopilotSource,
    app: &str,
    env_names: &BTreeSet<String>,
    w: &Workload,
    images: &mut String,
    overrides: &mut BTreeMap<String, String>,
    notes: &mut Vec<Note>,
) -> Result<Translated> {
    let d = &w.doc;
    for (k, _) in d.as_object().into_iter().flatten() {
        if !HANDLED.contains(&k.as_str()) {
            w.note(
                notes,
                NoteKind::NoEquivalent,
                &[k],
                format!("`{}`: `{k}` is not imported", w.name),
            );
        }
    }
    // Variables and secrets an environment overrides become `vars` the template reads.
    let mut var_overrides: BTreeSet<String> = BTreeSet::new();
    let mut secret_overrides: BTreeSet<String> = BTreeSet::new();
    for (_, o) in d["environments"].as_object().into_iter().flatten() {
        var_overrides.extend(
            o["variables"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
        secret_overrides.extend(
            o["secrets"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, _)| k.clone()),
        );
    }
    // Per environment, the value of each overridden variable or secret (vars are not
    // templates, so Copilot's app and environment names are filled in here).
    let mut env_vars: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut per_env = |var: String, base: Option<String>, section: &str, name: &str| {
        for env in env_names {
            let over = &d["environments"][env][section][name];
            let value = if over.is_null() {
                base.clone()
            } else if section == "secrets" {
                secret_value_from(over)
            } else {
                scalar(over)
            };
            if let Some(v) = value {
                let v = v
                    .replace("{{ app }}", app)
                    .replace("{{ env }}", env)
                    .replace("${COPILOT_APPLICATION_NAME}", app)
                    .replace("${COPILOT_ENVIRONMENT_NAME}", env);
                env_vars
                    .entry(env.clone())
                    .or_default()
                    .push((var.clone(), v));
            }
        }
    };

    // The main container.
    let image = &d["image"];
    let image_ref = match image_source(src, app, &w.key, image, w, &["image"], images, notes) {
        Some(r) => r,
        None => {
            return Err(Error::usage(format!(
                "{}:{}: `image` needs `build` or `location`",
                w.path.display(),
                w.line(&["image"]).or(w.line(&["name"])).unwrap_or(1)
            )))
        }
    };
    let mut main = Map::new();
    main.insert("name".into(), json!(w.name));
    main.insert("image".into(), json!(image_ref));
    main.insert("essential".into(), json!(true));
    if let Some(port) = port(&image["port"]) {
        main.insert(
            "portMappings".into(),
            json!([{ "containerPort": port.0, "protocol": port.1 }]),
        );
    }
    let mut environment = vec![
        json!({"name": "COPILOT_APPLICATION_NAME", "value": "{{ app }}"}),
        json!({"name": "COPILOT_ENVIRONMENT_NAME", "value": "{{ env }}"}),
        json!({"name": "COPILOT_SERVICE_NAME", "value": w.name}),
    ];
    for (name, value) in d["variables"].as_object().into_iter().flatten() {
        let Some(text) = scalar(value) else {
            w.note(notes, NoteKind::Infrastructure, &["variables", name], format!("`{}`: variable {name} comes from a CloudFormation output (from_cfn): set its value by hand", w.name));
            continue;
        };
        let value = if var_overrides.contains(name) {
            per_env(name.clone(), Some(text.clone()), "variables", name);
            format!("{{{{ {} }}}}", var_ref(name))
        } else {
            interpolate(&text)
        };
        environment.push(json!({"name": name, "value": value}));
    }
    main.insert("environment".into(), Value::Array(environment));
    let mut secrets = Vec::new();
    for (name, value) in d["secrets"].as_object().into_iter().flatten() {
        let Some(from) = secret_value_from(value) else {
            w.note(notes, NoteKind::Infrastructure, &["secrets", name], format!("`{}`: secret {name} comes from a CloudFormation output (from_cfn): set its valueFrom by hand", w.name));
            continue;
        };
        let from = if secret_overrides.contains(name) {
            let var = format!("secret_{name}");
            per_env(var.clone(), Some(from), "secrets", name);
            format!("{{{{ {} }}}}", var_ref(&var))
        } else {
            from
        };
        secrets.push(json!({"name": name, "valueFrom": from}));
    }
    if !secrets.is_empty() {
        main.insert("secrets".into(), Value::Array(secrets));
    }
    if let Some(c) = words(&d["command"]) {
        main.insert("command".into(), json!(c));
    }
    if let Some(c) = words(&d["entrypoint"]) {
        main.insert("entryPoint".into(), json!(c));
    }
    if let Some(h) = health_check(&image["healthcheck"]) {
        main.insert("healthCheck".into(), h);
    }
    if let Some(deps) = depends_on(&image["depends_on"]) {
        main.insert("dependsOn".into(), deps);
    }
    if d["storage"]["readonly_fs"].as_bool() == Some(true) {
        main.insert("readonlyRootFilesystem".into(), json!(true));
    }
    main.insert(
        "logConfiguration".into(),
        json!({
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": format!("/copilot/{{{{ app }}}}-{{{{ env }}}}-{}", w.name),
                "awslogs-region": "{{ region }}",
                "awslogs-stream-prefix": "copilot"
            }
        }),
    );

    // Volumes.
    let mut volumes = Vec::new();
    let mut mounts = Vec::new();
    for (name, v) in d["storage"]["volumes"].as_object().into_iter().flatten() {
        let mut volume = Map::new();
        volume.insert("name".into(), json!(name));
        let efs = &v["efs"];
        if let Some(id) = efs["id"].as_str() {
            let mut cfg = Map::new();
            cfg.insert("fileSystemId".into(), json!(interpolate(id)));
            let access_point = efs["auth"]["access_point_id"].as_str();
            if access_point.is_none() {
                cfg.insert(
                    "rootDirectory".into(),
                    json!(efs["root_dir"].as_str().unwrap_or("/")),
                );
            }
            cfg.insert("transitEncryption".into(), json!("ENABLED"));
            let mut auth = Map::new();
            if let Some(ap) = access_point {
                auth.insert("accessPointId".into(), json!(ap));
            }
            let iam = efs["auth"]["iam"].as_bool().unwrap_or(true);
            auth.insert(
                "iam".into(),
                json!(if iam { "ENABLED" } else { "DISABLED" }),
            );
            cfg.insert("authorizationConfig".into(), Value::Object(auth));
            volume.insert("efsVolumeConfiguration".into(), Value::Object(cfg));
        } else if !efs.is_null() && efs != &json!(false) {
            w.note(notes, NoteKind::Infrastructure, &["storage", "volumes", name, "efs"], format!("`{}`: volume {name} is an EFS file system Copilot manages: it is written as a task-scoped volume; point it at the file system (efsVolumeConfiguration) once Terraform owns it", w.name));
        }
        volumes.push(Value::Object(volume));
        if let Some(path) = v["path"].as_str() {
            mounts.push(json!({
                "sourceVolume": name,
                "containerPath": path,
                "readOnly": v["read_only"].as_bool().unwrap_or(true)
            }));
        }
    }
    if !mounts.is_empty() {
        main.insert("mountPoints".into(), Value::Array(mounts));
    }

    // Sidecars.
    let mut containers = vec![Value::Object(main)];
    for (name, s) in d["sidecars"].as_object().into_iter().flatten() {
        let image_key = format!("{}-{}", w.key, key_name(name));
        let Some(image_ref) = image_source(
            src,
            app,
            &image_key,
            &s["image"],
            w,
            &["sidecars", name, "image"],
            images,
            notes,
        ) else {
            w.note(
                notes,
                NoteKind::NoEquivalent,
                &["sidecars", name],
                format!("`{}`: sidecar {name} has no image: not imported", w.name),
            );
            continue;
        };
        let mut c = Map::new();
        c.insert("name".into(), json!(name));
        c.insert("image".into(), json!(image_ref));
        c.insert(
            "essential".into(),
            json!(s["essential"].as_bool().unwrap_or(true)),
        );
        if let Some(port) = port(&s["port"]) {
            c.insert(
                "portMappings".into(),
                json!([{ "containerPort": port.0, "protocol": port.1 }]),
            );
        }
        let env: Vec<Value> = s["variables"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| scalar(v).map(|v| json!({"name": k, "value": interpolate(&v)})))
            .collect();
        if !env.is_empty() {
            c.insert("environment".into(), Value::Array(env));
        }
        let secrets: Vec<Value> = s["secrets"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| secret_value_from(v).map(|f| json!({"name": k, "valueFrom": f})))
            .collect();
        if !secrets.is_empty() {
            c.insert("secrets".into(), Value::Array(secrets));
        }
        if let Some(cmd) = words(&s["command"]) {
            c.insert("command".into(), json!(cmd));
        }
        if let Some(cmd) = words(&s["entrypoint"]) {
            c.insert("entryPoint".into(), json!(cmd));
        }
        if let Some(h) = health_check(&s["healthcheck"]) {
            c.insert("healthCheck".into(), h);
        }
        if let Some(deps) = depends_on(&s["depends_on"]) {
            c.insert("dependsOn".into(), deps);
        }
        if let Some(cred) = s["credentialsParameter"].as_str() {
            c.insert(
                "repositoryCredentials".into(),
                json!({"credentialsParameter": cred}),
            );
        }
        let mounts: Vec<Value> = s["mount_points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(json!({
                    "sourceVolume": m["source_volume"].as_str()?,
                    "containerPath": m["path"].as_str()?,
                    "readOnly": m["read_only"].as_bool().unwrap_or(true)
                }))
            })
            .collect();
        if !mounts.is_empty() {
            c.insert("mountPoints".into(), Value::Array(mounts));
        }
        containers.push(Value::Object(c));
    }

    // The task.
    let mut td = Map::new();
    td.insert(
        "family".into(),
        json!(format!("{{{{ app }}}}-{{{{ env }}}}-{}", w.name)),
    );
    td.insert("networkMode".into(), json!("awsvpc"));
    td.insert("requiresCompatibilities".into(), json!(["FARGATE"]));
    td.insert(
        "cpu".into(),
        json!(scalar(&d["cpu"]).unwrap_or_else(|| "256".into())),
    );
    td.insert(
        "memory".into(),
        json!(scalar(&d["memory"]).unwrap_or_else(|| "512".into())),
    );
    td.insert(
        "executionRoleArn".into(),
        json!(format!(
            "arn:aws:iam::{{{{ account }}}}:role/{{{{ app }}}}-{{{{ env }}}}-{}-execution",
            w.name
        )),
    );
    td.insert(
        "taskRoleArn".into(),
        json!(format!(
            "arn:aws:iam::{{{{ account }}}}:role/{{{{ app }}}}-{{{{ env }}}}-{}-task",
            w.name
        )),
    );
    if let Some(p) = runtime_platform(&d["platform"]) {
        td.insert("runtimePlatform".into(), p);
    }
    if let Some(gib) = d["storage"]["ephemeral"].as_u64() {
        td.insert("ephemeralStorage".into(), json!({ "sizeInGiB": gib }));
    }
    if !volumes.is_empty() {
        td.insert("volumes".into(), Value::Array(volumes));
    }
    td.insert("containerDefinitions".into(), Value::Array(containers));
    w.note(notes, NoteKind::Infrastructure, &["name"], format!("`{}`: the execution and task roles, and the log group /copilot/<app>-<env>-{}, were made by Copilot's stack; the template names roles <app>-<env>-{}-execution / -task: create them (Terraform) or put the existing ARNs in ecs/{}.json", w.name, w.name, w.name, w.key));

    // The service or job in wharf.toml.
    let table = match w.kind {
        Kind::Service => "services",
        Kind::Job => "jobs",
    };
    let mut t = format!(
        "\n# {} `{}` ({})\n[{table}.{}]\ntask_definition = {}\n",
        w.type_name,
        w.name,
        super::from_root(&w.path, src.root).display(),
        w.key,
        toml_str(&format!("ecs/{}.json", w.key))
    );
    if w.key != w.name && w.kind == Kind::Service {
        t.push_str(&format!("name = {}\n", toml_str(&w.name)));
    }
    if w.kind == Kind::Service {
        let (count, autoscaling) = count(&d["count"]);
        t.push_str(&format!("desired_count = {}\n", count.unwrap_or(1)));
        if let Some(a) = autoscaling {
            w.note(
                notes,
                NoteKind::Infrastructure,
                &["count"],
                format!("`{}`: {a}", w.name),
            );
        }
    }
    t.push_str("launch_type = \"FARGATE\"\n");
    if w.kind == Kind::Service && (d["exec"].as_bool() == Some(true) || d["exec"].is_object()) {
        t.push_str("enable_execute_command = true\n");
    }
    if w.kind == Kind::Service {
        if d["deployment"]["rolling"].as_str() == Some("recreate") {
            t.push_str(&format!(
                "\n[services.{}.deployment]\nminimum_healthy_percent = 0\nmaximum_percent = 100\n",
                w.key
            ));
        }
        for (k, _) in d["deployment"].as_object().into_iter().flatten() {
            if k != "rolling" {
                w.note(
                    notes,
                    NoteKind::NoEquivalent,
                    &["deployment", k],
                    format!("`{}`: deployment.{k} is not imported", w.name),
                );
            }
        }
        let tags: Vec<(String, String)> = d["tags"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| scalar(v).map(|v| (k.clone(), v)))
            .collect();
        if !tags.is_empty() {
            t.push_str(&format!("\n[services.{}.tags]\n", w.key));
            for (k, v) in tags {
                t.push_str(&format!("{} = {}\n", toml_str(&k), toml_str(&v)));
            }
        }
    }

    // What stays with the infrastructure.
    let http = &d["http"];
    if http.is_object() || http.as_bool() == Some(true) {
        let mut what = vec!["the load balancer, its listener rule".to_string()];
        if let Some(p) = http["path"].as_str() {
            what[0].push_str(&format!(" for path {p}"));
        }
        let hc = match &http["healthcheck"] {
            Value::String(p) => Some(p.clone()),
            v => v["path"].as_str().map(str::to_string),
        };
        if let Some(p) = hc {
            what.push(format!("the target group's health check {p}"));
        }
        w.note(notes, NoteKind::Infrastructure, &["http"], format!("`{}`: {}: keep them in Terraform and add [[services.{}.load_balancers]] with the target group ARN", w.name, what.join(" and "), w.key));
    }
    if d["network"]["connect"].as_bool() == Some(true) || d["network"]["connect"].is_object() {
        w.note(
            notes,
            NoteKind::NoEquivalent,
            &["network", "connect"],
            format!("`{}`: Service Connect is not configured by wharf", w.name),
        );
    }
    if !d["network"]["vpc"]["security_groups"].is_null() {
        w.note(notes, NoteKind::Infrastructure, &["network", "vpc", "security_groups"], format!("`{}`: its extra security groups: list them in the environment's network.security_groups", w.name));
    }
    if !d["subscribe"].is_null() {
        w.note(notes, NoteKind::Infrastructure, &["subscribe"], format!("`{}`: the SNS topic subscriptions and SQS queue (COPILOT_QUEUE_URI) stay with Copilot's stack: move them to Terraform and pass the queue URL as a variable", w.name));
    }
    if let Some(schedule) = d["on"]["schedule"].as_str() {
        w.note(notes, NoteKind::Infrastructure, &["on", "schedule"], format!("`{}`: the schedule `{schedule}` (an EventBridge rule) stays with the infrastructure; `wharf run {}` runs the job by hand", w.name, w.key));
    }
    for k in ["retries", "timeout"] {
        if !d[k].is_null() {
            w.note(
                notes,
                NoteKind::NoEquivalent,
                &[k],
                format!(
                    "`{}`: the job's {k} (a Step Functions setting) has no wharf equivalent",
                    w.name
                ),
            );
        }
    }

    // Environment overrides.
    for env in env_names {
        let o = &d["environments"][env];
        let mut plain = String::new();
        if w.kind == Kind::Service && !o["count"].is_null() {
            let (c, autoscaling) = count(&o["count"]);
            if let Some(c) = c {
                plain.push_str(&format!("desired_count = {c}\n"));
            }
            if let Some(a) = autoscaling {
                w.note(
                    notes,
                    NoteKind::Infrastructure,
                    &["environments", env, "count"],
                    format!("`{}` in {env}: {a}", w.name),
                );
            }
        }
        for k in ["cpu", "memory"] {
            if let Some(v) = scalar(&o[k]) {
                plain.push_str(&format!("{k} = {}\n", toml_str(&v)));
            }
        }
        let mut vars = String::new();
        for (k, v) in env_vars.get(env).into_iter().flatten() {
            if v.contains("${") {
                w.note(notes, NoteKind::Untranslated, &["environments", env], format!("`{}` in {env}: {k} = {v} uses a shell variable; vars are not templates, set the value by hand", w.name));
            }
            vars.push_str(&format!("{} = {}\n", toml_str(k), toml_str(v)));
        }
        for (k, _) in o.as_object().into_iter().flatten() {
            if !matches!(
                k.as_str(),
                "count" | "cpu" | "memory" | "variables" | "secrets"
            ) {
                w.note(
                    notes,
                    NoteKind::NoEquivalent,
                    &["environments", env, k],
                    format!(
                        "`{}` in {env}: the override of `{k}` is not imported",
                        w.name
                    ),
                );
            }
        }
        let mut block = String::new();
        if !plain.is_empty() || !vars.is_empty() {
            block.push_str(&format!(
                "\n[environments.{env}.{table}.{}]\n{plain}",
                w.key
            ));
            if !vars.is_empty() {
                block.push_str(&format!(
                    "\n[environments.{env}.{table}.{}.vars]\n{vars}",
                    w.key
                ));
            }
        }
        overrides.entry(env.clone()).or_default().push_str(&block);
    }
    let placement = d["network"]["vpc"]["placement"]
        .as_str()
        .unwrap_or("public")
        .to_string();
    Ok(Translated {
        toml: t,
        template: super::template_text(&Value::Object(td)),
        placement,
    })
}

/// The image reference for a container: `image('<key>')` with an `[images.<key>]` entry when
/// Copilot builds it, else its `location`.
#[allow(clippy::too_many_arguments)]
fn image_source(
    src: &CopilotSource,
    app: &str,
    key: &str,
    image: &Value,
    w: &Workload,
    at: &[&str],
    images: &mut String,
    notes: &mut Vec<Note>,
) -> Option<String> {
    if let Some(location) = image.as_str().or(image["location"].as_str()) {
        return Some(interpolate(location));
    }
    let build = &image["build"];
    let (dockerfile, context, args, target) = match build {
        Value::String(path) => {
            let path = PathBuf::from(path);
            let context = path.parent().map(Path::to_path_buf).unwrap_or_default();
            (path, context, None, None)
        }
        Value::Object(b) => {
            let context = b.get("context").and_then(Value::as_str).map(PathBuf::from);
            let dockerfile = b
                .get("dockerfile")
                .and_then(Value::as_str)
                .map(PathBuf::from);
            let (dockerfile, context) = match (dockerfile, context) {
                (Some(d), Some(c)) => (d, c),
                (Some(d), None) => {
                    let c = d.parent().map(Path::to_path_buf).unwrap_or_default();
                    (d, c)
                }
                (None, Some(c)) => (c.join("Dockerfile"), c),
                (None, None) => (PathBuf::from("Dockerfile"), PathBuf::new()),
            };
            (
                dockerfile,
                context,
                b.get("args").cloned(),
                b.get("target").and_then(Value::as_str).map(str::to_string),
            )
        }
        _ => return None,
    };
    let context_dir = src.dir.join(&context);
    let context_rel = super::from_root(&context_dir, src.root);
    let dockerfile_rel = super::relative(&dockerfile, &context);
    images.push_str(&format!(
        "\n[images.{key}]\ncontext = {}\ndockerfile = {}\nrepository = {}\n",
        toml_str(&context_rel.display().to_string()),
        toml_str(&dockerfile_rel.display().to_string()),
        toml_str(&format!("{app}/{key}"))
    ));
    if let Some(t) = target {
        images.push_str(&format!("target = {}\n", toml_str(&t)));
    }
    if let Some(p) = w.doc["platform"].as_str() {
        let platform = if p.contains("arm") {
            "linux/arm64"
        } else {
            "linux/amd64"
        };
        images.push_str(&format!("platform = {}\n", toml_str(platform)));
    }
    if let Some(args) = args.as_ref().and_then(Value::as_object) {
        images.push_str(&format!("\n[images.{key}.args]\n"));
        for (k, v) in args {
            images.push_str(&format!(
                "{} = {}\n",
                toml_str(k),
                toml_str(&scalar(v).unwrap_or_default())
            ));
        }
    }
    if !build["cache_from"].is_null() {
        let mut path: Vec<&str> = at.to_vec();
        path.extend(["build", "cache_from"]);
        w.note(
            notes,
            NoteKind::NoEquivalent,
            &path,
            format!("`{}`: build cache_from is not imported", w.name),
        );
    }
    Some(format!("{{{{ image('{key}') }}}}"))
}

/// `${COPILOT_APPLICATION_NAME}`, `${COPILOT_ENVIRONMENT_NAME}` and other `${VAR}` as wharf
/// template expressions.
fn interpolate(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let Some(end) = rest[i..].find('}') else {
            break;
        };
        out.push_str(&rest[..i]);
        let name = &rest[i + 2..i + end];
        out.push_str(&match name {
            "COPILOT_APPLICATION_NAME" => "{{ app }}".to_string(),
            "COPILOT_ENVIRONMENT_NAME" => "{{ env }}".to_string(),
            other => format!("{{{{ env_var('{other}') }}}}"),
        });
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A YAML scalar as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `vars.NAME`, or `vars['NAME']` when NAME is not an identifier.
fn var_ref(name: &str) -> String {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        format!("vars.{name}")
    } else {
        format!("vars['{name}']")
    }
}

/// A Copilot secret as `valueFrom`: an SSM parameter name or ARN, or a Secrets Manager secret;
/// None for `from_cfn`.
fn secret_value_from(v: &Value) -> Option<String> {
    if let Some(s) = v.as_str() {
        return Some(interpolate(s));
    }
    let sm = v["secretsmanager"].as_str()?;
    Some(if sm.starts_with("arn:") {
        interpolate(sm)
    } else {
        format!(
            "arn:aws:secretsmanager:{{{{ region }}}}:{{{{ account }}}}:secret:{}",
            interpolate(sm)
        )
    })
}

/// `port: 8080` or `"8080/tcp"`.
fn port(v: &Value) -> Option<(u64, String)> {
    match v {
        Value::Number(n) => n.as_u64().map(|p| (p, "tcp".into())),
        Value::String(s) => {
            let (p, proto) = s.split_once('/').unwrap_or((s, "tcp"));
            p.trim()
                .parse()
                .ok()
                .map(|p| (p, proto.to_ascii_lowercase()))
        }
        _ => None,
    }
}

/// A command as a list of words (a string is split like a shell would, without expansions).
fn words(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => Some(a.iter().filter_map(scalar).collect()),
        Value::String(s) => {
            let mut out = Vec::new();
            let mut cur = String::new();
            let mut quote: Option<char> = None;
            let mut any = false;
            for c in s.chars() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), c) => cur.push(c),
                    (None, '\'' | '"') => {
                        quote = Some(c);
                        any = true
                    }
                    (None, c) if c.is_whitespace() => {
                        if any || !cur.is_empty() {
                            out.push(std::mem::take(&mut cur));
                            any = false;
                        }
                    }
                    (None, c) => cur.push(c),
                }
            }
            if any || !cur.is_empty() {
                out.push(cur);
            }
            Some(out)
        }
        _ => None,
    }
}

/// A duration (`10s`, `1m`, or a number of seconds) in whole seconds.
fn seconds(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => humantime::parse_duration(s.trim())
            .ok()
            .map(|d| d.as_secs()),
        _ => None,
    }
}

/// `image.healthcheck` (a command string or a map) as a container `healthCheck`.
fn health_check(v: &Value) -> Option<Value> {
    let command = match v {
        Value::Null => return None,
        Value::String(s) => vec!["CMD-SHELL".to_string(), s.clone()],
        _ => match &v["command"] {
            Value::String(s) => vec!["CMD-SHELL".to_string(), s.clone()],
            Value::Array(a) => a.iter().filter_map(scalar).collect(),
            _ => return None,
        },
    };
    let mut h = Map::new();
    h.insert("command".into(), json!(command));
    for (from, to) in [
        ("interval", "interval"),
        ("timeout", "timeout"),
        ("start_period", "startPeriod"),
    ] {
        if let Some(s) = seconds(&v[from]) {
            h.insert(to.into(), json!(s));
        }
    }
    if let Some(r) = v["retries"].as_u64() {
        h.insert("retries".into(), json!(r));
    }
    Some(Value::Object(h))
}

/// `depends_on: {sidecar: start|complete|success|healthy}` as `dependsOn`.
fn depends_on(v: &Value) -> Option<Value> {
    let deps: Vec<Value> = v
        .as_object()?
        .iter()
        .filter_map(|(name, c)| {
            Some(json!({"containerName": name, "condition": c.as_str()?.to_ascii_uppercase()}))
        })
        .collect();
    (!deps.is_empty()).then_some(Value::Array(deps))
}

/// `platform: linux/arm64` or `{osfamily, architecture}` as `runtimePlatform`.
fn runtime_platform(v: &Value) -> Option<Value> {
    let (os, arch) = match v {
        Value::String(s) => {
            let (os, arch) = s.split_once('/').unwrap_or((s, "x86_64"));
            (os.to_string(), arch.to_string())
        }
        Value::Object(_) => (
            v["osfamily"].as_str()?.to_string(),
            v["architecture"].as_str().unwrap_or("x86_64").to_string(),
        ),
        _ => return None,
    };
    let arch = if arch.contains("arm") {
        "ARM64"
    } else {
        "X86_64"
    };
    Some(json!({
        "operatingSystemFamily": os.to_ascii_uppercase(),
        "cpuArchitecture": arch
    }))
}

/// `count`: a number, or autoscaling (`range`, `cpu_percentage`, ...) whose minimum is the
/// desired count; the second value says what stays with the infrastructure.
fn count(v: &Value) -> (Option<u64>, Option<String>) {
    match v {
        Value::Number(n) => (n.as_u64(), None),
        Value::Object(m) => {
            let min = match m.get("range") {
                Some(Value::String(r)) => r.split('-').next().and_then(|n| n.trim().parse().ok()),
                Some(r) => r["min"].as_u64(),
                None => m.get("spot").and_then(Value::as_u64),
            };
            let range = match m.get("range") {
                Some(Value::String(r)) => r.clone(),
                Some(r) => format!(
                    "{}-{}",
                    r["min"].as_u64().unwrap_or(0),
                    r["max"].as_u64().unwrap_or(0)
                ),
                None => String::new(),
            };
            let mut what = Vec::new();
            if !range.is_empty() {
                what.push(format!("autoscaling range {range}"));
            }
            for k in [
                "cpu_percentage",
                "memory_percentage",
                "requests",
                "response_time",
                "queue_delay",
            ] {
                if m.contains_key(k) {
                    what.push(k.to_string());
                }
            }
            if m.contains_key("spot") || m.get("range").is_some_and(|r| !r["spot_from"].is_null()) {
                what.push("Fargate Spot capacity".into());
            }
            let note = format!(
                "{} (Application Auto Scaling) stays with the infrastructure; desired_count is the minimum",
                what.join(", ")
            );
            (min, Some(note))
        }
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copilot_interpolation_becomes_templates() {
        assert_eq!(
            interpolate(
                "/copilot/${COPILOT_APPLICATION_NAME}/${COPILOT_ENVIRONMENT_NAME}/secrets/DB"
            ),
            "/copilot/{{ app }}/{{ env }}/secrets/DB"
        );
        assert_eq!(interpolate("v${TAG}x"), "v{{ env_var('TAG') }}x");
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            words(&json!("sh -c 'echo hi there'")).unwrap(),
            ["sh", "-c", "echo hi there"]
        );
    }

    #[test]
    fn counts_and_ranges() {
        assert_eq!(count(&json!(3)).0, Some(3));
        let (c, note) = count(&json!({"range": "2-10", "cpu_percentage": 70}));
        assert_eq!(c, Some(2));
        assert!(note
            .unwrap()
            .contains("autoscaling range 2-10, cpu_percentage"));
    }
}
