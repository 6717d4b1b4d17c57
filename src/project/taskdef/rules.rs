//! The rules RegisterTaskDefinition enforces beyond the shape of its input, as the API reference
//! and the task-definition parameters guide document them: name patterns and lengths, ranges,
//! fields that exclude each other, references between containers and volumes, log-driver
//! options, and what Fargate or EC2 refuse. Every rule reads values defensively: a field of the
//! wrong type was already reported by the shape check, and a value left unresolved by an offline
//! render is skipped.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::values::{parse_cpu, parse_memory, problem, secret_reference_problem, Problem};
use crate::project::unresolved::is_unresolved;

/// Where the task definition will run, as far as the document and the project file say.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub fargate: bool,
}

/// Every rule below, on `doc`.
pub fn check(doc: &Value, target: Target, out: &mut Vec<Problem>) {
    task_level(doc, target, out);
    let containers: Vec<&Value> = doc["containerDefinitions"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let names: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .filter_map(|(i, c)| Some((c["name"].as_str()?, i)))
        .collect();
    let volumes: HashSet<&str> = doc["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let network_mode =
        doc["networkMode"]
            .as_str()
            .unwrap_or(if target.fargate { "awsvpc" } else { "bridge" });
    let task_memory = parse_memory(&doc["memory"]);
    let task_cpu = parse_cpu(&doc["cpu"]);
    let mut cpu_sum = 0;
    let mut firelens_users = Vec::new();
    let mut firelens_router = false;
    for (i, c) in containers.iter().enumerate() {
        let base = format!("containerDefinitions[{i}]");
        let at = |field: &str| format!("{base}.{field}");
        name_rule(c, &at("name"), "container name", out);
        image_rule(c, &at("image"), out);
        memory_rules(c, &base, target, task_memory, out);
        if let Some(cpu) = c["cpu"].as_i64() {
            cpu_sum += cpu.max(0) as u64;
            range(&c["cpu"], &at("cpu"), "container cpu", 0, i64::MAX, out);
        }
        depends_on(c, &base, &containers, &names, out);
        health_check(c, &base, out);
        port_mappings(c, &base, network_mode, out);
        ulimits(c, &base, target, out);
        log_configuration(c, &base, target, out);
        mounts(c, &base, &volumes, &names, out);
        linux_parameters(c, &base, target, out);
        restart_policy(c, &base, out);
        for (field, min) in [("startTimeout", 2), ("stopTimeout", 0)] {
            if target.fargate {
                range(
                    &c[field],
                    &at(field),
                    &format!("{field} on Fargate"),
                    min,
                    120,
                    out,
                );
            } else if let Some(v) = c[field].as_i64() {
                if v < 0 {
                    out.push(problem(&at(field), format!("{field} {v} is negative")));
                }
            }
        }
        if c.get("links").is_some_and(|l| !l.is_null()) && network_mode != "bridge" {
            out.push(problem(
                &at("links"),
                format!("`links` works only with networkMode \"bridge\", not {network_mode:?}"),
            ));
        }
        if let Some(arn) = c["repositoryCredentials"]["credentialsParameter"]
            .as_str()
            .filter(|a| !is_unresolved(a))
        {
            if !(arn.starts_with("arn:") && arn.contains(":secretsmanager:")) {
                out.push(problem(
                    &at("repositoryCredentials.credentialsParameter"),
                    format!("{arn:?} is not the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), which private registry credentials must be"),
                ));
            }
        }
        if target.fargate {
            for (j, r) in c["resourceRequirements"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if r["type"] == "GPU" {
                    out.push(problem(
                        &format!("{base}.resourceRequirements[{j}]"),
                        "Fargate has no GPUs; GPU resource requirements need EC2",
                    ));
                }
            }
        }
        if c.get("hostname").is_some_and(|h| !h.is_null()) && network_mode == "awsvpc" {
            out.push(problem(
                &at("hostname"),
                "`hostname` is not supported with networkMode \"awsvpc\" (the task's ENI names it)",
            ));
        }
        if target.fargate {
            for field in [
                "privileged",
                "dnsServers",
                "dnsSearchDomains",
                "extraHosts",
                "dockerSecurityOptions",
                "links",
            ] {
                let set = match &c[field] {
                    Value::Null | Value::Bool(false) => false,
                    Value::Array(a) => !a.is_empty(),
                    _ => true,
                };
                if set {
                    out.push(problem(
                        &at(field),
                        format!("Fargate does not support `{field}`"),
                    ));
                }
            }
        }
        for (j, e) in c["environmentFiles"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(v) = e["value"].as_str().filter(|v| !is_unresolved(v)) {
                if !v.starts_with("arn:") || !v.contains(":s3:::") || !v.ends_with(".env") {
                    out.push(problem(
                        &format!("{base}.environmentFiles[{j}].value"),
                        format!("{v:?} is not the ARN of an S3 object with the .env extension (arn:aws:s3:::BUCKET/KEY.env)"),
                    ));
                }
            }
        }
        if c["logConfiguration"]["logDriver"] == "awsfirelens" {
            firelens_users.push(i);
        }
        if c["firelensConfiguration"].is_object() {
            firelens_router = true;
        }
    }
    if !firelens_router {
        for i in firelens_users {
            out.push(problem(
                &format!("containerDefinitions[{i}].logConfiguration.logDriver"),
                "the awsfirelens driver needs a log router: a container with `firelensConfiguration` in this task definition",
            ));
        }
    }
    if let Some(task_cpu) = task_cpu {
        if cpu_sum > task_cpu {
            out.push(problem(
                "cpu",
                format!("the containers' cpu adds up to {cpu_sum} units, more than the task's {task_cpu}"),
            ));
        }
    }
    dependency_cycle(&containers, &names, out);
    volume_rules(doc, target, out);
    proxy_configuration(doc, network_mode, &names, out);
}

fn task_level(doc: &Value, target: Target, out: &mut Vec<Problem>) {
    name_rule(doc, "family", "family", out);
    // ECS quotas that registration enforces: 10 containers, 64 KiB of JSON.
    if let Some(n) = doc["containerDefinitions"].as_array().map(Vec::len) {
        if n > 10 {
            out.push(problem(
                "containerDefinitions",
                format!("{n} containers; a task definition holds at most 10"),
            ));
        }
    }
    let size = doc.to_string().len();
    if size > 64 * 1024 {
        out.push(problem(
            "",
            format!("the task definition is {} KiB of JSON; ECS accepts at most 64 KiB (move long values to environment files, config files or SSM)", size.div_ceil(1024)),
        ));
    }
    for field in ["taskRoleArn", "executionRoleArn"] {
        if let Some(v) = doc[field].as_str().filter(|v| !is_unresolved(v)) {
            if v.is_empty() {
                out.push(problem(
                    field,
                    format!("{field} is empty; leave it out or give a role ARN"),
                ));
            } else if !v.starts_with("arn:") || !v.contains(":iam::") {
                out.push(problem(
                    field,
                    format!("{v:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                ));
            }
        }
    }
    if !target.fargate {
        if let Some(cpu) = parse_cpu(&doc["cpu"]) {
            if !(128..=196608).contains(&cpu) {
                out.push(problem(
                    "cpu",
                    format!("task cpu {cpu} is outside 128 to 196608 units (EC2)"),
                ));
            }
        }
        if let Some(memory) = parse_memory(&doc["memory"]) {
            if memory < 6 {
                out.push(problem(
                    "memory",
                    format!("task memory {memory} MiB is below the 6 MiB a container needs"),
                ));
            }
        }
        if doc["ephemeralStorage"].is_object() {
            out.push(problem(
                "ephemeralStorage",
                "`ephemeralStorage` is for Fargate only; EC2 tasks use the instance's storage",
            ));
        }
    } else {
        range(
            &doc["ephemeralStorage"]["sizeInGiB"],
            "ephemeralStorage.sizeInGiB",
            "ephemeralStorage.sizeInGiB",
            21,
            200,
            out,
        );
        if doc["ipcMode"].as_str().is_some() {
            out.push(problem("ipcMode", "Fargate does not support `ipcMode`"));
        }
        if let Some(mode) = doc["pidMode"].as_str() {
            if mode != "task" {
                out.push(problem(
                    "pidMode",
                    format!("Fargate supports pidMode \"task\" only, not {mode:?}"),
                ));
            }
        }
        if doc["placementConstraints"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            out.push(problem(
                "placementConstraints",
                "Fargate does not support task placement constraints",
            ));
        }
        if doc["inferenceAccelerators"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
        {
            out.push(problem(
                "inferenceAccelerators",
                "Fargate does not support inference accelerators",
            ));
        }
    }
    let constraints = doc["placementConstraints"].as_array();
    if constraints.is_some_and(|a| a.len() > 10) {
        out.push(problem(
            "placementConstraints",
            "at most 10 placement constraints per task definition",
        ));
    }
    for (i, c) in constraints.into_iter().flatten().enumerate() {
        // The shape allows memberOf only (distinctInstance is a service's or RunTask's); each
        // needs a cluster query expression.
        if c["expression"].as_str().is_none_or(|e| e.trim().is_empty()) {
            out.push(problem(
                &format!("placementConstraints[{i}]"),
                "a memberOf constraint needs an `expression` (a cluster query such as attribute:ecs.instance-type =~ t3.*)",
            ));
        }
    }
    tags(doc, out);
}

/// Family, container and volume names: up to 255 letters, digits, hyphens and underscores.
fn name_rule(parent: &Value, path: &str, what: &str, out: &mut Vec<Problem>) {
    let field = path.rsplit('.').next().unwrap_or(path);
    let Some(name) = parent[field].as_str() else {
        return;
    };
    if is_unresolved(name) {
        return;
    }
    if name.is_empty() {
        out.push(problem(path, format!("{what} is empty")));
    } else if name.chars().count() > 255 {
        out.push(problem(
            path,
            format!(
                "{what} is {} characters long; at most 255",
                name.chars().count()
            ),
        ));
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        out.push(problem(
            path,
            format!("{what} {name:?} has {bad:?}; only letters, digits, hyphens (-) and underscores (_) are allowed"),
        ));
    }
}

fn image_rule(c: &Value, path: &str, out: &mut Vec<Problem>) {
    let Some(image) = c["image"].as_str() else {
        return;
    };
    if is_unresolved(image) {
        return;
    }
    if image.trim().is_empty() {
        out.push(problem(
            path,
            "image is empty; give the image to run (REPOSITORY:TAG or REPOSITORY@DIGEST)",
        ));
    } else if image.chars().count() > 255 {
        out.push(problem(
            path,
            format!(
                "image is {} characters long; at most 255",
                image.chars().count()
            ),
        ));
    } else if let Some(bad) = image
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "-_:./#@".contains(*c)))
    {
        out.push(problem(
            path,
            format!(
                "image {image:?} has {bad:?}; images use letters, digits and - _ : . / # @ only"
            ),
        ));
    }
}

fn memory_rules(
    c: &Value,
    base: &str,
    target: Target,
    task_memory: Option<u64>,
    out: &mut Vec<Problem>,
) {
    let memory = c["memory"].as_i64();
    let reservation = c["memoryReservation"].as_i64();
    for (field, value) in [("memory", memory), ("memoryReservation", reservation)] {
        if let Some(v) = value {
            if v < 6 {
                out.push(problem(
                    &format!("{base}.{field}"),
                    format!("{field} {v} MiB is below 6 MiB, the least Docker gives a container"),
                ));
            }
            if let Some(task) = task_memory {
                if v as u64 > task {
                    out.push(problem(
                        &format!("{base}.{field}"),
                        format!("{field} {v} MiB is more than the task's memory ({task} MiB)"),
                    ));
                }
            }
        }
    }
    if let (Some(m), Some(r)) = (memory, reservation) {
        if r >= m {
            out.push(problem(
                &format!("{base}.memoryReservation"),
                format!("memoryReservation ({r} MiB) must be less than memory ({m} MiB), the hard limit"),
            ));
        }
    }
    let unset = |v: &Value| v.is_null();
    if !target.fargate
        && unset(&c["memory"])
        && unset(&c["memoryReservation"])
        && task_memory.is_none()
        && !c["memory"].as_str().is_some_and(is_unresolved)
    {
        out.push(problem(
            base,
            "on EC2 a container needs `memory` or `memoryReservation` when the task sets no `memory`",
        ));
    }
}

/// `value`, when it is a number, within `min..=max`.
fn range(value: &Value, path: &str, what: &str, min: i64, max: i64, out: &mut Vec<Problem>) {
    if let Some(v) = value.as_i64() {
        if v < min || v > max {
            out.push(problem(
                path,
                format!("{what} {v} is outside {min} to {max}"),
            ));
        }
    }
}

fn depends_on(
    c: &Value,
    base: &str,
    containers: &[&Value],
    names: &HashMap<&str, usize>,
    out: &mut Vec<Problem>,
) {
    let own = c["name"].as_str().unwrap_or("");
    for (j, d) in c["dependsOn"].as_array().into_iter().flatten().enumerate() {
        let path = format!("{base}.dependsOn[{j}]");
        let Some(target) = d["containerName"].as_str() else {
            continue;
        };
        if is_unresolved(target) {
            continue;
        }
        if target == own {
            out.push(problem(
                &format!("{path}.containerName"),
                format!("container {own:?} depends on itself"),
            ));
            continue;
        }
        let Some(&k) = names.get(target) else {
            let mut message = format!(
                "dependsOn names container {target:?}, which this task definition does not have"
            );
            if let Some(s) = crate::text::did_you_mean(target, names.keys().copied()) {
                message.push_str(&format!("; did you mean {s:?}?"));
            }
            out.push(problem(&format!("{path}.containerName"), message));
            continue;
        };
        let other = containers[k];
        match d["condition"].as_str() {
            Some("HEALTHY") if other.get("healthCheck").is_none_or(Value::is_null) => {
                out.push(problem(
                    &format!("{path}.condition"),
                    format!("condition HEALTHY needs a healthCheck on container {target:?}, which has none"),
                ));
            }
            Some(cond @ ("COMPLETE" | "SUCCESS"))
                if other["essential"].as_bool().unwrap_or(true) =>
            {
                out.push(problem(
                    &format!("{path}.condition"),
                    format!("condition {cond} cannot be set on an essential container; set `\"essential\": false` on {target:?}"),
                ));
            }
            _ => {}
        }
    }
}

/// Containers that wait for each other in a circle can never start.
fn dependency_cycle(containers: &[&Value], names: &HashMap<&str, usize>, out: &mut Vec<Problem>) {
    let edges: Vec<Vec<usize>> = containers
        .iter()
        .map(|c| {
            c["dependsOn"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| names.get(d["containerName"].as_str()?).copied())
                .collect()
        })
        .collect();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; containers.len()];
    fn visit(
        n: usize,
        edges: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[n] = 1;
        stack.push(n);
        for &m in &edges[n] {
            if state[m] == 1 {
                let from = stack.iter().position(|&x| x == m).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(m);
                return Some(cycle);
            }
            if state[m] == 0 {
                if let Some(c) = visit(m, edges, state, stack) {
                    return Some(c);
                }
            }
        }
        stack.pop();
        state[n] = 2;
        None
    }
    for n in 0..containers.len() {
        if state[n] == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(n, &edges, &mut state, &mut stack) {
                if cycle.len() <= 2 {
                    continue; // a container naming itself is reported on its own
                }
                let names: Vec<&str> = cycle
                    .iter()
                    .map(|&i| containers[i]["name"].as_str().unwrap_or("?"))
                    .collect();
                out.push(problem(
                    &format!("containerDefinitions[{}].dependsOn", cycle[0]),
                    format!(
                        "containers depend on each other in a cycle: {}",
                        names.join(" -> ")
                    ),
                ));
                return;
            }
        }
    }
}

fn health_check(c: &Value, base: &str, out: &mut Vec<Problem>) {
    let h = &c["healthCheck"];
    if !h.is_object() {
        return;
    }
    let path = format!("{base}.healthCheck");
    if let Some(command) = h["command"].as_array() {
        match command.first().and_then(Value::as_str) {
            None => out.push(problem(
                &format!("{path}.command"),
                "healthCheck command is empty; start it with \"CMD\" or \"CMD-SHELL\"",
            )),
            Some("CMD" | "CMD-SHELL") if command.len() < 2 => out.push(problem(
                &format!("{path}.command"),
                "healthCheck command has no command after CMD / CMD-SHELL",
            )),
            Some("CMD" | "CMD-SHELL" | "NONE") => {}
            Some(first) if is_unresolved(first) => {}
            Some(first) => out.push(problem(
                &format!("{path}.command[0]"),
                format!("healthCheck command starts with {first:?}; it must start with \"CMD\" (exec form) or \"CMD-SHELL\" (run by the shell)"),
            )),
        }
    }
    for (field, min, max) in [
        ("interval", 5, 300),
        ("timeout", 2, 120),
        ("retries", 1, 10),
        ("startPeriod", 0, 300),
    ] {
        range(
            &h[field],
            &format!("{path}.{field}"),
            &format!("healthCheck {field}"),
            min,
            max,
            out,
        );
    }
}

fn port_mappings(c: &Value, base: &str, network_mode: &str, out: &mut Vec<Problem>) {
    let mut names = HashSet::new();
    for (j, pm) in c["portMappings"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{base}.portMappings[{j}]");
        let has_port = pm.get("containerPort").is_some_and(|v| !v.is_null());
        let has_range = pm.get("containerPortRange").is_some_and(|v| !v.is_null());
        if has_port && has_range {
            out.push(problem(
                &format!("{path}.containerPortRange"),
                "containerPort and containerPortRange exclude each other; give one",
            ));
        } else if !has_port && !has_range {
            out.push(problem(
                &path,
                "a port mapping needs containerPort (or containerPortRange)",
            ));
        }
        range(
            &pm["containerPort"],
            &format!("{path}.containerPort"),
            "containerPort",
            1,
            65535,
            out,
        );
        range(
            &pm["hostPort"],
            &format!("{path}.hostPort"),
            "hostPort",
            0,
            65535,
            out,
        );
        if let Some(r) = pm["containerPortRange"]
            .as_str()
            .filter(|r| !is_unresolved(r))
        {
            let parsed = r.split_once('-').and_then(|(a, b)| {
                Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?))
            });
            match parsed {
                Some((a, b)) if a >= 1 && a < b && b <= 65535 => {}
                _ => out.push(problem(
                    &format!("{path}.containerPortRange"),
                    format!("{r:?} is not a port range FROM-TO with 1 <= FROM < TO <= 65535"),
                )),
            }
            if !matches!(network_mode, "awsvpc" | "bridge") {
                out.push(problem(
                    &format!("{path}.containerPortRange"),
                    format!("containerPortRange needs networkMode \"awsvpc\" or \"bridge\", not {network_mode:?}"),
                ));
            }
            if pm.get("hostPort").is_some_and(|v| !v.is_null()) {
                out.push(problem(
                    &format!("{path}.hostPort"),
                    "a containerPortRange mapping takes no hostPort (ECS picks the host ports)",
                ));
            }
        }
        if let Some(name) = pm["name"].as_str().filter(|n| !is_unresolved(n)) {
            let ok = !name.is_empty()
                && name.len() <= 64
                && !name.starts_with('-')
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
            if !ok {
                out.push(problem(
                    &format!("{path}.name"),
                    format!("port name {name:?} must be 1 to 64 lowercase letters, digits, _ or -, not starting with -"),
                ));
            } else if !names.insert(name.to_string()) {
                out.push(problem(
                    &format!("{path}.name"),
                    format!("port name {name:?} is used twice in this container"),
                ));
            }
        }
        if pm.get("appProtocol").is_some_and(|v| !v.is_null())
            && pm.get("name").is_none_or(Value::is_null)
        {
            out.push(problem(
                &format!("{path}.appProtocol"),
                "appProtocol needs the port mapping's `name` (Service Connect refers to it)",
            ));
        }
    }
}

fn ulimits(c: &Value, base: &str, target: Target, out: &mut Vec<Problem>) {
    let mut seen = HashSet::new();
    for (j, u) in c["ulimits"].as_array().into_iter().flatten().enumerate() {
        let path = format!("{base}.ulimits[{j}]");
        let name = u["name"].as_str().unwrap_or("");
        if !name.is_empty() && !seen.insert(name) {
            out.push(problem(
                &format!("{path}.name"),
                format!("ulimit {name:?} is set twice"),
            ));
        }
        if let (Some(soft), Some(hard)) = (u["softLimit"].as_i64(), u["hardLimit"].as_i64()) {
            if soft > hard {
                out.push(problem(
                    &format!("{path}.softLimit"),
                    format!("softLimit {soft} is above hardLimit {hard}"),
                ));
            }
        }
        if target.fargate && name == "nofile" {
            for field in ["softLimit", "hardLimit"] {
                range(
                    &u[field],
                    &format!("{path}.{field}"),
                    &format!("nofile {field} on Fargate"),
                    0,
                    1_048_576,
                    out,
                );
            }
        }
    }
}

fn log_configuration(c: &Value, base: &str, target: Target, out: &mut Vec<Problem>) {
    let log = &c["logConfiguration"];
    let Some(driver) = log["logDriver"].as_str() else {
        return;
    };
    let path = format!("{base}.logConfiguration");
    if target.fargate && !matches!(driver, "awslogs" | "splunk" | "awsfirelens") {
        out.push(problem(
            &format!("{path}.logDriver"),
            format!(
                "Fargate supports the awslogs, splunk and awsfirelens log drivers, not {driver:?}"
            ),
        ));
    }
    let options = log["options"].as_object();
    let option = |name: &str| options.and_then(|o| o.get(name)).and_then(Value::as_str);
    if driver == "awslogs" {
        let mut required = vec!["awslogs-group", "awslogs-region"];
        if target.fargate {
            required.push("awslogs-stream-prefix");
        }
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|o| option(o).is_none())
            .collect();
        if !missing.is_empty() {
            out.push(problem(
                &format!("{path}.options"),
                format!(
                    "the awslogs driver needs the option(s) {}{}",
                    missing.join(", "),
                    if target.fargate {
                        " (awslogs-stream-prefix is required on Fargate)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Some(v) = option("awslogs-create-group").filter(|v| !is_unresolved(v)) {
            if v != "true" && v != "false" {
                out.push(problem(
                    &format!("{path}.options.awslogs-create-group"),
                    format!("awslogs-create-group is {v:?}; it must be \"true\" or \"false\""),
                ));
            }
        }
        if let Some(v) = option("mode").filter(|v| !is_unresolved(v)) {
            if v != "blocking" && v != "non-blocking" {
                out.push(problem(
                    &format!("{path}.options.mode"),
                    format!("mode is {v:?}; it must be \"blocking\" or \"non-blocking\""),
                ));
            }
        }
    }
    if driver == "splunk" {
        let missing: Vec<&str> = ["splunk-url"]
            .into_iter()
            .filter(|o| option(o).is_none())
            .collect();
        if !missing.is_empty() {
            out.push(problem(
                &format!("{path}.options"),
                "the splunk driver needs the option splunk-url",
            ));
        }
    }
    for (j, s) in log["secretOptions"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(value_from) = s["valueFrom"].as_str() {
            if let Some(why) = secret_reference_problem(value_from) {
                out.push(problem(
                    &format!("{path}.secretOptions[{j}].valueFrom"),
                    why,
                ));
            }
        }
    }
}

fn mounts(
    c: &Value,
    base: &str,
    volumes: &HashSet<&str>,
    names: &HashMap<&str, usize>,
    out: &mut Vec<Problem>,
) {
    for (j, m) in c["mountPoints"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{base}.mountPoints[{j}]");
        match m["sourceVolume"].as_str() {
            Some(v) if is_unresolved(v) => {}
            Some(v) if !volumes.contains(v) => {
                let mut message = format!("sourceVolume {v:?} is not one of the task's volumes");
                if let Some(s) = crate::text::did_you_mean(v, volumes.iter().copied()) {
                    message.push_str(&format!("; did you mean {s:?}?"));
                }
                out.push(problem(&format!("{path}.sourceVolume"), message));
            }
            Some(_) => {}
            None => out.push(problem(&path, "a mount point needs `sourceVolume`")),
        }
        match m["containerPath"].as_str() {
            None => out.push(problem(&path, "a mount point needs `containerPath`")),
            Some(p) if !p.starts_with('/') && !is_unresolved(p) && !p.contains(':') => {
                out.push(problem(
                    &format!("{path}.containerPath"),
                    format!("containerPath {p:?} must be an absolute path"),
                ))
            }
            Some(_) => {}
        }
    }
    let own = c["name"].as_str().unwrap_or("");
    for (j, v) in c["volumesFrom"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = format!("{base}.volumesFrom[{j}].sourceContainer");
        match v["sourceContainer"].as_str() {
            Some(s) if is_unresolved(s) => {}
            Some(s) if s == own => out.push(problem(
                &path,
                "a container cannot take volumes from itself",
            )),
            Some(s) if !names.contains_key(s) => out.push(problem(
                &path,
                format!("sourceContainer {s:?} is not a container of this task definition"),
            )),
            _ => {}
        }
    }
}

fn linux_parameters(c: &Value, base: &str, target: Target, out: &mut Vec<Problem>) {
    let lp = &c["linuxParameters"];
    if !lp.is_object() {
        return;
    }
    let path = format!("{base}.linuxParameters");
    range(
        &lp["swappiness"],
        &format!("{path}.swappiness"),
        "swappiness",
        0,
        100,
        out,
    );
    if let Some(v) = lp["maxSwap"].as_i64() {
        if v < 0 {
            out.push(problem(
                &format!("{path}.maxSwap"),
                format!("maxSwap {v} is negative"),
            ));
        }
    }
    if let Some(v) = lp["sharedMemorySize"].as_i64() {
        if v < 0 {
            out.push(problem(
                &format!("{path}.sharedMemorySize"),
                format!("sharedMemorySize {v} is negative"),
            ));
        }
    }
    if target.fargate {
        for field in [
            "devices",
            "maxSwap",
            "swappiness",
            "sharedMemorySize",
            "tmpfs",
        ] {
            if lp.get(field).is_some_and(|v| !v.is_null()) {
                out.push(problem(
                    &format!("{path}.{field}"),
                    format!("Fargate does not support linuxParameters.{field}"),
                ));
            }
        }
        for (j, cap) in lp["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(cap) = cap.as_str() {
                if cap != "SYS_PTRACE" && !is_unresolved(cap) {
                    out.push(problem(
                        &format!("{path}.capabilities.add[{j}]"),
                        format!("Fargate lets a container add SYS_PTRACE only, not {cap:?}"),
                    ));
                }
            }
        }
    }
    for (j, t) in lp["tmpfs"].as_array().into_iter().flatten().enumerate() {
        if let Some(size) = t["size"].as_i64() {
            if size <= 0 {
                out.push(problem(
                    &format!("{path}.tmpfs[{j}].size"),
                    format!("tmpfs size {size} MiB must be positive"),
                ));
            }
        }
    }
}

fn restart_policy(c: &Value, base: &str, out: &mut Vec<Problem>) {
    let r = &c["restartPolicy"];
    if !r.is_object() {
        return;
    }
    let path = format!("{base}.restartPolicy");
    range(
        &r["restartAttemptPeriod"],
        &format!("{path}.restartAttemptPeriod"),
        "restartAttemptPeriod",
        60,
        1800,
        out,
    );
    if r["ignoredExitCodes"]
        .as_array()
        .is_some_and(|a| a.len() > 50)
    {
        out.push(problem(
            &format!("{path}.ignoredExitCodes"),
            "at most 50 ignoredExitCodes",
        ));
    }
}

fn volume_rules(doc: &Value, target: Target, out: &mut Vec<Problem>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in doc["volumes"].as_array().into_iter().flatten().enumerate() {
        let path = format!("volumes[{i}]");
        name_rule(v, &format!("{path}.name"), "volume name", out);
        if let Some(name) = v["name"].as_str() {
            if let Some(first) = seen.insert(name, i) {
                out.push(problem(
                    &format!("{path}.name"),
                    format!("volume name {name:?} is also used by volumes[{first}]"),
                ));
            }
        }
        let kinds: Vec<&str> = [
            "host",
            "dockerVolumeConfiguration",
            "efsVolumeConfiguration",
            "fsxWindowsFileServerVolumeConfiguration",
        ]
        .into_iter()
        .filter(|k| v.get(*k).is_some_and(|x| !x.is_null()))
        .collect();
        if kinds.len() > 1 {
            out.push(problem(
                &path,
                format!(
                    "a volume is one kind; this one sets {}",
                    kinds.join(" and ")
                ),
            ));
        }
        let docker = &v["dockerVolumeConfiguration"];
        if docker["autoprovision"] == true && docker["scope"].as_str().unwrap_or("task") == "task" {
            out.push(problem(
                &format!("{path}.dockerVolumeConfiguration.autoprovision"),
                "autoprovision applies to shared Docker volumes only; set `\"scope\": \"shared\"` or leave autoprovision out",
            ));
        }
        if target.fargate {
            if v.get("dockerVolumeConfiguration")
                .is_some_and(|x| !x.is_null())
            {
                out.push(problem(
                    &format!("{path}.dockerVolumeConfiguration"),
                    "Fargate does not support Docker volumes; use a bind mount (no `host`) or EFS",
                ));
            }
            if v["host"]["sourcePath"].is_string() {
                out.push(problem(
                    &format!("{path}.host.sourcePath"),
                    "Fargate does not support host paths; leave out `host` for a task-scoped bind mount",
                ));
            }
        }
        let efs = &v["efsVolumeConfiguration"];
        if efs.is_object() {
            let epath = format!("{path}.efsVolumeConfiguration");
            let encrypted = efs["transitEncryption"].as_str() == Some("ENABLED");
            let access_point = efs["authorizationConfig"]["accessPointId"].is_string();
            let iam = efs["authorizationConfig"]["iam"].as_str() == Some("ENABLED");
            if (access_point || iam) && !encrypted {
                out.push(problem(
                    &format!("{epath}.transitEncryption"),
                    format!(
                        "EFS {} needs transitEncryption \"ENABLED\"",
                        if access_point {
                            "with an access point"
                        } else {
                            "IAM authorization"
                        }
                    ),
                ));
            }
            if access_point {
                if let Some(root) = efs["rootDirectory"].as_str() {
                    if root != "/" && !root.is_empty() {
                        out.push(problem(
                            &format!("{epath}.rootDirectory"),
                            "with an access point, rootDirectory must be left out or \"/\" (the access point sets the path)",
                        ));
                    }
                }
            }
            range(
                &efs["transitEncryptionPort"],
                &format!("{epath}.transitEncryptionPort"),
                "transitEncryptionPort",
                0,
                65535,
                out,
            );
        }
    }
}

fn proxy_configuration(
    doc: &Value,
    network_mode: &str,
    names: &HashMap<&str, usize>,
    out: &mut Vec<Problem>,
) {
    let p = &doc["proxyConfiguration"];
    if !p.is_object() {
        return;
    }
    if network_mode != "awsvpc" {
        out.push(problem(
            "proxyConfiguration",
            format!("proxyConfiguration needs networkMode \"awsvpc\", not {network_mode:?}"),
        ));
    }
    if let Some(name) = p["containerName"].as_str().filter(|n| !is_unresolved(n)) {
        if !names.contains_key(name) {
            out.push(problem(
                "proxyConfiguration.containerName",
                format!("containerName {name:?} is not a container of this task definition"),
            ));
        }
    }
}

fn tags(doc: &Value, out: &mut Vec<Problem>) {
    let Some(tags) = doc["tags"].as_array() else {
        return;
    };
    if tags.len() > 50 {
        out.push(problem("tags", format!("{} tags; at most 50", tags.len())));
    }
    for (i, t) in tags.iter().enumerate() {
        if let Some(key) = t["key"].as_str() {
            let n = key.chars().count();
            if n == 0 || n > 128 {
                out.push(problem(
                    &format!("tags[{i}].key"),
                    format!("tag key is {n} characters; 1 to 128"),
                ));
            } else if key.to_ascii_lowercase().starts_with("aws:") {
                out.push(problem(
                    &format!("tags[{i}].key"),
                    format!("tag key {key:?} uses the aws: prefix, which AWS reserves"),
                ));
            }
        }
        if let Some(value) = t["value"].as_str() {
            let n = value.chars().count();
            if n > 256 {
                out.push(problem(
                    &format!("tags[{i}].value"),
                    format!("tag value is {n} characters; at most 256"),
                ));
            }
        }
    }
}
