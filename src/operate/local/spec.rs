//! What a task definition asks of a local run, as data: the containers in `dependsOn` order with
//! their images, environment, ports, health checks and volumes. Pure; tested without an engine.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{Error, Result};

/// A `dependsOn` condition (ECS's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Start,
    Complete,
    Success,
    Healthy,
}

impl Condition {
    fn parse(s: &str) -> Option<Condition> {
        match s {
            "START" => Some(Condition::Start),
            "COMPLETE" => Some(Condition::Complete),
            "SUCCESS" => Some(Condition::Success),
            "HEALTHY" => Some(Condition::Healthy),
            _ => None,
        }
    }
}

/// One container to start locally.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalContainer {
    pub name: String,
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    /// Plain environment, then overrides (later wins).
    pub environment: BTreeMap<String, String>,
    /// Secret names (values are looked up at run time and passed in a private env file).
    pub secrets: Vec<(String, String)>,
    /// (host port, container port, protocol).
    pub ports: Vec<(u16, u16, String)>,
    pub depends_on: Vec<(String, Condition)>,
    pub essential: bool,
    pub health: Option<Health>,
    pub working_directory: Option<String>,
    pub user: Option<String>,
    /// `mountPoints`: (task volume, container path, read-only).
    pub mounts: Vec<(String, String, bool)>,
    /// `volumesFrom`: (container, read-only).
    pub volumes_from: Vec<(String, bool)>,
    /// Engine options for limits and runtime settings, as the ECS agent applies them (see
    /// [`runtime_options`]).
    pub options: Vec<String>,
    /// Seconds between SIGTERM and SIGKILL when the run ends (`stopTimeout`, else
    /// [`DEFAULT_STOP_SECS`]).
    pub stop_timeout: u64,
}

/// How long a container that sets no `stopTimeout` gets to stop after SIGTERM: docker's and
/// compose's 10 s rather than ECS's 30 s, since locally Ctrl-C waits for it.
pub const DEFAULT_STOP_SECS: u64 = 10;

/// A container's `healthCheck`, with ECS's defaults for what it leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// The engine's `--health-cmd` (a shell command line).
    pub command: String,
    pub interval: u64,
    pub timeout: u64,
    pub retries: u64,
    pub start_period: u64,
}

impl Health {
    fn parse(h: &Value) -> Option<Health> {
        let cmd = strings(&h["command"])?;
        let command = match cmd.first().map(String::as_str) {
            Some("CMD-SHELL") => cmd[1..].join(" "),
            Some("CMD") => cmd[1..]
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" "),
            _ => return None,
        };
        let secs = |key: &str, default: u64| number(&h[key]).unwrap_or(default);
        Some(Health {
            command,
            interval: secs("interval", 30),
            timeout: secs("timeout", 5),
            retries: secs("retries", 3),
            start_period: secs("startPeriod", 0),
        })
    }
}

/// `arg` as one word of a POSIX shell command line.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

pub(crate) fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// The containers of `task_definition` in an order where each comes after those it depends on.
/// `overrides` (name, value) replace or add environment entries in every container.
pub fn plan(
    task_definition: &Value,
    overrides: &[(String, String)],
) -> Result<Vec<LocalContainer>> {
    let defs = task_definition["containerDefinitions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let volumes = task_volumes(task_definition);
    let mut containers = Vec::new();
    for d in &defs {
        let name = d["name"].as_str().unwrap_or_default().to_string();
        let mut mounts = Vec::new();
        for m in d["mountPoints"].as_array().into_iter().flatten() {
            let volume = m["sourceVolume"].as_str().unwrap_or_default();
            if !volumes.iter().any(|v| v == volume) {
                return Err(Error::usage(format!(
                    "container `{name}` mounts volume `{volume}`, which the task definition's `volumes` does not have"
                )));
            }
            let Some(path) = m["containerPath"].as_str() else {
                return Err(Error::usage(format!(
                    "container `{name}` mounts volume `{volume}` without a containerPath"
                )));
            };
            let read_only = m["readOnly"].as_bool().unwrap_or(false);
            mounts.push((volume.to_string(), path.to_string(), read_only));
        }
        let mut volumes_from = Vec::new();
        for v in d["volumesFrom"].as_array().into_iter().flatten() {
            let source = v["sourceContainer"].as_str().unwrap_or_default();
            if source == name || !defs.iter().any(|d| d["name"] == source) {
                return Err(Error::usage(format!(
                    "container `{name}` takes volumes from `{source}`, which is not another container of the task definition"
                )));
            }
            let read_only = v["readOnly"].as_bool().unwrap_or(false);
            volumes_from.push((source.to_string(), read_only));
        }
        let image = d["image"].as_str().unwrap_or_default().to_string();
        let mut environment = BTreeMap::new();
        for e in d["environment"].as_array().into_iter().flatten() {
            if let (Some(k), Some(v)) = (e["name"].as_str(), e["value"].as_str()) {
                environment.insert(k.to_string(), v.to_string());
            }
        }
        for (k, v) in overrides {
            environment.insert(k.clone(), v.clone());
        }
        let secrets = d["secrets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["name"].as_str()?.to_string(),
                    s["valueFrom"].as_str()?.to_string(),
                ))
            })
            .collect();
        let ports = d["portMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| {
                let container = p["containerPort"].as_u64()? as u16;
                let host = p["hostPort"]
                    .as_u64()
                    .filter(|h| *h != 0)
                    .map(|h| h as u16)
                    .unwrap_or(container);
                let protocol = p["protocol"].as_str().unwrap_or("tcp").to_string();
                Some((host, container, protocol))
            })
            .collect();
        let mut depends_on = Vec::new();
        for dep in d["dependsOn"].as_array().into_iter().flatten() {
            let other = dep["containerName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let cond = dep["condition"].as_str().unwrap_or("START");
            let Some(c) = Condition::parse(cond) else {
                return Err(Error::usage(format!(
                    "container `{name}` depends on `{other}` with condition {cond:?}; ECS knows START, COMPLETE, SUCCESS and HEALTHY"
                )));
            };
            if !defs.iter().any(|d| d["name"] == other.as_str()) {
                return Err(Error::usage(format!(
                    "container `{name}` depends on `{other}`, which the task definition does not have"
                )));
            }
            depends_on.push((other, c));
        }
        containers.push(LocalContainer {
            name,
            image,
            entrypoint: strings(&d["entryPoint"]),
            command: strings(&d["command"]),
            environment,
            secrets,
            ports,
            depends_on,
            essential: d["essential"].as_bool().unwrap_or(true),
            health: Health::parse(&d["healthCheck"]),
            working_directory: d["workingDirectory"].as_str().map(str::to_string),
            user: d["user"].as_str().map(str::to_string),
            mounts,
            volumes_from,
            options: runtime_options(task_definition, d),
            stop_timeout: number(&d["stopTimeout"]).unwrap_or(DEFAULT_STOP_SECS),
        });
    }
    // One namespace: two containers cannot listen on one port (ECS refuses such a task too).
    let mut claimed: BTreeMap<(u16, &str), &str> = BTreeMap::new();
    for c in &containers {
        for (_, port, protocol) in &c.ports {
            if let Some(other) = claimed.insert((*port, protocol.as_str()), &c.name) {
                if other != c.name {
                    return Err(Error::usage(format!(
                        "containers `{other}` and `{}` both map port {port}/{protocol}; the containers of a task share one network, so each port can be mapped once",
                        c.name
                    )));
                }
            }
        }
    }
    // Order by dependsOn (ECS rejects cycles at registration; refuse them here too).
    let mut ordered: Vec<LocalContainer> = Vec::new();
    let mut pending = containers;
    while !pending.is_empty() {
        // A container whose volumes another takes must exist first, as for dependsOn.
        let ready = pending.iter().position(|c| {
            c.depends_on
                .iter()
                .map(|(d, _)| d)
                .chain(c.volumes_from.iter().map(|(v, _)| v))
                .all(|d| ordered.iter().any(|o| &o.name == d))
        });
        match ready {
            Some(i) => ordered.push(pending.remove(i)),
            None => {
                let names: Vec<&str> = pending.iter().map(|c| c.name.as_str()).collect();
                return Err(Error::usage(format!(
                    "the dependsOn (and volumesFrom) of containers {} form a cycle",
                    names.join(", ")
                )));
            }
        }
    }
    Ok(ordered)
}

/// A number that task definitions give as a number or a string (`"cpu": "256"`).
pub(crate) fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

/// The names of the task definition's `volumes`. Locally each is a fresh engine volume that lives
/// as long as the run: a Fargate task's volumes start empty too; a host path (EC2) or an EFS file
/// system is not mounted from this machine.
pub fn task_volumes(task_definition: &Value) -> Vec<String> {
    task_definition["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

/// Engine options for container definition `d` of `task_definition`, as the ECS agent maps them
/// to Docker: container `cpu` → CPU shares, `memory` → hard limit, `memoryReservation` → soft
/// limit, `ulimits`, `readonlyRootFilesystem`, `privileged`, `dockerLabels`, and
/// `linuxParameters`: `initProcessEnabled` → `--init`, `capabilities` → `--cap-add`/`--cap-drop`,
/// `sharedMemorySize` → `--shm-size`, `tmpfs` → `--tmpfs`, `devices` → `--device`, `maxSwap` →
/// `--memory-swap` (on top of the hard limit), `swappiness` → `--memory-swappiness`.
///
/// The task's size (Fargate's `cpu` and `memory`) caps each container, as the container's own
/// limit would: the engine has no limit for a group of containers, so together they may use more
/// than the task could.
pub fn runtime_options(task_definition: &Value, d: &Value) -> Vec<String> {
    let mut o: Vec<String> = Vec::new();
    if let Some(shares) = number(&d["cpu"]).filter(|c| *c >= 2) {
        o.extend(["--cpu-shares".into(), shares.to_string()]);
    }
    if let Some(units) = number(&task_definition["cpu"]).filter(|c| *c > 0) {
        o.extend(["--cpus".into(), format!("{}", units as f64 / 1024.0)]);
    }
    let memory = number(&d["memory"]).or_else(|| number(&task_definition["memory"]));
    if let Some(mib) = memory.filter(|m| *m > 0) {
        o.extend(["--memory".into(), format!("{mib}m")]);
    }
    if let Some(mib) = number(&d["memoryReservation"]).filter(|m| *m > 0) {
        o.extend(["--memory-reservation".into(), format!("{mib}m")]);
    }
    for u in d["ulimits"].as_array().into_iter().flatten() {
        if let (Some(name), Some(soft), Some(hard)) = (
            u["name"].as_str(),
            number(&u["softLimit"]),
            number(&u["hardLimit"]),
        ) {
            o.extend(["--ulimit".into(), format!("{name}={soft}:{hard}")]);
        }
    }
    if d["readonlyRootFilesystem"].as_bool() == Some(true) {
        o.push("--read-only".into());
    }
    if d["privileged"].as_bool() == Some(true) {
        o.push("--privileged".into());
    }
    let linux = &d["linuxParameters"];
    if linux["initProcessEnabled"].as_bool() == Some(true) {
        o.push("--init".into());
    }
    for (key, flag) in [("add", "--cap-add"), ("drop", "--cap-drop")] {
        for cap in strings(&linux["capabilities"][key]).into_iter().flatten() {
            o.extend([flag.into(), cap]);
        }
    }
    if let Some(mib) = number(&linux["sharedMemorySize"]).filter(|m| *m > 0) {
        o.extend(["--shm-size".into(), format!("{mib}m")]);
    }
    for t in linux["tmpfs"].as_array().into_iter().flatten() {
        let Some(path) = t["containerPath"].as_str() else {
            continue;
        };
        let mut opts: Vec<String> = number(&t["size"])
            .map(|mib| format!("size={mib}m"))
            .into_iter()
            .collect();
        opts.extend(strings(&t["mountOptions"]).into_iter().flatten());
        let spec = if opts.is_empty() {
            path.to_string()
        } else {
            format!("{path}:{}", opts.join(","))
        };
        o.extend(["--tmpfs".into(), spec]);
    }
    for dev in linux["devices"].as_array().into_iter().flatten() {
        let Some(host) = dev["hostPath"].as_str() else {
            continue;
        };
        let mut spec = host.to_string();
        spec.push(':');
        spec.push_str(dev["containerPath"].as_str().unwrap_or(host));
        let perms: String = strings(&dev["permissions"])
            .into_iter()
            .flatten()
            .filter_map(|p| match p.as_str() {
                "read" => Some('r'),
                "write" => Some('w'),
                "mknod" => Some('m'),
                _ => None,
            })
            .collect();
        if !perms.is_empty() {
            spec.push(':');
            spec.push_str(&perms);
        }
        o.extend(["--device".into(), spec]);
    }
    if let (Some(swap), Some(mib)) = (number(&linux["maxSwap"]), memory.filter(|m| *m > 0)) {
        o.extend(["--memory-swap".into(), format!("{}m", mib + swap)]);
    }
    if let Some(swappiness) = number(&linux["swappiness"]) {
        o.extend(["--memory-swappiness".into(), swappiness.to_string()]);
    }
    if let Some(labels) = d["dockerLabels"].as_object() {
        for (k, v) in labels {
            if let Some(v) = v.as_str() {
                o.extend(["--label".into(), format!("{k}={v}")]);
            }
        }
    }
    o
}
