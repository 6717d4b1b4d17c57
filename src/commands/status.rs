//! `wharf status --env E [SERVICE...]`: per service, the revision and images, deployments with
//! counts and rollout state, tasks with health and age, the last events, and the target health of
//! load-balanced services.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::aws::ecs::Described;
use crate::aws::model::{family_revision, short_id, ContainerInstance, Service, Task};
use crate::error::Result;
use crate::project::connect::Connected;
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to show (all when none are named).
    pub services: Vec<String>,
    /// Events shown per service.
    #[arg(long, default_value_t = 5)]
    pub events: usize,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    // Fails on a bad project file before any AWS call.
    Manifest::load(&ctx.file)?;
    let conn = Connected::open(ctx, None, &[]).await?;
    let names = conn.select_service_names(&args.services)?;
    let described = conn.ecs.describe_services(&names).await?;
    let now = crate::rollout::watch::epoch_now();
    let mut docs = Vec::new();
    let mut missing = false;
    for d in described {
        let (service, _raw) = match d {
            Described::Found(s, raw) => (*s, raw),
            Described::Missing(name) => {
                missing = true;
                docs.push(json!({"service": name, "exists": false}));
                continue;
            }
        };
        let arns = conn
            .ecs
            .list_tasks(Some(&service.service_name), None, false)
            .await?;
        let tasks = conn.ecs.describe_tasks(&arns).await?;
        let td = conn
            .ecs
            .describe_task_definition(&service.task_definition)
            .await?;
        let images: Vec<Value> = td
            .as_ref()
            .and_then(|t| t["containerDefinitions"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|c| json!({"container": c["name"], "image": c["image"]}))
            .collect();
        let targets = target_health(&conn, &service).await;
        docs.push(document(
            &service,
            &tasks,
            images,
            targets,
            args.events,
            now,
        ));
    }
    let instances: Vec<Value> = conn
        .ecs
        .container_instances()
        .await?
        .iter()
        .map(|ci| instance_document(ci, now))
        .collect();
    if ctx.out.is_json() {
        ctx.out.json(
            &json!({"cluster": conn.ecs.cluster, "container_instances": instances, "services": docs}),
        );
    } else {
        println!(
            "cluster {} (environment {})",
            conn.ecs.cluster, conn.env_name
        );
        print!("{}", instances_text(&instances));
        for doc in &docs {
            print!("{}", text(doc));
        }
    }
    Ok(if missing { 1 } else { 0 })
}

async fn target_health(conn: &Connected, service: &Service) -> Vec<Value> {
    let mut out = Vec::new();
    for lb in &service.load_balancers {
        let Some(tg) = lb["targetGroupArn"].as_str() else {
            continue;
        };
        match crate::aws::elb::target_health(&conn.clients.elbv2, tg).await {
            Ok(targets) => out.extend(targets),
            Err(e) => out.push(json!({"target_group": tg, "error": e.message})),
        }
    }
    out
}

/// A container instance for `status`: what an operator of an EC2 cluster looks at.
fn instance_document(ci: &ContainerInstance, now: f64) -> Value {
    json!({
        "ec2_instance_id": ci.ec2_instance_id,
        "container_instance": short_id(&ci.container_instance_arn),
        "status": ci.status,
        "agent_connected": ci.agent_connected,
        "ami": ci.attribute("ecs.ami-id"),
        "instance_type": ci.attribute("ecs.instance-type"),
        "availability_zone": ci.attribute("ecs.availability-zone"),
        "cpu_free": ci.remaining("CPU"), "cpu_registered": ci.registered("CPU"),
        "memory_free": ci.remaining("MEMORY"), "memory_registered": ci.registered("MEMORY"),
        "running_tasks": ci.running_tasks_count, "pending_tasks": ci.pending_tasks_count,
        "age": age(now, ci.registered_at),
    })
}

fn instances_text(instances: &[Value]) -> String {
    let mut out = String::new();
    for i in instances {
        out.push_str(&format!(
            "  instance  {} {:<8} {} {} {}  cpu {}/{} free  memory {}/{} MiB free  tasks {} running {} pending  agent {}  up {}\n",
            i["ec2_instance_id"].as_str().unwrap_or("-"),
            i["status"].as_str().unwrap_or("-"),
            i["ami"].as_str().unwrap_or("-"),
            i["instance_type"].as_str().unwrap_or("-"),
            i["availability_zone"].as_str().unwrap_or("-"),
            i["cpu_free"], i["cpu_registered"], i["memory_free"], i["memory_registered"],
            i["running_tasks"], i["pending_tasks"],
            if i["agent_connected"] == true { "connected" } else { "DISCONNECTED" },
            i["age"].as_str().unwrap_or("-"),
        ));
    }
    out
}

fn age(now: f64, then: Option<f64>) -> String {
    match then {
        Some(t) if now >= t => {
            humantime::format_duration(std::time::Duration::from_secs((now - t) as u64)).to_string()
        }
        _ => "-".into(),
    }
}

fn document(
    service: &Service,
    tasks: &[Task],
    images: Vec<Value>,
    targets: Vec<Value>,
    events: usize,
    now: f64,
) -> Value {
    let mut by_dep: HashMap<&str, usize> = HashMap::new();
    for t in tasks {
        *by_dep
            .entry(t.started_by.as_deref().unwrap_or(""))
            .or_default() += 1;
    }
    json!({
        "service": service.service_name,
        "exists": true,
        "status": service.status,
        "revision": family_revision(&service.task_definition),
        "desired": service.desired_count,
        "running": service.running_count,
        "pending": service.pending_count,
        "images": images,
        "deployments": service.deployments.iter().map(|d| json!({
            "id": d.id, "status": d.status, "revision": family_revision(&d.task_definition),
            "rollout_state": d.rollout_state, "rollout_state_reason": d.rollout_state_reason,
            "desired": d.desired_count, "running": d.running_count, "pending": d.pending_count,
            "failed": d.failed_tasks, "age": age(now, d.created_at),
        })).collect::<Vec<_>>(),
        "tasks": tasks.iter().map(|t| json!({
            "id": short_id(&t.task_arn), "revision": family_revision(&t.task_definition_arn),
            "status": t.last_status, "health": t.health_status, "age": age(now, t.started_at.or(t.created_at)),
        })).collect::<Vec<_>>(),
        "events": service.events.iter().take(events).map(|e| json!({
            "age": age(now, e.created_at), "message": e.message,
        })).collect::<Vec<_>>(),
        "targets": targets,
    })
}

fn text(doc: &Value) -> String {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    if doc["exists"] == false {
        return format!("\n{}: does not exist\n", s(&doc["service"]));
    }
    let mut out = format!(
        "\n{}  {}  {}  desired {} running {} pending {}\n",
        console::style(s(&doc["service"])).bold(),
        s(&doc["revision"]),
        s(&doc["status"]),
        doc["desired"],
        doc["running"],
        doc["pending"]
    );
    for i in doc["images"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  image     {}: {}\n",
            s(&i["container"]),
            s(&i["image"])
        ));
    }
    for d in doc["deployments"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  deploy    {:<8} {:<14} {:<12} desired {} running {} pending {} failed {}  {} ago\n",
            s(&d["status"]),
            s(&d["revision"]),
            d["rollout_state"].as_str().unwrap_or("-"),
            d["desired"],
            d["running"],
            d["pending"],
            d["failed"],
            s(&d["age"])
        ));
    }
    for t in doc["tasks"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  task      {:<34} {:<14} {:<10} health {:<9} up {}\n",
            s(&t["id"]),
            s(&t["revision"]),
            s(&t["status"]),
            t["health"].as_str().unwrap_or("-"),
            s(&t["age"])
        ));
    }
    for t in doc["targets"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  target    {}{} {} {}\n",
            s(&t["target"]),
            t["port"]
                .as_i64()
                .map(|p| format!(":{p}"))
                .unwrap_or_default(),
            t["state"].as_str().unwrap_or("-"),
            t["reason"].as_str().or(t["error"].as_str()).unwrap_or("")
        ));
    }
    for e in doc["events"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  event     {} ago: {}\n",
            s(&e["age"]),
            s(&e["message"])
        ));
    }
    out
}
