//! Whether a task definition can ever be placed on a cluster's EC2 container instances.
//!
//! ECS keeps retrying a task it cannot place ("was unable to place a task because no container
//! instance met all of its requirements"), with no failed task for the circuit breaker to count,
//! so a rollout that needs more CPU or memory than any instance registers would wait for its
//! timeout. When such an event shows, the watch asks [`never_fits`]: if no ACTIVE instance could
//! hold the task even empty, the rollout fails at once with the reason. A task that fits an
//! instance once others stop (a rolling update on a full cluster) keeps waiting, as ECS does.

use serde_json::Value;

use crate::aws::model::ContainerInstance;

/// The event text ECS writes when it cannot place a task.
pub fn is_placement_event(message: &str) -> bool {
    message.contains("was unable to place a task")
}

/// What a task of `task_definition` reserves on an instance: (CPU units, MiB of memory). The
/// task-level values when the definition sets them, else the sum of its containers' `cpu` and
/// `memoryReservation` (or `memory`), as ECS reserves them.
pub fn reservation(task_definition: &Value) -> (i64, i64) {
    let containers = task_definition["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let sum = |f: &dyn Fn(&Value) -> i64| containers.iter().map(f).sum::<i64>();
    let cpu =
        units(&task_definition["cpu"]).unwrap_or_else(|| sum(&|c| c["cpu"].as_i64().unwrap_or(0)));
    let memory = units(&task_definition["memory"]).unwrap_or_else(|| {
        sum(&|c| {
            c["memoryReservation"]
                .as_i64()
                .or_else(|| c["memory"].as_i64())
                .unwrap_or(0)
        })
    });
    (cpu, memory)
}

fn units(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

/// Why no ACTIVE instance of `instances` could ever hold a task reserving `cpu` and `memory`,
/// or `None` when one could (or the cluster has no ACTIVE instance yet: capacity may be coming).
pub fn never_fits(
    revision: &str,
    (cpu, memory): (i64, i64),
    instances: &[ContainerInstance],
) -> Option<String> {
    let active: Vec<&ContainerInstance> =
        instances.iter().filter(|i| i.status == "ACTIVE").collect();
    if active.is_empty() {
        return None;
    }
    if active
        .iter()
        .any(|i| i.registered("CPU") >= cpu && i.registered("MEMORY") >= memory)
    {
        return None;
    }
    let max_mem = active
        .iter()
        .map(|i| i.registered("MEMORY"))
        .max()
        .unwrap_or(0);
    let max_cpu = active
        .iter()
        .map(|i| i.registered("CPU"))
        .max()
        .unwrap_or(0);
    let mut why = Vec::new();
    if memory > max_mem {
        why.push(format!(
            "{memory} MiB of memory, but the largest instance registers {max_mem} MiB"
        ));
    }
    if cpu > max_cpu {
        why.push(format!(
            "{cpu} CPU units, but the largest instance registers {max_cpu}"
        ));
    }
    if why.is_empty() {
        why.push(format!(
            "{cpu} CPU units and {memory} MiB of memory, which no single instance registers together"
        ));
    }
    Some(format!(
        "no container instance of the cluster can ever hold a task of {revision}: it reserves {}",
        why.join(" and ")
    ))
}

/// The host ports each task of `task_definition` takes on its instance: every port of a
/// `host`-mode container (the host port is the container port), the fixed `hostPort`s of a
/// `bridge`-mode one (0 or none is a dynamic port); none in `awsvpc` mode (each task has its own
/// network interface).
pub fn fixed_host_ports(task_definition: &Value) -> Vec<String> {
    let mode = task_definition["networkMode"].as_str().unwrap_or("bridge");
    let mut ports = Vec::new();
    for c in task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for m in c["portMappings"].as_array().into_iter().flatten() {
            let port = match mode {
                "host" => m["hostPort"]
                    .as_i64()
                    .or_else(|| m["containerPort"].as_i64()),
                "bridge" => m["hostPort"].as_i64().filter(|p| *p != 0),
                _ => None,
            };
            if let Some(port) = port {
                let protocol = m["protocol"].as_str().unwrap_or("tcp");
                ports.push(format!("{port}/{protocol}"));
            }
        }
    }
    ports
}

/// Why `desired` tasks of a revision taking the fixed host `ports` can never all run on
/// `instances`: each ACTIVE instance holds at most one of them, so more tasks than instances
/// wait forever (ECS retries without failing). `None` when they could, when the tasks take no
/// fixed port, or when no instance is ACTIVE yet (capacity may be coming).
pub fn ports_never_fit(
    revision: &str,
    ports: &[String],
    desired: i64,
    instances: &[ContainerInstance],
) -> Option<String> {
    let active = instances.iter().filter(|i| i.status == "ACTIVE").count() as i64;
    if ports.is_empty() || active == 0 || desired <= active {
        return None;
    }
    let (noun, it) = if ports.len() == 1 {
        ("port", "it")
    } else {
        ("ports", "them")
    };
    Some(format!(
        "{desired} tasks of {revision} are wanted, each takes host {noun} {} on its instance, and \
         the cluster has {active} ACTIVE container instance{}: at most {active} can run (one per \
         instance); add instances, lower desired_count, or give the container a dynamic host port \
         (bridge mode, hostPort 0) or awsvpc mode so several tasks share an instance without \
         fighting over {it}",
        ports.join(", "),
        if active == 1 { "" } else { "s" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::Resource;
    use serde_json::json;

    fn instance(status: &str, cpu: i64, memory: i64) -> ContainerInstance {
        ContainerInstance {
            status: status.into(),
            registered_resources: vec![
                Resource {
                    name: "CPU".into(),
                    integer_value: cpu,
                },
                Resource {
                    name: "MEMORY".into(),
                    integer_value: memory,
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn fixed_host_ports_by_network_mode() {
        let td = |mode: &str, mapping: Value| json!({"networkMode": mode, "containerDefinitions": [{"portMappings": [mapping]}]});
        assert_eq!(
            fixed_host_ports(&td("host", json!({"containerPort": 8080}))),
            ["8080/tcp"]
        );
        assert_eq!(
            fixed_host_ports(&td(
                "bridge",
                json!({"containerPort": 80, "hostPort": 8443, "protocol": "udp"})
            )),
            ["8443/udp"]
        );
        assert!(
            fixed_host_ports(&td("bridge", json!({"containerPort": 80, "hostPort": 0}))).is_empty()
        );
        assert!(fixed_host_ports(
            &json!({"containerDefinitions": [{"portMappings": [{"containerPort": 80}]}]})
        )
        .is_empty());
        assert!(
            fixed_host_ports(&td("awsvpc", json!({"containerPort": 80, "hostPort": 80})))
                .is_empty()
        );
    }

    #[test]
    fn more_tasks_than_instances_on_a_fixed_port_never_fit() {
        let cis = [
            instance("ACTIVE", 2048, 2000),
            instance("ACTIVE", 2048, 2000),
            instance("DRAINING", 2048, 2000),
        ];
        let ports = ["8080/tcp".to_string()];
        let why = ports_never_fit("web:3", &ports, 3, &cis).unwrap();
        assert!(
            why.starts_with("3 tasks of web:3 are wanted, each takes host port 8080/tcp on its instance, and the cluster has 2 ACTIVE container instances: at most 2 can run"),
            "{why}"
        );
        assert_eq!(ports_never_fit("web:3", &ports, 2, &cis), None);
        assert_eq!(ports_never_fit("web:3", &[], 9, &cis), None);
        assert_eq!(ports_never_fit("web:3", &ports, 3, &[]), None);
    }

    #[test]
    fn reservation_prefers_task_level_then_sums_containers() {
        assert_eq!(
            reservation(&json!({"cpu": "512", "memory": "1024", "containerDefinitions": []})),
            (512, 1024)
        );
        let td = json!({"containerDefinitions": [
            {"cpu": 256, "memory": 512},
            {"cpu": 128, "memoryReservation": 64, "memory": 1024},
        ]});
        assert_eq!(reservation(&td), (384, 576));
    }

    #[test]
    fn too_big_for_every_instance_is_named() {
        let cis = [
            instance("ACTIVE", 2048, 1000),
            instance("ACTIVE", 2048, 1500),
            instance("DRAINING", 8192, 8000),
        ];
        let why = never_fits("web:3", (256, 3000), &cis).unwrap();
        assert_eq!(why, "no container instance of the cluster can ever hold a task of web:3: it reserves 3000 MiB of memory, but the largest instance registers 1500 MiB");
        assert!(never_fits("web:3", (4096, 100), &cis)
            .unwrap()
            .contains("4096 CPU units, but the largest instance registers 2048"));
        assert_eq!(never_fits("web:3", (256, 1200), &cis), None);
        assert_eq!(
            never_fits("web:3", (256, 3000), &[]),
            None,
            "no instances yet: capacity may come"
        );
        assert!(never_fits(
            "web:3",
            (2048, 1500),
            &[
                instance("ACTIVE", 1024, 2000),
                instance("ACTIVE", 4096, 1000)
            ]
        )
        .unwrap()
        .contains("no single instance registers together"));
    }

    #[test]
    fn placement_events_are_recognized() {
        assert!(is_placement_event("(service web) was unable to place a task because no container instance met all of its requirements."));
        assert!(!is_placement_event(
            "(service web) has reached a steady state."
        ));
    }
}
