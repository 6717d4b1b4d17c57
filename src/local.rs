//! `wharf local run`: a task definition's containers on this machine with docker or podman: the
//! image (built here, or pulled after an ECR login), environment, secrets resolved from SSM, port
//! mappings published on 127.0.0.1, `dependsOn` order and conditions, and overrides. Ctrl-C stops
//! and removes what it started.
//!
//! As in an `awsvpc` task, the containers share one network namespace, so they reach each other on
//! `localhost`: a small holder container (see [`pause_program`]) owns the namespace and publishes
//! every port, and each container joins it. The namespace sits on a network of its own, where the
//! container names also resolve.
//!
//! [`plan`] turns a rendered task definition into container specs and [`run_args`] into the
//! engine's arguments, both pure; [`run`] drives the engine CLI.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::Context;
use crate::engine::{BuildSpec, Engine};
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
fn shell_quote(arg: &str) -> String {
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

fn strings(v: &Value) -> Option<Vec<String>> {
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
fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
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

/// The engine's name of a task's container, volume or holder (`part`) in run `id`.
pub fn local_name(id: &str, part: &str) -> String {
    format!("{id}-{part}")
}

/// The start of every `docker run` of a local run: detached, named `name`, on `network`,
/// labelled as wharf's.
fn run_head(name: &str, network: &str) -> Vec<String> {
    [
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--label",
        "wharf.local=1",
    ]
    .map(String::from)
    .to_vec()
}

/// `docker run` arguments for the container that holds the task's network namespace: on
/// `network`, named by every container's name, publishing every container's ports on 127.0.0.1.
pub fn holder_args(
    containers: &[LocalContainer],
    holder: &str,
    network: &str,
    image: &str,
) -> Vec<String> {
    let mut a = run_head(holder, network);
    for c in containers {
        a.push("--network-alias".into());
        a.push(c.name.clone());
        for (host, container, protocol) in &c.ports {
            a.push("-p".into());
            a.push(format!("127.0.0.1:{host}:{container}/{protocol}"));
        }
    }
    a.push(image.into());
    a
}

/// `docker run` arguments for `c` of run `id` (before the image: options; then image and
/// command), in the network namespace of container `holder`. `env_file` holds the secrets and
/// environment, so values never appear in the process list.
pub fn run_args(c: &LocalContainer, id: &str, holder: &str, env_file: &str) -> Vec<String> {
    let mut a = run_head(&local_name(id, &c.name), &format!("container:{holder}"));
    a.extend(["--env-file".into(), env_file.into()]);
    let ro = |read_only: bool| if read_only { ":ro" } else { "" };
    for (volume, path, read_only) in &c.mounts {
        a.push("--volume".into());
        a.push(format!(
            "{}:{path}{}",
            local_name(id, volume),
            ro(*read_only)
        ));
    }
    for (source, read_only) in &c.volumes_from {
        a.push("--volumes-from".into());
        a.push(format!("{}{}", local_name(id, source), ro(*read_only)));
    }
    if let Some(h) = &c.health {
        a.extend([
            "--health-cmd".into(),
            h.command.clone(),
            "--health-interval".into(),
            format!("{}s", h.interval),
            "--health-timeout".into(),
            format!("{}s", h.timeout),
            "--health-retries".into(),
            h.retries.to_string(),
        ]);
        if h.start_period > 0 {
            a.extend([
                "--health-start-period".into(),
                format!("{}s", h.start_period),
            ]);
        }
    }
    if let Some(w) = &c.working_directory {
        a.push("--workdir".into());
        a.push(w.clone());
    }
    if let Some(u) = &c.user {
        a.push("--user".into());
        a.push(u.clone());
    }
    a.extend(c.options.iter().cloned());
    let mut rest = Vec::new();
    if let Some(ep) = &c.entrypoint {
        if let Some((first, more)) = ep.split_first() {
            a.push("--entrypoint".into());
            a.push(first.clone());
            rest.extend(more.iter().cloned());
        }
    }
    a.push(c.image.clone());
    a.extend(rest);
    if let Some(cmd) = &c.command {
        a.extend(cmd.iter().cloned());
    }
    a
}

/// The env-file text for a container: `NAME=value` lines. Values with newlines cannot be passed
/// this way and are refused with the variable's name (never its value).
pub fn env_file_text(container: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::new();
    for (k, v) in vars {
        if v.contains('\n') {
            return Err(Error::usage(format!(
                "{k} of container `{container}` has a value with a line break, which docker's --env-file cannot carry"
            )));
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('\n');
    }
    Ok(out)
}

/// The holder of a task's network namespace: a static Linux program for `arch` (Rust's names)
/// that blocks forever and does nothing else, like Kubernetes' pause container, for an image
/// `FROM scratch`. It is a whole ELF file of 150 bytes or so: one loadable segment holding the
/// loop, so that no base image (none may be at hand) and no toolchain is needed. None for an
/// architecture it has no code for.
pub fn pause_program(arch: &str) -> Option<Vec<u8>> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let (machine, code): (u16, Vec<u8>) = match arch {
        // loop: mov eax, 34 (pause); syscall; jmp loop
        "x86_64" => (62, vec![0xb8, 34, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]),
        // loop: x0..x3 = 0; x8 = 73 (ppoll with no descriptors and no timeout); svc #0; b loop
        "aarch64" => (
            183,
            [
                0xd280_0000u32,
                0xd280_0001,
                0xd280_0002,
                0xd280_0003,
                0xd280_0928,
                0xd400_0001,
                0x17ff_fffa,
            ]
            .iter()
            .flat_map(|i| i.to_le_bytes())
            .collect(),
        ),
        _ => return None,
    };
    let size = HEADERS + code.len() as u64;
    let mut elf = Vec::with_capacity(size as usize);
    // ELF header: 64-bit, little-endian, version 1, System V; an executable.
    elf.extend([0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend([0; 8]);
    elf.extend(2u16.to_le_bytes());
    elf.extend(machine.to_le_bytes());
    elf.extend(1u32.to_le_bytes());
    elf.extend((BASE + HEADERS).to_le_bytes()); // entry: the code after the headers
    elf.extend(64u64.to_le_bytes()); // program headers right after this header
    elf.extend(0u64.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes());
    for half in [64u16, 56, 1, 0, 0, 0] {
        elf.extend(half.to_le_bytes()); // sizes and counts of the headers
    }
    // One program header: load the whole file at BASE, readable and executable.
    elf.extend(1u32.to_le_bytes());
    elf.extend(5u32.to_le_bytes());
    for word in [0, BASE, BASE, size, size, 0x1000] {
        elf.extend(word.to_le_bytes());
    }
    elf.extend(code);
    Some(elf)
}

/// The local image of the namespace holder, built the first time (named by its content, so a
/// changed program gets a new image).
async fn holder_image(engine: &Engine) -> Result<String> {
    let arch = std::env::consts::ARCH;
    let program = pause_program(arch).ok_or_else(|| {
        Error::failed(format!(
            "wharf local run has no network holder for this machine's architecture ({arch})"
        ))
    })?;
    let digest = crate::hex(&<sha2::Sha256 as sha2::Digest>::digest(&program));
    let tag = format!("wharf-local-holder:{}", &digest[..12]);
    if engine.inspect(&tag).await?.is_some() {
        return Ok(tag);
    }
    let dir = tempfile::Builder::new()
        .prefix("wharf-holder-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a temporary folder: {e}")))?;
    let write = |name: &str, bytes: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.path().join(name);
        std::fs::write(&path, bytes)
            .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
    };
    write("pause", &program, 0o755)?;
    write(
        "Dockerfile",
        b"FROM scratch\nCOPY pause /pause\nENTRYPOINT [\"/pause\"]\n",
        0o644,
    )?;
    let spec = BuildSpec {
        tags: vec![tag.clone()],
        context: dir.path().to_path_buf(),
        dockerfile: dir.path().join("Dockerfile"),
        target: None,
        platform: None,
        args: Vec::new(),
        labels: vec![("wharf.local".into(), "1".into())],
        iidfile: dir.path().join("iid"),
    };
    engine.build("local network holder", &spec, &|_| {}).await?;
    Ok(tag)
}

/// Makes sure the engine has every image: one built here is used as it is (unless `pull`); one
/// it lacks is pulled, after an ECR login (kept to this run) when it is in the environment's
/// registry or in any ECR registry.
async fn ensure_images(
    ctx: &Context,
    engine: &Engine,
    conn: &crate::deploy::Connected,
    containers: &[LocalContainer],
    pull: bool,
) -> Result<()> {
    let mut images: Vec<&str> = containers.iter().map(|c| c.image.as_str()).collect();
    images.sort();
    images.dedup();
    let mut missing = Vec::new();
    for image in images {
        if pull || engine.inspect(image).await?.is_none() {
            missing.push(image);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    // The environment's registry, when it is known without asking STS (only ECR hosts are
    // recognised otherwise).
    let target = crate::images::Target::new(
        &conn.manifest,
        &conn.env_name,
        None,
        Some(conn.clients.region.clone()),
    )
    .ok();
    // One authorization token opens every ECR registry the caller may use: asked for once.
    let mut login = None;
    let mut logged_in: Vec<String> = Vec::new();
    for image in missing {
        let host = crate::images::ImageRef::parse(image).map(|r| r.host);
        if let Some(host) = host.filter(|h| crate::images::takes_ecr_login(target.as_ref(), h)) {
            if !logged_in.contains(&host) {
                if login.is_none() {
                    let account = target.as_ref().and_then(|t| t.account.clone());
                    let ecr = crate::images::ecr::Ecr::new(&conn.clients.config, account);
                    login = Some(ecr.login().await?);
                }
                let l = login.as_ref().expect("asked for above");
                engine.login(&host, &l.username, &l.password).await?;
                logged_in.push(host);
            }
        }
        ctx.out.status(format!("pulling {image}"));
        let echo = |line: &str| ctx.out.verbose(format!("  {line}"));
        engine.pull(image, &echo).await.map_err(|e| {
            e.with_hint(
                "build it here (`wharf build`) or push it (`wharf push`) with this tag first",
            )
        })?;
    }
    Ok(())
}

/// What `wharf local run` was asked for.
#[derive(Debug, Clone)]
pub struct LocalRequest {
    pub unit: String,
    pub tag: Option<String>,
    pub env_files: Vec<PathBuf>,
    pub set_env: Vec<(String, String)>,
    /// Stop after this long (for scripts and tests); None: until an essential container exits or Ctrl-C.
    pub timeout: Option<Duration>,
    /// `--engine`: docker or podman.
    pub engine: Option<String>,
    /// `--pull`: pull every image, even one the engine has.
    pub pull: bool,
}

async fn engine_out(engine: &Engine, args: &[String]) -> Result<String> {
    let program = engine.program();
    let out = engine
        .plain(&[])
        .args(args)
        .output()
        .await
        .map_err(|e| Error::failed(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(Error::failed(format!(
            "{program} {} failed: {}",
            args.first().map(String::as_str).unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Reads the SSM parameters `secrets` reference (ARN or name), decrypted.
async fn resolve_secrets(
    ssm: &aws_sdk_ssm::Client,
    containers: &[LocalContainer],
) -> Result<HashMap<String, String>> {
    let mut values = HashMap::new();
    for c in containers {
        for (_, from) in &c.secrets {
            if values.contains_key(from) {
                continue;
            }
            let name = match from.split_once(":parameter") {
                Some((_, path)) => path.to_string(),
                None => from.clone(),
            };
            let out = ssm
                .get_parameter()
                .name(&name)
                .with_decryption(true)
                .send()
                .await
                .map_err(|e| {
                    if e.as_service_error()
                        .is_some_and(|s| s.is_parameter_not_found())
                    {
                        Error::usage(format!(
                            "secret {name} (for container `{}`) does not exist in SSM",
                            c.name
                        ))
                    } else {
                        crate::aws::error("ssm:GetParameter", e)
                    }
                })?;
            let value = out.parameter.and_then(|p| p.value).unwrap_or_default();
            values.insert(from.clone(), value);
        }
    }
    Ok(values)
}

/// Runs the unit's containers; returns the exit code of the first essential container to exit.
pub async fn run(ctx: &Context, req: LocalRequest) -> Result<i32> {
    let manifest = ctx.manifest()?;
    let preferred = crate::images::preferred_engine(&manifest, req.engine.as_deref())?;
    let unit = crate::render::Unit::find(&manifest, &req.unit)?;
    let unit = match unit {
        crate::render::Unit::Service(_) => crate::render::Unit::Service(req.unit.as_str()),
        crate::render::Unit::Job(_) => crate::render::Unit::Job(req.unit.as_str()),
    };
    drop(manifest);
    // Registry logins of this run stay in a private folder, as with `wharf push`.
    let engine = Engine::detect(preferred).await?.with_private_auth()?;
    let mut overrides = Vec::new();
    for f in &req.env_files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::usage(format!("cannot read {}: {e}", f.display())))?;
        for e in crate::secrets::parse_dotenv(f, &text)? {
            overrides.push((e.name, e.value));
        }
    }
    overrides.extend(req.set_env.iter().cloned());
    let conn = crate::jobs::connect(ctx, req.tag.clone(), Some(unit)).await?;
    let inputs = conn
        .resolved
        .inputs(&conn.manifest, &conn.env_name, conn.tag.as_deref());
    let rendered = crate::render::render_unit(&inputs, unit)?;
    let mut containers = plan(&rendered.task_definition, &overrides)?;
    // A job's command replaces its essential container's, as with `wharf run`.
    if let crate::render::Unit::Job(job) = unit {
        if let Some(cmd) = conn.manifest.doc.jobs[job].command.clone() {
            let target = crate::jobs::job_container(&rendered.task_definition, None)?;
            if let Some(c) = containers.iter_mut().find(|c| c.name == target) {
                c.command = Some(cmd);
            }
        }
    }
    for v in rendered.task_definition["volumes"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let from = if let Some(path) = v["host"]["sourcePath"].as_str() {
            format!("host path {path}")
        } else if v.get("efsVolumeConfiguration").is_some() {
            "EFS file system".to_string()
        } else {
            continue;
        };
        ctx.out.status(format!(
            "volume `{}`: a fresh local volume; the {from} is not mounted from this machine",
            v["name"].as_str().unwrap_or_default()
        ));
    }
    let secrets = resolve_secrets(&conn.clients.ssm, &containers).await?;
    ensure_images(ctx, &engine, &conn, &containers, req.pull).await?;
    let holder_image = holder_image(&engine).await?;
    let id = format!(
        "wharf-{}-{}-{}",
        conn.manifest.app(),
        req.unit,
        std::process::id()
    );
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", dir.display())))?;
    let mut started: Vec<String> = Vec::new();
    let network = id.clone();
    engine_out(
        &engine,
        &["network".into(), "create".into(), network.clone()],
    )
    .await?;
    let holder = local_name(&id, "network");
    // Removed at the end even when it fails to start: `run` may have created it.
    started.push(holder.clone());
    let result = match engine_out(
        &engine,
        &holder_args(&containers, &holder, &network, &holder_image),
    )
    .await
    {
        Ok(_) => {
            let run = Run {
                ctx,
                engine: &engine,
                id: &id,
                holder: &holder,
                dir: &dir,
                containers: &containers,
                secrets: &secrets,
                timeout: req.timeout,
            };
            run_containers(&run, &mut started).await
        }
        Err(e) => {
            let ports: Vec<String> = containers
                .iter()
                .flat_map(|c| c.ports.iter().map(|(h, _, p)| format!("127.0.0.1:{h}/{p}")))
                .collect();
            Err(e.with_hint(format!(
                "the task's ports are published on {}; when one is in use, stop what holds it",
                if ports.is_empty() {
                    "none".to_string()
                } else {
                    ports.join(", ")
                }
            )))
        }
    };
    // Clean up whatever happened: containers (the holder last), network, env files.
    for name in started.iter().rev() {
        let _ = engine.plain(&["rm", "-f", name]).output().await;
    }
    let _ = engine.plain(&["network", "rm", &network]).output().await;
    for volume in task_volumes(&rendered.task_definition) {
        let name = local_name(&id, &volume);
        let _ = engine.plain(&["volume", "rm", "-f", &name]).output().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One local run's containers and what starting them needs: run `id` (the prefix of the
/// engine's names), the network `holder`, the folder of env files, resolved secrets.
struct Run<'a> {
    ctx: &'a Context,
    engine: &'a Engine,
    id: &'a str,
    holder: &'a str,
    dir: &'a std::path::Path,
    containers: &'a [LocalContainer],
    secrets: &'a HashMap<String, String>,
    timeout: Option<Duration>,
}

/// Starts the containers in order and watches them to the end (see [`start_and_watch`]), then
/// stops what was started, whatever the end was, while the log followers still print.
/// `started` collects the engine names of what `run` may have created, for the clean-up.
async fn run_containers(run: &Run<'_>, started: &mut Vec<String>) -> Result<i32> {
    let mut log_tasks = Vec::new();
    let outcome = start_and_watch(run, started, &mut log_tasks).await;
    stop_gracefully(run, started).await;
    // Let the log followers print what is left.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for t in log_tasks {
        t.abort();
    }
    outcome
}

/// Starts each container once its dependsOn conditions hold, streams its output, and waits for
/// an essential container to exit (its code), the run's timeout, or Ctrl-C.
async fn start_and_watch(
    run: &Run<'_>,
    started: &mut Vec<String>,
    log_tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<i32> {
    let Run {
        ctx,
        engine,
        id,
        holder,
        dir,
        containers,
        secrets,
        timeout,
    } = *run;
    let signal = crate::deploy::interrupt_signal();
    let began = Instant::now();
    for c in containers {
        for (dep, cond) in &c.depends_on {
            let dep_name = local_name(id, dep);
            let health = containers
                .iter()
                .find(|d| &d.name == dep)
                .and_then(|d| d.health.as_ref());
            wait_condition(engine, &dep_name, dep, *cond, health, &signal).await?;
        }
        let mut vars = c.environment.clone();
        for (name, from) in &c.secrets {
            vars.insert(name.clone(), secrets.get(from).cloned().unwrap_or_default());
        }
        let env_path = dir.join(format!("{}.env", c.name));
        write_private(&env_path, &env_file_text(&c.name, &vars)?)?;
        let name = local_name(id, &c.name);
        let args = run_args(c, id, holder, &env_path.display().to_string());
        // Removed at the end even when it fails to start: `run` may have created it.
        started.push(name.clone());
        let r = engine_out(engine, &args).await;
        let _ = std::fs::remove_file(&env_path);
        r.map_err(|e| e.with_hint(format!("container `{}` did not start", c.name)))?;
        let ports: Vec<String> = c
            .ports
            .iter()
            .map(|(h, p, _)| format!("127.0.0.1:{h}->{p}"))
            .collect();
        ctx.out.status(format!(
            "started {}{}",
            c.name,
            if ports.is_empty() {
                String::new()
            } else {
                format!(" ({})", ports.join(", "))
            }
        ));
        let prefix = if containers.len() > 1 {
            format!("{} | ", c.name)
        } else {
            String::new()
        };
        log_tasks.push(tokio::spawn(follow_logs(engine.clone(), name, prefix)));
    }
    // Wait for an essential container to exit, Ctrl-C, or the timeout.
    let essential: Vec<(String, String)> = containers
        .iter()
        .filter(|c| c.essential)
        .map(|c| (c.name.clone(), local_name(id, &c.name)))
        .collect();
    loop {
        if *signal.borrow() {
            break Err(Error::interrupted(
                "interrupted; stopped and removed the local containers",
            ));
        }
        if timeout.is_some_and(|t| began.elapsed() >= t) {
            break Err(Error::timeout(
                "local run reached --timeout; stopped and removed the containers",
            ));
        }
        let mut exited = None;
        for (short, full) in &essential {
            let state = engine_out(
                engine,
                &[
                    "inspect".into(),
                    "-f".into(),
                    "{{.State.Status}} {{.State.ExitCode}}".into(),
                    full.clone(),
                ],
            )
            .await?;
            let mut parts = state.split_whitespace();
            if parts.next() == Some("exited") {
                let code: i32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(1);
                exited = Some((short.clone(), code));
                break;
            }
        }
        if let Some((short, code)) = exited {
            ctx.out.status(format!(
                "{short} exited with code {code}; stopping the others"
            ));
            break Ok(code);
        }
        let mut rx = signal.clone();
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = rx.changed() => {}
        }
    }
}

/// Stops the started containers as ECS stops a task's: dependents first (the reverse of the start
/// order), each with SIGTERM and, after its `stopTimeout`, SIGKILL, while their output is still
/// streamed, so shutdown handling can be watched. A second Ctrl-C skips the wait; whatever is
/// left is removed by the caller either way.
async fn stop_gracefully(run: &Run<'_>, started: &[String]) {
    let Run {
        ctx,
        engine,
        id,
        containers,
        ..
    } = *run;
    // Dependents first: the reverse of the start order.
    let mut to_stop: Vec<(&LocalContainer, String)> = containers
        .iter()
        .rev()
        .map(|c| (c, local_name(id, &c.name)))
        .filter(|(_, name)| started.contains(name))
        .collect();
    if to_stop.is_empty() {
        return;
    }
    // Only those still running (an init container has long exited).
    let mut inspect = vec!["inspect", "-f", "{{.Name}} {{.State.Running}}"];
    inspect.extend(to_stop.iter().map(|(_, name)| name.as_str()));
    let Ok(out) = engine.plain(&inspect).output().await else {
        return;
    };
    let states = String::from_utf8_lossy(&out.stdout);
    let running: Vec<&str> = states
        .lines()
        .filter_map(|l| l.strip_suffix(" true"))
        .map(|n| n.trim_start_matches('/'))
        .collect();
    to_stop.retain(|(_, name)| running.contains(&name.as_str()));
    let Some(longest) = to_stop.iter().map(|(c, _)| c.stop_timeout).max() else {
        return;
    };
    let names: Vec<&str> = to_stop.iter().map(|(c, _)| c.name.as_str()).collect();
    ctx.out.status(format!(
        "stopping {} (SIGTERM, then SIGKILL after {}; Ctrl-C removes them now)",
        names.join(", "),
        if to_stop.iter().all(|(c, _)| c.stop_timeout == longest) {
            format!("{longest}s")
        } else {
            format!("up to {longest}s")
        }
    ));
    let stops = async {
        for (c, name) in &to_stop {
            let secs = c.stop_timeout.to_string();
            let _ = engine.plain(&["stop", "-t", &secs, name]).output().await;
        }
    };
    tokio::select! {
        _ = stops => {}
        _ = tokio::signal::ctrl_c() => ctx.out.status("removing them now"),
    }
}

fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(text.as_bytes())
        .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))
}

async fn follow_logs(engine: Engine, name: String, prefix: String) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let Ok(mut child) = engine
        .plain(&["logs", "-f", &name])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    else {
        return;
    };
    let out = child.stdout.take();
    let err = child.stderr.take();
    let p2 = prefix.clone();
    let a = async move {
        if let Some(o) = out {
            let mut lines = BufReader::new(o).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                println!("{prefix}{l}");
            }
        }
    };
    let b = async move {
        if let Some(e) = err {
            let mut lines = BufReader::new(e).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                println!("{p2}{l}");
            }
        }
    };
    tokio::join!(a, b);
    let _ = child.wait().await;
}

/// Waits until container `full` (`short` in the task definition) meets `cond`. podman runs
/// health checks from systemd timers, which a machine without systemd (a container, most CI
/// runners) does not have: there the status would stay "starting" for ever, so for a HEALTHY
/// condition wharf runs `podman healthcheck run` itself at the check's interval.
async fn wait_condition(
    engine: &Engine,
    full: &str,
    short: &str,
    cond: Condition,
    health: Option<&Health>,
    signal: &tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    if cond == Condition::Start {
        return Ok(());
    }
    let interval = health.map(|h| Duration::from_secs(h.interval.max(1)));
    let drive = engine.kind == crate::engine::EngineKind::Podman && cond == Condition::Healthy;
    let mut next_check = interval.filter(|_| drive).map(|i| Instant::now() + i);
    loop {
        if *signal.borrow() {
            return Err(Error::interrupted(
                "interrupted; stopped and removed the local containers",
            ));
        }
        if let (Some(at), Some(every)) = (next_check, interval) {
            if Instant::now() >= at {
                // Its exit code is the check's; the status it records is read below.
                let _ = engine.plain(&["healthcheck", "run", full]).output().await;
                next_check = Some(at + every);
            }
        }
        let state = engine_out(
            engine,
            &["inspect".into(), "-f".into(), "{{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}".into(), full.into()],
        )
        .await?;
        let parts: Vec<&str> = state.split_whitespace().collect();
        let status = parts.first().copied().unwrap_or("");
        let code: i32 = parts.get(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let health = parts.get(2).copied().unwrap_or("");
        match cond {
            Condition::Complete if status == "exited" => return Ok(()),
            Condition::Success if status == "exited" => {
                if code == 0 {
                    return Ok(());
                }
                return Err(Error::failed(format!(
                    "container `{short}` exited with code {code}; the containers that need it to succeed (dependsOn SUCCESS) were not started"
                )));
            }
            Condition::Healthy if health == "healthy" => return Ok(()),
            Condition::Healthy if health == "unhealthy" => {
                return Err(Error::failed(format!(
                    "container `{short}` is unhealthy; the containers that need it healthy (dependsOn HEALTHY) were not started"
                )))
            }
            Condition::Healthy if health.is_empty() => {
                return Err(Error::usage(format!(
                "a container depends on `{short}` being HEALTHY, but `{short}` has no healthCheck"
            )))
            }
            Condition::Healthy if status == "exited" => {
                return Err(Error::failed(format!(
                    "container `{short}` exited before it became healthy"
                )))
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn td() -> Value {
        json!({"containerDefinitions": [
            {"name": "web", "image": "app:1", "command": ["serve"], "essential": true,
             "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "secrets": [{"name": "DB", "valueFrom": "arn:aws:ssm:us-east-1:1:parameter/app/dev/DB"}],
             "portMappings": [{"containerPort": 8080}],
             "dependsOn": [{"containerName": "migrate", "condition": "SUCCESS"}]},
            {"name": "migrate", "image": "app:1", "essential": false, "entryPoint": ["sh", "-c"], "command": ["migrate"],
             "healthCheck": {"command": ["CMD-SHELL", "test -f /ok"]}}
        ]})
    }

    #[test]
    fn containers_come_in_depends_on_order_with_overrides() {
        let c = plan(&td(), &[("B".into(), "override".into())]).unwrap();
        assert_eq!(c[0].name, "migrate");
        assert_eq!(c[1].name, "web");
        assert_eq!(c[1].environment["B"], "override");
        assert_eq!(c[1].ports, [(8080, 8080, "tcp".to_string())]);
        assert_eq!(
            c[1].depends_on,
            [("migrate".to_string(), Condition::Success)]
        );
        let h = c[0].health.as_ref().unwrap();
        assert_eq!(
            (
                h.command.as_str(),
                h.interval,
                h.timeout,
                h.retries,
                h.start_period
            ),
            ("test -f /ok", 30, 5, 3, 0),
            "ECS's defaults"
        );
    }

    #[test]
    fn docker_arguments() {
        let c = plan(&td(), &[]).unwrap();
        let a = run_args(&c[0], "x", "x-network", "/tmp/e");
        let tail: Vec<&str> = a
            .iter()
            .map(String::as_str)
            .skip_while(|s| *s != "app:1")
            .collect();
        assert_eq!(tail, ["app:1", "-c", "migrate"]);
        assert!(a.windows(2).any(|w| w[0] == "--entrypoint" && w[1] == "sh"));
        let a = run_args(&c[1], "x", "x-network", "/tmp/e");
        assert!(a.windows(2).any(|w| w[0] == "--name" && w[1] == "x-web"));
        assert!(
            a.windows(2)
                .any(|w| w[0] == "--network" && w[1] == "container:x-network"),
            "{a:?}"
        );
        assert!(!a.iter().any(|s| s == "-p"), "ports belong to the holder");
        assert!(
            !a.iter().any(|s| s.contains("A=1")),
            "values go through the env file"
        );
        // The holder publishes every container's ports and answers to every container's name.
        let h = holder_args(&c, "x-network", "x", "holder:1");
        assert!(h
            .windows(2)
            .any(|w| w[0] == "-p" && w[1] == "127.0.0.1:8080:8080/tcp"));
        for name in ["web", "migrate"] {
            assert!(h
                .windows(2)
                .any(|w| w[0] == "--network-alias" && w[1] == name));
        }
        assert_eq!(h.last().map(String::as_str), Some("holder:1"));
    }

    #[test]
    fn volumes_are_local_to_the_run() {
        let mut t = td();
        t["volumes"] = json!([{"name": "conf"}, {"name": "data", "host": {"sourcePath": "/srv"}}]);
        t["containerDefinitions"][0]["mountPoints"] =
            json!([{"sourceVolume": "conf", "containerPath": "/etc/app", "readOnly": true}]);
        t["containerDefinitions"][1]["mountPoints"] =
            json!([{"sourceVolume": "conf", "containerPath": "/out"}]);
        t["containerDefinitions"][0]["volumesFrom"] = json!([{"sourceContainer": "migrate"}]);
        assert_eq!(task_volumes(&t), ["conf", "data"]);
        let c = plan(&t, &[]).unwrap();
        let web = run_args(&c[1], "x", "x-network", "/tmp/e");
        assert!(web
            .windows(2)
            .any(|w| w[0] == "--volume" && w[1] == "x-conf:/etc/app:ro"));
        assert!(web
            .windows(2)
            .any(|w| w[0] == "--volumes-from" && w[1] == "x-migrate"));
        let migrate = run_args(&c[0], "x", "x-network", "/tmp/e");
        assert!(migrate
            .windows(2)
            .any(|w| w[0] == "--volume" && w[1] == "x-conf:/out"));
        // An unknown volume or source container is named.
        t["containerDefinitions"][0]["mountPoints"] =
            json!([{"sourceVolume": "nope", "containerPath": "/x"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(
            e.message.contains("`web` mounts volume `nope`"),
            "{}",
            e.message
        );
        t["containerDefinitions"][0]["mountPoints"] = json!([]);
        t["containerDefinitions"][0]["volumesFrom"] = json!([{"sourceContainer": "web"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(e.message.contains("not another container"), "{}", e.message);
    }

    #[test]
    fn limits_and_runtime_settings_as_the_ecs_agent_maps_them() {
        let task = json!({"cpu": "512", "memory": "1024"});
        let d = json!({"cpu": 128, "memoryReservation": 256,
            "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
            "readonlyRootFilesystem": true, "linuxParameters": {"initProcessEnabled": true},
            "dockerLabels": {"team": "web"}});
        assert_eq!(
            runtime_options(&task, &d),
            [
                "--cpu-shares",
                "128",
                "--cpus",
                "0.5",
                "--memory",
                "1024m",
                "--memory-reservation",
                "256m",
                "--ulimit",
                "nofile=1024:4096",
                "--read-only",
                "--init",
                "--label",
                "team=web"
            ]
        );
        // The container's own hard limit wins over the task's size; nothing given, nothing set.
        assert_eq!(
            runtime_options(&task, &json!({"memory": 300}))[2..],
            ["--memory", "300m"]
        );
        assert!(runtime_options(&json!({}), &json!({})).is_empty());
    }

    #[test]
    fn linux_parameters_as_the_ecs_agent_maps_them() {
        let d = json!({"memory": 512, "privileged": true, "linuxParameters": {
            "capabilities": {"add": ["SYS_PTRACE"], "drop": ["NET_RAW", "MKNOD"]},
            "sharedMemorySize": 64,
            "tmpfs": [{"containerPath": "/run", "size": 16, "mountOptions": ["noexec", "nosuid"]},
                      {"containerPath": "/tmp", "size": 32}],
            "devices": [{"hostPath": "/dev/fuse", "permissions": ["read", "write"]},
                        {"hostPath": "/dev/null", "containerPath": "/dev/nothing"}],
            "maxSwap": 256, "swappiness": 10}});
        assert_eq!(
            runtime_options(&json!({}), &d),
            [
                "--memory",
                "512m",
                "--privileged",
                "--cap-add",
                "SYS_PTRACE",
                "--cap-drop",
                "NET_RAW",
                "--cap-drop",
                "MKNOD",
                "--shm-size",
                "64m",
                "--tmpfs",
                "/run:size=16m,noexec,nosuid",
                "--tmpfs",
                "/tmp:size=32m",
                "--device",
                "/dev/fuse:/dev/fuse:rw",
                "--device",
                "/dev/null:/dev/nothing",
                "--memory-swap",
                "768m",
                "--memory-swappiness",
                "10"
            ]
        );
    }

    #[test]
    fn health_checks_keep_their_timings_and_cmd_words() {
        let t = json!({"containerDefinitions": [{"name": "web", "image": "app:1",
            "healthCheck": {"command": ["CMD", "wget", "-qO-", "http://localhost/it's ok"],
                            "interval": 5, "timeout": 2, "retries": 4, "startPeriod": 10}}]});
        let c = plan(&t, &[]).unwrap();
        let a = run_args(&c[0], "x", "x-network", "/tmp/e");
        let flag = |name: &str| {
            a.windows(2)
                .find(|w| w[0] == name)
                .map(|w| w[1].clone())
                .unwrap_or_default()
        };
        assert_eq!(
            flag("--health-cmd"),
            r#"wget -qO- 'http://localhost/it'\''s ok'"#
        );
        assert_eq!(flag("--health-interval"), "5s");
        assert_eq!(flag("--health-timeout"), "2s");
        assert_eq!(flag("--health-retries"), "4");
        assert_eq!(flag("--health-start-period"), "10s");
    }

    #[test]
    fn volumes_from_orders_containers() {
        let t = json!({"containerDefinitions": [
            {"name": "app", "image": "a", "volumesFrom": [{"sourceContainer": "data"}]},
            {"name": "data", "image": "d", "essential": false}
        ]});
        let c = plan(&t, &[]).unwrap();
        assert_eq!(c[0].name, "data");
    }

    #[test]
    fn two_containers_cannot_map_one_port() {
        let mut t = td();
        t["containerDefinitions"][1]["portMappings"] = json!([{"containerPort": 8080}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(
            e.message
                .contains("`web` and `migrate` both map port 8080/tcp"),
            "{}",
            e.message
        );
        // Another protocol on the same number is a different port.
        t["containerDefinitions"][1]["portMappings"] =
            json!([{"containerPort": 8080, "protocol": "udp"}]);
        assert!(plan(&t, &[]).is_ok());
    }

    /// The holder program is a valid executable for this machine: it starts and stays up.
    #[test]
    fn the_holder_program_runs_and_blocks() {
        use std::os::unix::fs::PermissionsExt;
        assert!(pause_program("riscv64").is_none());
        let aarch64 = pause_program("aarch64").unwrap();
        assert_eq!(&aarch64[..4], b"\x7fELF");
        assert_eq!(aarch64[18], 183);
        assert_eq!((aarch64.len() - 120) % 4, 0, "whole instructions");
        let Some(program) = pause_program(std::env::consts::ARCH) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pause");
        std::fs::write(&path, &program).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Another test thread's fork may hold the just-written file open for a moment (ETXTBSY).
        let mut child = (0..50)
            .find_map(|_| match std::process::Command::new(&path).spawn() {
                Ok(c) => Some(c),
                Err(e) if e.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                    None
                }
                Err(e) => panic!("cannot start the holder: {e}"),
            })
            .expect("the holder starts");
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the holder exited at once"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn bad_depends_on() {
        let mut t = td();
        t["containerDefinitions"][1]["dependsOn"] =
            json!([{"containerName": "web", "condition": "START"}]);
        let e = plan(&t, &[]).unwrap_err();
        assert!(e.message.contains("form a cycle"), "{}", e.message);
        t["containerDefinitions"][1]["dependsOn"] = json!([{"containerName": "nope"}]);
        assert!(plan(&t, &[]).unwrap_err().message.contains("does not have"));
    }

    #[test]
    fn env_files_refuse_line_breaks_without_printing_values() {
        let mut v = BTreeMap::new();
        v.insert("SECRET".to_string(), "a\nb".to_string());
        let e = env_file_text("web", &v).unwrap_err();
        assert!(!e.message.contains("a\nb"));
        v.insert("SECRET".to_string(), "ab".to_string());
        assert_eq!(env_file_text("web", &v).unwrap(), "SECRET=ab\n");
    }
}
