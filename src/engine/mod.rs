//! The edge to the container engine: docker or podman driven through its CLI.
//!
//! Owns finding the engine (a Docker engine that answers, else podman), and running its build,
//! push, login (password on standard input, never on the command line), image inspection and the
//! compose tool. It decides nothing about which images to build; see [`crate::images`].

pub mod socket;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::error::{Error, Result};

/// Which engine CLI is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn program(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }

    pub fn parse(name: &str) -> Option<EngineKind> {
        match name {
            "docker" => Some(EngineKind::Docker),
            "podman" => Some(EngineKind::Podman),
            _ => None,
        }
    }
}

/// A container engine that answered.
#[derive(Debug, Clone)]
pub struct Engine {
    pub kind: EngineKind,
    /// `docker buildx` is installed: builds go through BuildKit.
    pub buildx: bool,
    /// The engine's API socket, for probing and inspecting without a CLI process (docker only).
    socket: Option<crate::engine::socket::DockerSocket>,
    /// A private client configuration folder (docker `--config`, podman `--authfile`) holding the
    /// registry logins of this run only; removed when the run ends.
    auth: Option<Arc<tempfile::TempDir>>,
}

/// What one image build needs, already resolved (paths, rendered args).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    /// Full references to tag the result with (`registry/repo:tag`).
    pub tags: Vec<String>,
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub target: Option<String>,
    pub platform: Option<String>,
    pub args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    /// Where the engine writes the image ID.
    pub iidfile: PathBuf,
}

/// A built image as the engine sees it.
#[derive(Debug, Clone, Default)]
pub struct LocalImage {
    /// Image ID (`sha256:` of the config).
    pub id: String,
    pub size: u64,
    /// `registry/repo@sha256:...` for every registry the image was pushed to or pulled from.
    pub repo_digests: Vec<String>,
}

impl LocalImage {
    /// From the engine's inspect document (the CLI's `{{json .}}` or the API's answer).
    fn from_inspect(doc: &serde_json::Value) -> LocalImage {
        // podman prints `{{json .}}` of an image as a one-element list.
        let doc = match doc {
            serde_json::Value::Array(list) => list.first().unwrap_or(&serde_json::Value::Null),
            one => one,
        };
        LocalImage {
            id: doc["Id"].as_str().unwrap_or_default().to_string(),
            size: doc["Size"].as_u64().unwrap_or(0),
            repo_digests: doc["RepoDigests"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A command's output lines, kept for an error report (and echoed with `-v`).
#[derive(Debug, Default)]
pub struct Transcript {
    pub lines: Vec<String>,
}

impl Transcript {
    /// The last `n` lines, for a failure message.
    pub fn tail(&self, n: usize) -> String {
        let start = self.lines.len().saturating_sub(n);
        self.lines[start..].join("\n")
    }
}

/// How long `docker version` may take before the Docker engine counts as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

impl Engine {
    /// The engine to use: `preferred` when given, else docker when a Docker engine answers, else
    /// podman when installed. The error names everything that was looked for.
    pub async fn detect(preferred: Option<EngineKind>) -> Result<Engine> {
        let candidates = match preferred {
            Some(k) => vec![k],
            None => vec![EngineKind::Docker, EngineKind::Podman],
        };
        let mut tried = Vec::new();
        for kind in candidates {
            if kind == EngineKind::Docker && on_path("docker") {
                if let Some(socket) = crate::engine::socket::DockerSocket::locate() {
                    if socket.ping().await.is_ok() {
                        return Ok(Engine {
                            kind,
                            buildx: false,
                            socket: Some(socket),
                            auth: None,
                        });
                    }
                }
            }
            match probe(kind).await {
                Ok(()) => {
                    return Ok(Engine {
                        kind,
                        buildx: false,
                        socket: None,
                        auth: None,
                    });
                }
                Err(why) => tried.push(format!("`{}` ({why})", kind.program())),
            }
        }
        Err(Error::failed(format!(
            "no container engine: looked for {}",
            tried.join(" and ")
        ))
        .with_hint(
            "install Docker or podman (or start the Docker engine), or pick one with --engine",
        ))
    }

    /// [`Engine::detect`], and whether `docker buildx` is installed (only builds need to know).
    pub async fn detect_for_build(preferred: Option<EngineKind>) -> Result<Engine> {
        let mut engine = Engine::detect(preferred).await?;
        engine.buildx =
            engine.kind == EngineKind::Docker && answers("docker", &["buildx", "version"]).await;
        Ok(engine)
    }

    pub fn program(&self) -> &'static str {
        self.kind.program()
    }

    /// Keeps registry logins of this run in a private folder instead of the user's config.
    pub fn with_private_auth(mut self) -> Result<Engine> {
        let dir = tempfile::Builder::new()
            .prefix("wharf-auth-")
            .tempdir()
            .map_err(|e| Error::failed(format!("cannot create a temporary folder: {e}")))?;
        self.auth = Some(Arc::new(dir));
        Ok(self)
    }

    /// The engine command for `args`, without the private login folder (for verbs that talk to
    /// no registry: run, logs, inspect, rm, network).
    pub(crate) fn plain(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(self.program());
        cmd.args(args).stdin(Stdio::null());
        cmd
    }

    /// The engine command with the private login folder applied.
    fn command(&self, verb: &[&str]) -> Command {
        let mut cmd = self.plain(&[]);
        if let (EngineKind::Docker, Some(dir)) = (self.kind, &self.auth) {
            cmd.arg("--config").arg(dir.path());
        }
        cmd.args(verb);
        if let (EngineKind::Podman, Some(dir)) = (self.kind, &self.auth) {
            cmd.arg("--authfile").arg(dir.path().join("auth.json"));
        }
        cmd
    }

    /// `verb reference` (pull or push) with the private login folder, and plain HTTP for podman
    /// and a loopback registry.
    fn registry_command(&self, verb: &str, reference: &str) -> Command {
        let mut cmd = self.command(&[verb, reference]);
        let host = reference.split('/').next().unwrap_or_default();
        cmd.args(self.plain_http(host));
        cmd
    }

    /// podman wants TLS even from a registry on this machine unless told otherwise (docker
    /// speaks plain HTTP to loopback registries by itself): the flag that says so, for podman and
    /// a loopback `host`.
    fn plain_http(&self, host: &str) -> Option<&'static str> {
        (self.kind == EngineKind::Podman && is_loopback(host)).then_some("--tls-verify=false")
    }

    /// The arguments of a build (without the program name), for display and tests.
    pub fn build_args(&self, spec: &BuildSpec) -> Vec<String> {
        let mut args: Vec<String> = if self.buildx {
            vec!["buildx".into(), "build".into(), "--load".into()]
        } else {
            // The legacy builder leaves the container of a failed step behind unless told.
            vec!["build".into(), "--force-rm".into()]
        };
        for tag in &spec.tags {
            args.push("--tag".into());
            args.push(tag.clone());
        }
        args.push("--file".into());
        args.push(spec.dockerfile.display().to_string());
        if let Some(target) = &spec.target {
            args.push("--target".into());
            args.push(target.clone());
        }
        if let Some(platform) = &spec.platform {
            args.push("--platform".into());
            args.push(platform.clone());
        }
        for (k, v) in &spec.args {
            args.push("--build-arg".into());
            args.push(format!("{k}={v}"));
        }
        for (k, v) in &spec.labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.push("--iidfile".into());
        args.push(spec.iidfile.display().to_string());
        args.push(spec.context.display().to_string());
        args
    }

    /// Builds one image. Each output line goes to `echo` (for `-v`) and the transcript; a failed
    /// build returns the transcript's tail in the error.
    pub async fn build(
        &self,
        name: &str,
        spec: &BuildSpec,
        echo: &(dyn Fn(&str) + Sync),
    ) -> Result<LocalImage> {
        let args = self.build_args(spec);
        // The verb first: podman's --authfile (from `command`) belongs after it.
        let (verb, rest) = args.split_first().expect("a build has a verb");
        let mut cmd = self.command(&[verb]);
        cmd.args(rest);
        let (ok, transcript) = run_logged(cmd, echo).await.map_err(|e| {
            Error::failed(format!(
                "image `{name}`: cannot run {}: {e}",
                self.program()
            ))
        })?;
        if !ok {
            return Err(Error::failed(format!(
                "image `{name}`: the build failed; last lines of `{} build`:\n{}",
                self.program(),
                indent(&transcript.tail(15))
            ))
            .with_hint("run with -v to see the whole build output"));
        }
        let id = std::fs::read_to_string(&spec.iidfile)
            .map(|s| s.trim().to_string())
            .map_err(|e| {
                Error::failed(format!(
                    "image `{name}`: the build wrote no image ID to {}: {e}",
                    spec.iidfile.display()
                ))
            })?;
        let mut image = self.inspect(&id).await?.unwrap_or_default();
        image.id = id;
        Ok(image)
    }

    /// The local image `reference`, or None when the engine does not have it.
    pub async fn inspect(&self, reference: &str) -> Result<Option<LocalImage>> {
        if let Some(socket) = &self.socket {
            let doc = socket.inspect(reference).await.map_err(Error::failed)?;
            return Ok(doc.map(|d| LocalImage::from_inspect(&d)));
        }
        let out = self
            .command(&["image", "inspect", "--format", "{{json .}}", reference])
            .output()
            .await
            .map_err(|e| Error::failed(format!("cannot run {}: {e}", self.program())))?;
        if !out.status.success() {
            return Ok(None);
        }
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            Error::failed(format!(
                "`{} image inspect {reference}` printed something that is not JSON: {e}",
                self.program()
            ))
        })?;
        Ok(Some(LocalImage::from_inspect(&doc)))
    }

    /// Logs in to `registry` with `password` given on standard input.
    pub async fn login(&self, registry: &str, username: &str, password: &str) -> Result<()> {
        let mut cmd = self.command(&[
            "login",
            "--username",
            username,
            "--password-stdin",
            registry,
        ]);
        cmd.args(self.plain_http(registry));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::failed(format!("cannot run {}: {e}", self.program())))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(password.as_bytes()).await.map_err(|e| {
                Error::failed(format!("cannot write to {} login: {e}", self.program()))
            })?;
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| Error::failed(format!("{} login did not finish: {e}", self.program())))?;
        if out.status.success() {
            return Ok(());
        }
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(Error::aws(format!(
            "{} login to {registry} with the ECR authorization token failed: {detail}",
            self.program()
        ))
        .with_hint("the registry rejected the credentials: check that they are valid and not expired, and that the environment's account and registry are right"))
    }

    /// Pulls `reference`; a failure returns the engine's last lines.
    pub async fn pull(&self, reference: &str, echo: &(dyn Fn(&str) + Sync)) -> Result<()> {
        let cmd = self.registry_command("pull", reference);
        let (ok, transcript) = run_logged(cmd, echo)
            .await
            .map_err(|e| Error::failed(format!("cannot run {}: {e}", self.program())))?;
        if ok {
            return Ok(());
        }
        Err(Error::failed(format!(
            "`{} pull {reference}` failed; last lines:\n{}",
            self.program(),
            indent(&transcript.tail(5))
        )))
    }

    /// Pushes `reference`; returns the manifest digest the registry reported.
    pub async fn push(&self, reference: &str, echo: &(dyn Fn(&str) + Sync)) -> Result<PushOutcome> {
        let mut cmd = self.registry_command("push", reference);
        let digest_file = tempfile::NamedTempFile::new()
            .map_err(|e| Error::failed(format!("cannot create a temporary file: {e}")))?;
        if self.kind == EngineKind::Podman {
            cmd.arg("--digestfile").arg(digest_file.path());
        }
        let (ok, transcript) = run_logged(cmd, echo)
            .await
            .map_err(|e| Error::failed(format!("cannot run {}: {e}", self.program())))?;
        if !ok {
            return Ok(PushOutcome::Failed(transcript));
        }
        let digest = match self.kind {
            EngineKind::Podman => std::fs::read_to_string(digest_file.path())
                .unwrap_or_default()
                .trim()
                .to_string(),
            EngineKind::Docker => transcript
                .lines
                .iter()
                .rev()
                .find_map(|l| parse_push_digest(l))
                .unwrap_or_default(),
        };
        Ok(PushOutcome::Pushed { digest })
    }

    /// Runs `compose build` on `file` with `env` added to the full environment of wharf.
    pub async fn compose_build(
        &self,
        file: &Path,
        services: &[String],
        env: &[(String, String)],
        echo: &(dyn Fn(&str) + Sync),
    ) -> Result<()> {
        let (program, mut prefix) = self.compose_tool().await?;
        prefix.extend([
            "--file".to_string(),
            file.display().to_string(),
            "build".into(),
        ]);
        let mut cmd = Command::new(&program);
        cmd.args(&prefix).args(services).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let shown = format!("{program} {}", prefix.join(" "));
        let (ok, transcript) = run_logged(cmd, echo)
            .await
            .map_err(|e| Error::failed(format!("cannot run {shown}: {e}")))?;
        if !ok {
            return Err(Error::failed(format!(
                "`{shown}` failed; last lines:\n{}",
                indent(&transcript.tail(15))
            ))
            .with_hint("run with -v to see the whole build output"));
        }
        Ok(())
    }

    /// `compose config` of `file` with `env` added: the resolved compose document.
    pub async fn compose_config(
        &self,
        file: &Path,
        env: &[(String, String)],
    ) -> Result<serde_norway::Value> {
        let (program, mut prefix) = self.compose_tool().await?;
        prefix.extend([
            "--file".to_string(),
            file.display().to_string(),
            "config".into(),
        ]);
        let mut cmd = Command::new(&program);
        cmd.args(&prefix).stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd
            .output()
            .await
            .map_err(|e| Error::failed(format!("cannot run {program}: {e}")))?;
        if !out.status.success() {
            return Err(Error::usage(format!(
                "`{program} {}` failed: {}",
                prefix.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        serde_norway::from_slice(&out.stdout).map_err(|e| {
            Error::failed(format!(
                "the compose tool printed a document wharf cannot read: {e}"
            ))
        })
    }

    /// The compose tool: `docker compose` (plugin), else `docker-compose`; `podman compose`,
    /// else `podman-compose`.
    async fn compose_tool(&self) -> Result<(String, Vec<String>)> {
        let (plugin, standalone) = match self.kind {
            EngineKind::Docker => ("docker", "docker-compose"),
            EngineKind::Podman => ("podman", "podman-compose"),
        };
        if answers(plugin, &["compose", "version"]).await {
            return Ok((plugin.to_string(), vec!["compose".to_string()]));
        }
        if answers(standalone, &["version"]).await {
            return Ok((standalone.to_string(), Vec::new()));
        }
        Err(Error::failed(format!(
            "no compose tool: looked for `{plugin} compose` and `{standalone}`"
        ))
        .with_hint("install the compose plugin or the standalone compose tool, or describe the images under [images] in wharf.toml"))
    }
}

/// The result of one push attempt.
#[derive(Debug)]
pub enum PushOutcome {
    Pushed { digest: String },
    Failed(Transcript),
}

/// Whether a failed push is worth another try (the network, the registry's 5xx), as opposed to
/// an authentication or naming problem.
pub fn push_failure_is_transient(transcript: &Transcript) -> bool {
    let text = transcript.lines.join("\n").to_ascii_lowercase();
    let permanent = [
        "unauthorized",
        "denied",
        "authentication required",
        "no basic auth credentials",
        "does not exist",
        "name unknown",
        "tag invalid",
        "immutable",
    ];
    !permanent.iter().any(|p| text.contains(p))
}

/// `1.0.1: digest: sha256:ab.. size: 528` -> `sha256:ab..`.
fn parse_push_digest(line: &str) -> Option<String> {
    let rest = &line[line.find("digest: ")? + "digest: ".len()..];
    let digest = rest.split_whitespace().next()?;
    digest.starts_with("sha256:").then(|| digest.to_string())
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `program args` runs and exits 0.
async fn answers(program: &str, args: &[&str]) -> bool {
    let run = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    matches!(tokio::time::timeout(PROBE_TIMEOUT, run).await, Ok(Ok(s)) if s.success())
}

/// Whether `program` is an executable file in a folder of PATH (without running it).
fn on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Whether the engine is installed and, for docker, whether its engine answers.
async fn probe(kind: EngineKind) -> std::result::Result<(), String> {
    let program = kind.program();
    let args: &[&str] = match kind {
        EngineKind::Docker => &["version", "--format", "{{.Server.Version}}"],
        EngineKind::Podman => &["version", "--format", "{{.Client.Version}}"],
    };
    let run = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output();
    match tokio::time::timeout(PROBE_TIMEOUT, run).await {
        Err(_) => Err(format!("no answer within {}s", PROBE_TIMEOUT.as_secs())),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("not found on PATH".to_string())
        }
        Ok(Err(e)) => Err(format!("cannot run it: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let first = err
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("it failed");
            Err(format!(
                "installed, but the engine does not answer: {}",
                first.trim()
            ))
        }
    }
}

/// Runs `cmd`, passing every stdout/stderr line to `echo` and keeping them; returns success.
async fn run_logged(
    mut cmd: Command,
    echo: &(dyn Fn(&str) + Sync),
) -> std::io::Result<(bool, Transcript)> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let stdout = child.stdout.take().map(BufReader::new);
    let stderr = child.stderr.take().map(BufReader::new);
    let mut transcript = Transcript::default();
    let mut out_lines = stdout.map(|r| r.lines());
    let mut err_lines = stderr.map(|r| r.lines());
    loop {
        let line = tokio::select! {
            l = async { match &mut out_lines { Some(r) => r.next_line().await, None => Ok(None) } }, if out_lines.is_some() => {
                match l? { Some(l) => l, None => { out_lines = None; continue; } }
            }
            l = async { match &mut err_lines { Some(r) => r.next_line().await, None => Ok(None) } }, if err_lines.is_some() => {
                match l? { Some(l) => l, None => { err_lines = None; continue; } }
            }
            else => break,
        };
        echo(&line);
        transcript.lines.push(line);
    }
    let status = child.wait().await?;
    Ok((status.success(), transcript))
}

/// Whether a registry host (with or without port) is this machine: such registries are spoken
/// to in plain HTTP, as docker does.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    name == "localhost" || name == "::1" || name.starts_with("127.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(buildx: bool) -> Engine {
        Engine {
            kind: EngineKind::Docker,
            buildx,
            socket: None,
            auth: None,
        }
    }

    #[test]
    fn build_arguments_carry_every_setting() {
        let spec = BuildSpec {
            tags: vec!["r/app:1".into()],
            context: "ctx".into(),
            dockerfile: "ctx/Dockerfile".into(),
            target: Some("prod".into()),
            platform: Some("linux/amd64".into()),
            args: vec![("A".into(), "1".into())],
            labels: vec![("l".into(), "v".into())],
            iidfile: "/tmp/iid".into(),
        };
        assert_eq!(
            engine(false).build_args(&spec).join(" "),
            "build --force-rm --tag r/app:1 --file ctx/Dockerfile --target prod --platform linux/amd64 \
             --build-arg A=1 --label l=v --iidfile /tmp/iid ctx"
        );
        assert!(engine(true)
            .build_args(&spec)
            .join(" ")
            .starts_with("buildx build --load "));
    }

    #[test]
    fn push_digest_is_read_from_the_last_line() {
        assert_eq!(
            parse_push_digest("1.0.1: digest: sha256:abc123 size: 528").as_deref(),
            Some("sha256:abc123")
        );
        assert_eq!(parse_push_digest("Layer already exists"), None);
    }

    #[test]
    fn authentication_failures_are_not_retried() {
        let t = |s: &str| Transcript {
            lines: vec![s.to_string()],
        };
        assert!(!push_failure_is_transient(&t(
            "unauthorized: authentication required"
        )));
        assert!(push_failure_is_transient(&t(
            "net/http: TLS handshake timeout"
        )));
    }
}
