//! The engine's command lines for a local run, as data: the holder of the network namespace,
//! each container with its limits and runtime settings as the ECS agent maps them, and the
//! env files that carry values out of the process list. Pure; tested without an engine.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::operate::local::spec::LocalContainer;

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
