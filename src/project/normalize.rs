//! One canonical form for task definitions, so that what wharf rendered and what AWS describes
//! compare equal when AWS only filled in defaults, dropped empty values or reordered lists.
//!
//! Used by the deploy plan (register a new revision only when something changed) and by `diff`.

use serde_json::{Map, Value};

/// Fields DescribeTaskDefinition returns that are not part of what a user registers.
pub const READ_ONLY_FIELDS: [&str; 10] = [
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequested",
    "tags",
];

/// The canonical form of a task definition (rendered request or described live revision).
pub fn task_definition(td: &Value) -> Value {
    let mut td = td.clone();
    if let Some(obj) = td.as_object_mut() {
        for field in READ_ONLY_FIELDS {
            obj.remove(field);
        }
        for field in ["cpu", "memory"] {
            if let Some(v) = obj.get(field).cloned() {
                obj.insert(field.to_string(), Value::String(task_size(field, &v)));
            }
        }
        if !obj.contains_key("networkMode") {
            obj.insert("networkMode".into(), Value::String("bridge".into()));
        }
        sort_strings(obj, "requiresCompatibilities");
        if let Some(Value::Array(containers)) = obj.get_mut("containerDefinitions") {
            for c in containers.iter_mut() {
                if let Some(c) = c.as_object_mut() {
                    container(c);
                }
            }
        }
        sort_by_key(obj, "volumes", "name");
        sort_by_key(obj, "placementConstraints", "expression");
    }
    prune(&mut td);
    td
}

fn container(c: &mut Map<String, Value>) {
    c.entry("essential").or_insert(Value::Bool(true));
    if c.get("cpu") == Some(&Value::from(0)) {
        c.remove("cpu");
    }
    if let Some(Value::Array(ports)) = c.get_mut("portMappings") {
        for p in ports.iter_mut() {
            if let Some(p) = p.as_object_mut() {
                p.entry("protocol").or_insert(Value::String("tcp".into()));
                if let Some(cp) = p.get("containerPort").cloned() {
                    p.entry("hostPort").or_insert(cp);
                }
            }
        }
        ports.sort_by_key(|p| {
            (
                p["containerPort"].as_i64(),
                p["protocol"].as_str().map(str::to_string),
            )
        });
    }
    sort_by_key(c, "environment", "name");
    sort_by_key(c, "secrets", "name");
    sort_by_key(c, "ulimits", "name");
    sort_by_key(c, "dependsOn", "containerName");
    sort_by_key(c, "mountPoints", "containerPath");
    sort_by_key(c, "extraHosts", "hostname");
    sort_by_key(c, "systemControls", "namespace");
    sort_by_key(c, "environmentFiles", "value");
}

/// Task-level cpu/memory as ECS stores them: a string of CPU units or MiB. Accepts numbers and the
/// documented spellings "1 vCPU", "0.25 vcpu", "2 GB", "512 MiB".
pub fn task_size(field: &str, v: &Value) -> String {
    let text = match v {
        Value::Number(n) => return n.to_string(),
        Value::String(s) => s.trim().to_ascii_lowercase(),
        other => return other.to_string(),
    };
    let (number, unit) = text
        .split_once(char::is_whitespace)
        .map(|(n, u)| (n.trim(), u.trim()))
        .unwrap_or((text.as_str(), ""));
    let Ok(n) = number.parse::<f64>() else {
        return text;
    };
    let scaled = match (field, unit) {
        ("cpu", "vcpu") => n * 1024.0,
        ("memory", "gb") | ("memory", "gib") => n * 1024.0,
        _ => n,
    };
    format!("{}", scaled.round() as i64)
}

fn sort_strings(obj: &mut Map<String, Value>, field: &str) {
    if let Some(Value::Array(items)) = obj.get_mut(field) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

fn sort_by_key(obj: &mut Map<String, Value>, field: &str, key: &str) {
    if let Some(Value::Array(items)) = obj.get_mut(field) {
        items.sort_by(|a, b| a[key].to_string().cmp(&b[key].to_string()));
    }
}

/// Removes nulls, empty arrays and empty objects, recursively (AWS omits or empties them freely).
fn prune(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for child in map.values_mut() {
                prune(child);
            }
            map.retain(|_, child| !is_empty(child));
        }
        Value::Array(items) => {
            for child in items.iter_mut() {
                prune(child);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// True when the rendered task definition would register the same thing as the live one.
pub fn same_task_definition(rendered: &Value, live: &Value) -> bool {
    task_definition(rendered) == task_definition(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered() -> Value {
        json!({
            "family": "web",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "0.25 vCPU",
            "memory": 512,
            "containerDefinitions": [{
                "name": "web",
                "image": "127.0.0.1:5000/hello/app:abc",
                "portMappings": [{"containerPort": 8080}],
                "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "secrets": []
            }]
        })
    }

    fn live() -> Value {
        json!({
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
            "family": "web", "revision": 3, "status": "ACTIVE",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "compatibilities": ["EC2", "FARGATE"],
            "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
            "cpu": "256", "memory": "512",
            "volumes": [], "placementConstraints": [],
            "registeredAt": 1732370000.0, "registeredBy": "arn:aws:iam::123456789012:root",
            "containerDefinitions": [{
                "name": "web", "image": "127.0.0.1:5000/hello/app:abc", "cpu": 0, "essential": true,
                "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
                "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "mountPoints": [], "volumesFrom": [], "systemControls": []
            }]
        })
    }

    #[test]
    fn defaults_and_ordering_do_not_count_as_changes() {
        assert!(same_task_definition(&rendered(), &live()));
    }

    #[test]
    fn a_changed_image_counts() {
        let mut r = rendered();
        r["containerDefinitions"][0]["image"] = json!("127.0.0.1:5000/hello/app:def");
        assert!(!same_task_definition(&r, &live()));
    }

    #[test]
    fn a_changed_environment_value_counts() {
        let mut r = rendered();
        r["containerDefinitions"][0]["environment"][0]["value"] = json!("3");
        assert!(!same_task_definition(&r, &live()));
    }

    #[test]
    fn task_sizes_in_every_spelling() {
        assert_eq!(task_size("cpu", &json!("1 vCPU")), "1024");
        assert_eq!(task_size("cpu", &json!("0.5 vcpu")), "512");
        assert_eq!(task_size("cpu", &json!(256)), "256");
        assert_eq!(task_size("memory", &json!("2 GB")), "2048");
        assert_eq!(task_size("memory", &json!("0.5 GB")), "512");
        assert_eq!(task_size("memory", &json!("512")), "512");
    }

    #[test]
    fn missing_network_mode_is_bridge() {
        let a = json!({"family": "x", "containerDefinitions": []});
        let b = json!({"family": "x", "networkMode": "bridge"});
        assert!(same_task_definition(&a, &b));
    }
}
