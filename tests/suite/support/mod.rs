//! Shared fixtures for end-to-end tests against the local test bed (docs/testbed.md).
//!
//! The test bed must be up (`scripts/testbed up`; `scripts/test` does it). Tests fail, loudly,
//! when it is not: a skipped end-to-end test would hide that nothing was checked. Every test
//! creates uniquely named resources, so tests run in parallel and never need a reset.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use serde_json::Value;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "http://127.0.0.1:4566".into())
}

pub fn registry() -> String {
    std::env::var("WHARF_TESTBED_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into())
}

fn testbed_dir() -> PathBuf {
    std::env::var_os("WHARF_TESTBED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/wharf-testbed")
        })
}

/// The test bed's Python venv (moto, the AWS CLI, Terraform 1.0.3).
pub fn venv_bin(name: &str) -> PathBuf {
    testbed_dir().join("venv/bin").join(name)
}

/// The machine's Terraform (>= 1.5, with the AWS provider from the filesystem mirror that
/// `scripts/testbed install` configures), found on PATH.
pub fn terraform_bin() -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    for dir in path.split(':').chain(["/usr/local/bin", "/usr/bin"]) {
        let candidate = Path::new(dir).join("terraform");
        if candidate.is_file() && !candidate.starts_with(testbed_dir()) {
            return candidate;
        }
    }
    panic!("no terraform on PATH: every machine of this kind has Terraform 1.11 in /usr/local/bin");
}

/// A PATH holding the machine's Terraform and the base system only.
pub fn path_with_terraform() -> String {
    let tf = terraform_bin();
    format!("{}:/usr/bin:/bin", tf.parent().unwrap().display())
}

/// The AWS CLI of the test bed's venv (or `aws` on PATH).
pub fn aws_bin() -> PathBuf {
    let venv = testbed_dir().join("venv/bin/aws");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("aws")
    }
}

/// Where every wharf command the tests run leaves a copy of its output, and the secret values
/// the tests set are listed, for the suite's leak scan (tests/suite/leak_scan.rs):
/// `WHARF_TEST_TRANSCRIPTS`, which `scripts/test` sets to a fresh folder for the run it scans.
/// Unset (a plain `cargo test`), nothing is kept.
pub fn transcripts() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("WHARF_TEST_TRANSCRIPTS")?);
    static REGISTRY_PASSWORD: std::sync::Once = std::sync::Once::new();
    std::fs::create_dir_all(dir.join("secrets")).expect("the transcripts folder");
    // The test bed registry's password (what ECR's token decodes to) is a secret too.
    REGISTRY_PASSWORD.call_once(|| {
        let password = std::env::var("WHARF_TESTBED_REGISTRY_PASSWORD")
            .unwrap_or_else(|_| format!("{ACCOUNT}-auth-token"));
        std::fs::write(dir.join("secrets/registry-password"), password).expect("list a secret");
    });
    Some(dir)
}

/// `value`, listed as a secret that no wharf output may contain (the leak scan checks).
pub fn secret(value: &str) -> &str {
    if let Some(dir) = transcripts() {
        let mut hash = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(value, &mut hash);
        let name = format!("{:016x}", std::hash::Hasher::finish(&hash));
        std::fs::write(dir.join("secrets").join(name), value).expect("list a secret");
    }
    value
}

/// The wharf binary under test. When [`transcripts`] are kept, it runs through
/// `tests/suite/support/transcribe`, which copies its output there. Every test starts wharf through
/// this (or [`wharf_assert`]).
pub fn wharf_command() -> Command {
    let wharf = assert_cmd::cargo::cargo_bin("wharf");
    let Some(dir) = transcripts() else {
        return Command::new(wharf);
    };
    let mut cmd =
        Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite/support/transcribe"));
    cmd.env("WHARF_BIN", wharf)
        .env("WHARF_TEST_TRANSCRIPTS", dir);
    cmd
}

/// [`wharf_command`] for assert_cmd's assertions.
pub fn wharf_assert() -> assert_cmd::Command {
    assert_cmd::Command::from_std(wharf_command())
}

/// Environment variables that point AWS clients (wharf and the AWS CLI) at the test bed.
pub fn aws_env() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".into(), endpoint()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_DEFAULT_REGION".into(), REGION.into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// Panics with instructions when the test bed does not answer.
pub fn require_testbed() {
    static UP: OnceLock<()> = OnceLock::new();
    UP.get_or_init(|| {
        let url = format!("{}/moto-api/", endpoint());
        let ok = Command::new("curl")
            .args(["-sf", "-m", "5", "-o", "/dev/null", &url])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "the local test bed does not answer at {}: run `scripts/testbed up` and `eval \"$(scripts/testbed env)\"` first (scripts/test does both)",
            endpoint()
        );
    });
}

/// Runs the AWS CLI against the test bed; returns its JSON answer. Panics on failure.
pub fn aws(args: &[&str]) -> Value {
    require_testbed();
    aws_at(&endpoint(), args)
}

/// Runs the AWS CLI against `endpoint`; returns its JSON answer. Panics on failure.
pub fn aws_at(endpoint: &str, args: &[&str]) -> Value {
    let out = Command::new(aws_bin())
        .args(args)
        .args(["--output", "json"])
        .envs(aws_env())
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("the AWS CLI runs");
    assert!(
        out.status.success(),
        "aws {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&out.stdout).expect("the AWS CLI prints JSON")
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos & 0xfffff
    )
}

/// A TCP port on 127.0.0.1 that is free now and that no other call in this test process returns.
/// It is taken below Linux's ephemeral range (32768 and up), so an outgoing connection of
/// another test cannot land on it between this check and the server that binds it.
pub fn free_port() -> u16 {
    const LOW: u32 = 20000;
    const SPAN: u32 = 12000;
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| AtomicU32::new((std::process::id() * 97) % SPAN));
    for _ in 0..SPAN {
        let port = (LOW + next.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 between {LOW} and {}", LOW + SPAN);
}

/// A subnet in moto (one per test process), for awsvpc services.
pub fn subnet() -> String {
    static SUBNET: OnceLock<String> = OnceLock::new();
    SUBNET
        .get_or_init(|| {
            let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16"]);
            let vpc_id = vpc["Vpc"]["VpcId"].as_str().expect("a VPC id").to_string();
            let subnet = aws(&[
                "ec2",
                "create-subnet",
                "--vpc-id",
                &vpc_id,
                "--cidr-block",
                "10.9.1.0/24",
            ]);
            subnet["Subnet"]["SubnetId"]
                .as_str()
                .expect("a subnet id")
                .to_string()
        })
        .clone()
}

/// A busybox image (FROM scratch) in the test-bed registry, built and pushed once per process.
/// Returns its reference, `127.0.0.1:5000/wharf-test/busybox:1`.
pub fn busybox_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let reference = format!("{}/wharf-test/busybox:1", registry());
            push_busybox_image(&reference, "CMD [\"/bin/sh\"]\n", &[]);
            reference
        })
        .clone()
}

/// Builds a FROM-scratch image with the machine's static busybox as its shell (`/bin/*`), the
/// given extra files (path in the image, content) and the Dockerfile lines in `tail`, and pushes
/// it to the test bed's registry as `reference` (`<registry>/<repository>:<tag>`), creating the
/// ECR repository first, as on AWS (wharf checks with ecr:DescribeImages that the images it
/// deploys are there).
pub fn push_busybox_image(reference: &str, tail: &str, files: &[(&str, &str)]) {
    require_testbed();
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy("/bin/busybox", dir.path().join("busybox"))
        .expect("/bin/busybox (Debian busybox-static) exists");
    let mut dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n".to_string();
    for (i, (path, content)) in files.iter().enumerate() {
        let name = format!("file{i}");
        std::fs::write(dir.path().join(&name), content).expect("write an image file");
        dockerfile.push_str(&format!("COPY {name} {path}\n"));
    }
    dockerfile.push_str(tail);
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write Dockerfile");
    let engine = std::env::var("WHARF_TESTBED_ENGINE").unwrap_or_else(|_| "docker".into());
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = Command::new(&engine)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the container engine runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("the engine finishes");
        assert!(
            out.status.success(),
            "{engine} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let repository = reference
        .split_once('/')
        .map(|(_, rest)| rest)
        .unwrap_or(reference);
    let repository = repository
        .rsplit_once(':')
        .map(|(r, _)| r)
        .unwrap_or(repository);
    ensure_ecr_repository(repository);
    let dir_str = dir.path().to_str().expect("utf-8 path").to_string();
    run(&["build", "-q", "-t", reference, &dir_str], None);
    let password = std::env::var("WHARF_TESTBED_REGISTRY_PASSWORD")
        .unwrap_or_else(|_| format!("{ACCOUNT}-auth-token"));
    run(
        &["login", "-u", "AWS", "--password-stdin", &registry()],
        Some(&password),
    );
    run(&["push", reference], None);
}

/// Creates the ECR repository `name` in the test bed unless it exists.
pub fn ensure_ecr_repository(name: &str) {
    require_testbed();
    let out = Command::new(aws_bin())
        .args(["ecr", "create-repository", "--repository-name", name])
        .envs(aws_env())
        .output()
        .expect("the AWS CLI runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("RepositoryAlreadyExistsException"),
        "aws ecr create-repository {name} failed: {stderr}"
    );
}

/// The digest of `repository:tag` in the test bed's ECR, as ecr:DescribeImages reports it.
pub fn ecr_digest(repository: &str, tag: &str) -> String {
    let out = aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        repository,
        "--image-ids",
        &format!("imageTag={tag}"),
    ]);
    out["imageDetails"][0]["imageDigest"]
        .as_str()
        .unwrap_or_else(|| panic!("{repository}:{tag} is in ECR: {out}"))
        .to_string()
}

/// The suite runs its topics side by side in one binary. A test that changes the test bed for
/// everyone (its faults are global) takes this lock for writing with [`alone`]; every
/// [`Project`] holds it for reading while it lives.
static TESTBED_SHARING: std::sync::RwLock<()> = std::sync::RwLock::new(());

thread_local! {
    static ALONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Holds the test bed for this test alone until the guard is dropped: it waits for every other
/// test's projects to end, and no other test starts a project meanwhile.
pub fn alone() -> Alone {
    let guard = TESTBED_SHARING.write().unwrap_or_else(|e| e.into_inner());
    ALONE.with(|a| a.set(true));
    Alone { _guard: guard }
}

/// See [`alone`].
pub struct Alone {
    _guard: std::sync::RwLockWriteGuard<'static, ()>,
}

impl Drop for Alone {
    fn drop(&mut self) {
        ALONE.with(|a| a.set(false));
    }
}

/// Sends `body` (JSON) to the test bed's control endpoint `path` (`/_testbed/faults`,
/// `/_testbed/config`): `POST`, or `DELETE` without a body. Panics when the test bed refuses.
pub fn testbed_control(method: &str, path: &str, body: Option<&str>) {
    let mut curl = Command::new("curl");
    curl.args(["-sf", "-X", method]);
    if let Some(body) = body {
        curl.args(["-H", "content-type: application/json", "-d", body]);
    }
    let out = curl
        .arg(format!("{}{path}", endpoint()))
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "the test bed refused {method} {path} {}: {}",
        body.unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Injects test-bed faults (global: hold [`alone`]) until the guard is dropped, also when the
/// test panics.
pub fn inject_faults(body: &str) -> Faults {
    testbed_control("POST", "/_testbed/faults", Some(body));
    Faults
}

/// See [`inject_faults`].
pub struct Faults;

impl Drop for Faults {
    fn drop(&mut self) {
        testbed_control("DELETE", "/_testbed/faults", None);
    }
}

/// A throwaway wharf project on disk.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub app: String,
    pub cluster: String,
    /// Dropped after [`Project`]'s own clean-up (fields drop after `Drop::drop`).
    _sharing: Option<std::sync::RwLockReadGuard<'static, ()>>,
}

impl Project {
    /// A project whose environment `local` points at the test bed, in a new cluster, with the
    /// given files (path, content). `{cluster}`, `{app}`, `{subnet}`, `{image}` and `{endpoint}`
    /// in the contents are replaced.
    pub fn new(files: &[(&str, &str)]) -> Project {
        require_testbed();
        let sharing = (!ALONE.with(|a| a.get()))
            .then(|| TESTBED_SHARING.read().unwrap_or_else(|e| e.into_inner()));
        let app = unique("app");
        let cluster = unique("cluster");
        aws(&["ecs", "create-cluster", "--cluster-name", &cluster]);
        let dir = tempfile::tempdir().expect("a temp dir");
        let project = Project {
            dir,
            app,
            cluster,
            _sharing: sharing,
        };
        for (path, content) in files {
            project.write(path, content);
        }
        project
    }

    pub fn expand(&self, content: &str) -> String {
        let mut s = content
            .replace("{cluster}", &self.cluster)
            .replace("{app}", &self.app)
            .replace("{endpoint}", &endpoint())
            .replace("{registry}", &registry());
        if s.contains("{subnet}") {
            s = s.replace("{subnet}", &subnet());
        }
        if s.contains("{image}") {
            s = s.replace("{image}", &busybox_image());
        }
        s
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create folders");
        }
        std::fs::write(full, self.expand(content)).expect("write a project file");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `wharf` in the project folder, pointed at the test bed.
    pub fn wharf(&self) -> assert_cmd::Command {
        let mut cmd = wharf_assert();
        cmd.current_dir(self.path())
            .envs(aws_env())
            .env_remove("WHARF_ENV");
        cmd
    }

    /// The ECS service `name` in this project's cluster, as the AWS CLI describes it.
    pub fn service(&self, name: &str) -> Value {
        let out = aws(&[
            "ecs",
            "describe-services",
            "--cluster",
            &self.cluster,
            "--services",
            name,
        ]);
        out["services"][0].clone()
    }

    /// The first running task of service `name`, as the AWS CLI describes it.
    pub fn running_task(&self, name: &str) -> Value {
        let tasks = aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            &self.cluster,
            "--service-name",
            name,
        ]);
        let arn = tasks["taskArns"][0]
            .as_str()
            .unwrap_or_else(|| panic!("service {name} runs a task: {tasks}"));
        let described = aws(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            &self.cluster,
            "--tasks",
            arn,
        ]);
        described["tasks"][0].clone()
    }

    /// Task definition ARNs of `family`.
    pub fn revisions(&self, family: &str) -> Vec<String> {
        let out = aws(&["ecs", "list-task-definitions", "--family-prefix", family]);
        out["taskDefinitionArns"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Project {
    /// Stops what the test started (the test bed really runs containers): every service of the
    /// cluster is scaled to 0 and standalone tasks are stopped.
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            Command::new(aws_bin())
                .args(args)
                .args(["--output", "json"])
                .envs(aws_env())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| serde_json::from_slice::<Value>(&o.stdout).ok())
        };
        let cluster = self.cluster.as_str();
        if let Some(services) = quiet(&["ecs", "list-services", "--cluster", cluster]) {
            for arn in services["serviceArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                quiet(&[
                    "ecs",
                    "update-service",
                    "--cluster",
                    cluster,
                    "--service",
                    arn,
                    "--desired-count",
                    "0",
                ]);
            }
        }
        if let Some(tasks) = quiet(&["ecs", "list-tasks", "--cluster", cluster]) {
            for arn in tasks["taskArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                quiet(&["ecs", "stop-task", "--cluster", cluster, "--task", arn]);
            }
        }
    }
}

/// A minimal wharf.toml for services in `cluster` on the test bed.
pub const WHARF_TOML: &str = r#"app = "{app}"

[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{endpoint}"
registry = "{registry}"
cluster = "{cluster}"

[environments.local.network]
subnets = ["{subnet}"]
"#;

/// A Fargate task definition template running `command` (JSON array) in the busybox image.
pub fn task_definition(family: &str, command: &str, extra_container_fields: &str) -> String {
    format!(
        r#"{{
  "family": "{{{{ app }}}}-{family}",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
  "containerDefinitions": [{{
    "name": "main",
    "image": "{{image}}",
    "essential": true,
    "command": {command},
    "environment": [{{"name": "TAG", "value": "{{{{ tag }}}}"}}],
    "logConfiguration": {{"logDriver": "awslogs", "options": {{
      "awslogs-group": "/wharf-test/{{{{ app }}}}", "awslogs-region": "us-east-1",
      "awslogs-stream-prefix": "{family}", "awslogs-create-group": "true"}}}}{extra_container_fields}
  }}]
}}"#
    )
}

/// Copies the folder `from` into `to` (created), recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
