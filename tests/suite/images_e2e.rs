//! `wharf build`, `push` and `promote` end to end against the local test bed: images built FROM
//! scratch with a static busybox, pushed through the ECR login flow, re-push skipped, promotion
//! checked by digest, compose mode with `${APP_TAG}`, a git-URL context, and the failures.

use crate::support;

use std::process::Command;

use predicates::prelude::*;
use support::{aws, registry, unique, Project};

const DOCKERFILE: &str = "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\nENV PATH=/bin\n";

fn project(images: &str, extra: &str) -> Project {
    let repo = unique("img");
    let toml = format!(
        "app = \"{{app}}\"\n[environments.local]\nregion = \"us-east-1\"\naccount = \"123456789012\"\n\
         endpoint_url = \"{{endpoint}}\"\nregistry = \"{{registry}}\"\n{}\n{extra}",
        images.replace("REPO", &repo)
    );
    Project::new(&[("wharf.toml", &toml)])
}

fn context(p: &Project, dir: &str, dockerfile: &str) {
    p.write(&format!("{dir}/Dockerfile"), dockerfile);
    std::fs::copy("/bin/busybox", p.path().join(dir).join("busybox")).expect("/bin/busybox exists");
}

/// The repository prefix `project` gave this project's images (`REPO` in their `repository`).
fn repo_prefix(p: &Project) -> String {
    let toml = std::fs::read_to_string(p.path().join("wharf.toml")).unwrap();
    toml.split("repository = \"")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("the project names a repository")
        .to_string()
}

fn digest_in_registry(reference: &str) -> Option<String> {
    let (host_repo, tag) = reference.rsplit_once(':').unwrap();
    let repo = host_repo.split_once('/').unwrap().1;
    let out = Command::new("curl")
        .args(["-sfI", "-u", &format!("AWS:{}-auth-token", support::ACCOUNT), "-H",
               "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
               &format!("http://{}/v2/{repo}/manifests/{tag}", registry())])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("docker-content-digest: ")
            .map(|d| d.trim().to_string())
    })
}

const TWO: &str = "[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n\
                   [images.web]\ncontext = \"web\"\nrepository = \"REPO/web\"\nargs = { APP = \"{{ image('app') }}\" }\n";
const WEB: &str = "FROM scratch\nARG APP\nCOPY busybox /bin/busybox\nLABEL app-image=$APP\n";

#[test]
fn build_push_skip_and_promote() {
    let p = project(TWO, "[environments.stage]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{endpoint}\"\nregistry = \"{registry}\"\n");
    context(&p, "app", DOCKERFILE);
    context(&p, "web", WEB);
    let tag = unique("t");
    let out = p
        .wharf()
        .args(["build", "--env", "local", "--tag", &tag])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        stdout.contains("IMAGE") && stdout.contains("app") && stdout.contains("web"),
        "{stdout}"
    );
    // web waited for app: its build arg is app's reference.
    let repo = repo_prefix(&p);
    let app_ref = format!("{}/{repo}/app:{tag}", registry());
    let web_ref = format!("{}/{repo}/web:{tag}", registry());
    let labels = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &web_ref,
        ])
        .output()
        .unwrap();
    let labels = String::from_utf8_lossy(&labels.stdout);
    assert!(
        labels.contains(&format!("\"app-image\":\"{app_ref}\"")),
        "{labels}"
    );
    assert!(
        labels.contains(&format!("\"org.opencontainers.image.version\":\"{tag}\"")),
        "{labels}"
    );

    // A missing repository is an error naming it.
    p.wharf()
        .args(["push", "--env", "local", "--tag", &tag])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "ECR repository {repo}/app, {repo}/web does not exist"
        )));
    p.wharf()
        .args([
            "push",
            "--env",
            "local",
            "--tag",
            &tag,
            "--create-repositories",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("app: pushed sha256:"));
    let repos = aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &format!("{repo}/app"),
    ]);
    assert_eq!(
        repos["repositories"][0]["imageScanningConfiguration"]["scanOnPush"],
        true
    );
    let app_digest = digest_in_registry(&app_ref).expect("app is in the registry");
    assert!(digest_in_registry(&web_ref).is_some());

    // Unchanged: skipped.
    p.wharf()
        .args(["push", "--env", "local", "--tag", &tag])
        .assert()
        .success()
        .stderr(predicate::str::contains("already holds").and(predicate::str::contains("skipped")))
        .stdout(predicate::str::contains("skipped"));

    // Promote within the registry (BatchGetImage + PutImage) under a new tag: same digest.
    let to_tag = format!("{tag}-stage");
    p.wharf()
        .args([
            "promote", "--tag", &tag, "--from", "local", "--to", "stage", "--to-tag", &to_tag,
            "app",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("tagged"));
    assert_eq!(
        digest_in_registry(&format!("{}/{repo}/app:{to_tag}", registry())),
        Some(app_digest.clone())
    );
    let ecr = aws(&[
        "ecr",
        "batch-get-image",
        "--repository-name",
        &format!("{repo}/app"),
        "--image-ids",
        &format!("imageTag={to_tag}"),
    ]);
    assert_eq!(
        ecr["images"][0]["imageId"]["imageDigest"],
        app_digest.as_str()
    );
}

/// A second registry (no auth) standing for another account's ECR: its folder, process and port.
fn second_registry() -> (tempfile::TempDir, std::process::Child, u16) {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    std::fs::write(dir.path().join("config.yml"), format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n", dir.path().display())).unwrap();
    let reg = Command::new("docker-registry")
        .args([
            "serve",
            &dir.path().join("config.yml").display().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry runs");
    (dir, reg, port)
}

/// `wharf ARGS` in `p` on a pseudo-terminal (script(1)): what the terminal showed.
fn on_a_terminal(p: &Project, args: &str) -> String {
    let base = support::wharf_command();
    // wharf itself on the terminal: the transcribing wrapper would put a pipe (tee) between
    // wharf's stderr and the terminal. script(1) keeps the transcript instead.
    let program = base
        .get_envs()
        .find(|(k, _)| *k == "WHARF_BIN")
        .and_then(|(_, v)| v)
        .unwrap_or(base.get_program())
        .to_string_lossy()
        .to_string();
    let typescript = support::transcripts()
        .map(|d| d.join(format!("{}-terminal.out", unique("tty"))))
        .unwrap_or_else(|| "/dev/null".into());
    let out = Command::new("script")
        .args(["-qec", &format!("{program} {args}")])
        .arg(&typescript)
        .envs(base.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .envs(support::aws_env())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .current_dir(p.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wharf {args} on a terminal:\n{text}");
    text
}

#[test]
fn push_and_promote_show_bytes_and_rate_per_image() {
    let (_dir, mut reg, port) = second_registry();
    let p = project("[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n",
        &format!("[environments.prod]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{{endpoint}}\"\nregistry = \"127.0.0.1:{port}\"\n"));
    context(&p, "app", DOCKERFILE);
    let tag = unique("t");
    p.wharf()
        .args(["build", "--env", "local", "--tag", &tag])
        .assert()
        .success();
    // On a terminal: a bar per image with bytes and rate, cleared at the end.
    let shown = on_a_terminal(
        &p,
        &format!("push --env local --tag {tag} --create-repositories"),
    );
    let bar = "app\u{1b}[0m [";
    assert!(shown.contains(bar) && shown.contains("B/s"), "{shown:?}");
    assert!(shown.contains("layers"), "{shown:?}");
    let shown = on_a_terminal(&p, &format!("promote --tag {tag} --from local --to prod"));
    assert!(
        shown.contains(bar) && shown.contains("B/s") && shown.contains("eta"),
        "{shown:?}"
    );
    let _ = reg.kill();
    let _ = reg.wait();
    assert!(
        shown.contains("copied 3 blob(s)") || shown.contains("copied 2 blob(s)"),
        "{shown}"
    );
    // Without a terminal: plain lines with the bytes and the rate, no bar.
    let tag2 = unique("t");
    p.wharf()
        .args(["build", "--env", "local", "--tag", &tag2])
        .assert()
        .success();
    let out = p
        .wharf()
        .args(["push", "--env", "local", "--tag", &tag2])
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains("app ["),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("app: pushed sha256:"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.contains(" MB in ") && line.ends_with("/s)"), "{line}");
}

#[test]
fn promote_across_registries_copies_blobs_and_keeps_the_digest() {
    let (_dir, mut reg, port) = second_registry();
    let p = project("[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n",
        &format!("[environments.prod]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{{endpoint}}\"\nregistry = \"127.0.0.1:{port}\"\n"));
    context(&p, "app", DOCKERFILE);
    let tag = unique("t");
    p.wharf()
        .args(["build", "--env", "local", "--tag", &tag])
        .assert()
        .success();
    p.wharf()
        .args([
            "push",
            "--env",
            "local",
            "--tag",
            &tag,
            "--create-repositories",
        ])
        .assert()
        .success();
    let out = p
        .wharf()
        .args(["promote", "--tag", &tag, "--from", "local", "--to", "prod"])
        .assert()
        .success();
    let _ = reg.kill();
    let _ = reg.wait();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("copied"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("copied 3 blob(s)") || stderr.contains("copied 2 blob(s)"),
        "{stderr}"
    );
}

#[test]
fn compose_mode_builds_with_app_tag_and_the_full_environment() {
    let repo = unique("seed");
    let p = Project::new(&[
        ("wharf.toml", "app = \"{app}\"\n[environments.local]\nregion = \"us-east-1\"\naccount = \"123456789012\"\nendpoint_url = \"{endpoint}\"\nregistry = \"{registry}\"\n"),
        ("build/docker-compose.build.yml", &format!(
            "version: '3'\nservices:\n  app:\n    image: {{registry}}/{repo}/app:${{APP_TAG}}\n    build:\n      context: app\n      args:\n        - HOME_SEEN=${{HOME}}\n")),
        ("build/app/Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nARG HOME_SEEN\nLABEL home=$HOME_SEEN\n"),
    ]);
    std::fs::copy("/bin/busybox", p.path().join("build/app/busybox")).unwrap();
    p.wharf()
        .args(["build", "--tag", "1.0.1"])
        .env("HOME", "/seen-home")
        .assert()
        .success()
        .stdout(predicate::str::contains("1.0.1"));
    let reference = format!("{}/{repo}/app:1.0.1", registry());
    let labels = Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &reference,
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&labels.stdout).contains("/seen-home"));
    p.wharf()
        .args(["push", "--tag", "1.0.1", "--create-repositories"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pushed"));
    assert!(digest_in_registry(&reference).is_some());
}

#[test]
fn a_git_url_context_builds_from_a_tag_of_a_bare_repository() {
    let src = tempfile::tempdir().unwrap();
    let s = src.path();
    std::fs::create_dir_all(s.join("sub")).unwrap();
    std::fs::write(s.join("sub/Dockerfile"), DOCKERFILE).unwrap();
    std::fs::copy("/bin/busybox", s.join("sub/busybox")).unwrap();
    let git = |dir: &std::path::Path, args: &[&str]| {
        assert!(Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .status()
            .unwrap()
            .success());
    };
    git(s, &["init", "-q"]);
    git(s, &["add", "."]);
    git(s, &["commit", "-qm", "x"]);
    git(s, &["tag", "v7"]);
    let bare = tempfile::tempdir().unwrap();
    git(
        bare.path(),
        &[
            "clone",
            "-q",
            "--bare",
            &s.display().to_string(),
            "repo.git",
        ],
    );
    let url = bare.path().join("repo.git").display().to_string();
    let p = project(
        &format!(
            "[images.app]\ncontext = \"{url}#{{{{ tag }}}}:sub\"\nrepository = \"REPO/app\"\n"
        ),
        "",
    );
    p.wharf()
        .args(["build", "--env", "local", "--tag", "v7"])
        .assert()
        .success()
        .stderr(predicate::str::contains("fetching v7"));
    p.wharf()
        .args(["build", "--env", "local", "--tag", "v8"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot fetch `v8`"));
}

#[test]
fn failures_have_clear_messages_and_exit_codes() {
    // Missing Dockerfile: exit 2, located.
    let p = project(
        "[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n",
        "",
    );
    std::fs::create_dir_all(p.path().join("app")).unwrap();
    p.wharf()
        .args(["build", "--env", "local", "--tag", "x1"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("Dockerfile").and(predicate::str::contains("does not exist")),
        );

    // A failing RUN step: exit 1, the engine's last lines, nothing pushed.
    // The step's container is not left behind (the legacy builder keeps it without --force-rm).
    let marker = support::unique("boom-from-run");
    context(&p, "app", &format!("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo {marker}; exit 3\"]\n"));
    p.wharf()
        .args(["build", "--env", "local", "--tag", "x1"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("the build failed").and(predicate::str::contains(&marker)),
        );
    let engine = std::env::var("WHARF_TESTBED_ENGINE").unwrap_or_else(|_| "docker".into());
    let left = std::process::Command::new(&engine)
        .args(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Command}}"])
        .output()
        .expect("the engine lists containers");
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(
        !left.contains(&marker),
        "a failed build left its container: {left}"
    );
    p.wharf()
        .args([
            "push",
            "--env",
            "local",
            "--tag",
            "x1",
            "--create-repositories",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("is not built here"));

    // Unknown image in image(), and a cycle: exit 2.
    let p = project(
        "[images.app]\nrepository = \"REPO/app\"\nargs = { X = \"{{ image('nope') }}\" }\n",
        "",
    );
    p.wharf()
        .args(["build", "--env", "local", "--tag", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "image('nope'), which is not in [images]",
        ));
    let p = project("[images.a]\nrepository = \"REPO/a\"\nargs = { X = \"{{ image('b') }}\" }\n[images.b]\nrepository = \"REPO/b\"\nargs = { X = \"{{ image('a') }}\" }\n", "");
    p.wharf()
        .args(["build", "--env", "local", "--tag", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cycle").and(predicate::str::contains("a -> b -> a")));

    // No engine installed.
    let p = project("[images.app]\nrepository = \"REPO/app\"\n", "");
    let empty = tempfile::tempdir().unwrap();
    p.wharf().args(["build", "--env", "local", "--tag", "x"]).env("PATH", empty.path()).assert().code(1)
        .stderr(predicate::str::contains("no container engine: looked for `docker` (not found on PATH) and `podman` (not found on PATH)"));
}

#[test]
fn wrong_registry_credentials_are_an_aws_error() {
    // A registry whose password is not the ECR token stands for a wrong or expired token.
    let dir = tempfile::tempdir().unwrap();
    let port = 20000 + ((std::process::id() + 7) % 20000) as u16;
    let htpasswd = dir.path().join("htpasswd");
    assert!(Command::new("htpasswd")
        .args([
            "-cbB",
            &htpasswd.display().to_string(),
            "AWS",
            "another-password"
        ])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success());
    std::fs::write(dir.path().join("config.yml"), format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: t\n    path: {}\n",
        dir.path().display(), htpasswd.display())).unwrap();
    let mut reg = Command::new("docker-registry")
        .args([
            "serve",
            &dir.path().join("config.yml").display().to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry runs");
    let p = project(
        "[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n",
        "",
    );
    context(&p, "app", DOCKERFILE);
    let toml = std::fs::read_to_string(p.path().join("wharf.toml"))
        .unwrap()
        .replace(
            &format!("registry = \"{}\"", registry()),
            &format!("registry = \"127.0.0.1:{port}\""),
        );
    std::fs::write(p.path().join("wharf.toml"), toml).unwrap();
    p.wharf()
        .args(["build", "--env", "local", "--tag", "c1"])
        .assert()
        .success();
    let out = p
        .wharf()
        .args([
            "push",
            "--env",
            "local",
            "--tag",
            "c1",
            "--create-repositories",
        ])
        .assert();
    let _ = reg.kill();
    let _ = reg.wait();
    out.code(3)
        .stderr(predicate::str::contains("rejected the credentials"))
        .stderr(predicate::str::contains("another-password").not());
}

/// A re-push of unchanged images with a cached ECR login asks AWS nothing: it succeeds against an
/// environment whose AWS endpoint is closed. A cached login the registry refuses is forgotten, and
/// the next push logs in afresh.
#[test]
fn unchanged_re_push_with_a_cached_login_needs_no_aws_call() {
    // Same registry as `local`, but nothing listens at its AWS endpoint (port 9, discard).
    let p = project(
        "[images.app]\ncontext = \"app\"\nrepository = \"REPO/app\"\n",
        "[environments.offline]\nregion = \"us-east-1\"\naccount = \"123456789012\"\n\
         endpoint_url = \"http://127.0.0.1:9\"\nregistry = \"{registry}\"\n",
    );
    context(&p, "app", DOCKERFILE);
    let cache = tempfile::tempdir().unwrap();
    let wharf = |env: &str, extra: &[&str]| {
        let mut cmd = p.wharf();
        cmd.env("XDG_CACHE_HOME", cache.path())
            .args(["push", "--env", env, "--tag", "c1"])
            .args(extra);
        cmd.assert()
    };
    p.wharf()
        .args(["build", "--env", "local", "--tag", "c1"])
        .assert()
        .success();

    // Without a cached login, the closed endpoint is an AWS error (exit 3).
    wharf("offline", &[]).code(3);
    wharf("local", &["--create-repositories"]).success();
    let files: Vec<_> = std::fs::read_dir(cache.path().join("wharf/ecr-logins"))
        .expect("the login was cached")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "only the owner may read the token");

    wharf("offline", &[])
        .success()
        .stderr(predicate::str::contains("already holds"))
        .stdout(predicate::str::contains("skipped"));

    // A login the registry refuses: forgotten, then the full path runs (and fails here, as the
    // endpoint is closed); the next push with AWS at hand logs in afresh and caches again.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let token = format!("{}-auth-token", support::ACCOUNT);
    std::fs::write(&files[0], text.replace(&token, "not-the-token")).unwrap();
    wharf("offline", &[]).code(3);
    assert!(!files[0].exists(), "the refused login was forgotten");
    wharf("local", &[])
        .success()
        .stdout(predicate::str::contains("skipped"));
    assert!(files[0].exists());
}

/// The podman path: build, push through the ECR login (podman's own auth file), and a re-push
/// skipped although podman's local digest is not the one its push produced (the registry's
/// config digest is compared with the image ID).
#[test]
fn podman_builds_pushes_and_skips_unchanged() {
    assert!(
        Command::new("podman")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "podman is installed by scripts/testbed install"
    );
    let p = project(TWO, "");
    context(&p, "app", DOCKERFILE);
    context(&p, "web", WEB);
    let tag = unique("pod");
    p.wharf()
        .args([
            "build", "--env", "local", "--engine", "podman", "--tag", &tag,
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("app: built"));
    let cache = tempfile::tempdir().unwrap();
    let push = || {
        let mut cmd = p.wharf();
        cmd.env("XDG_CACHE_HOME", cache.path()).args([
            "push",
            "--env",
            "local",
            "--engine",
            "podman",
            "--tag",
            &tag,
            "--create-repositories",
        ]);
        cmd.assert()
    };
    push()
        .success()
        .stderr(predicate::str::contains("app: pushed sha256:"))
        .stderr(predicate::str::contains("web: pushed sha256:"));
    let repo = repo_prefix(&p);
    let app_ref = format!("{}/{repo}/app:{tag}", registry());
    let digest = digest_in_registry(&app_ref).expect("app is in the registry");
    push()
        .success()
        .stderr(predicate::str::contains(format!(
            "app: {}/{repo}/app already holds {}",
            registry(),
            &digest[..19]
        )))
        .stdout(predicate::str::contains("pushed").not());
    // The image that runs is the one built: podman's image ID is the config in the registry.
    let id = Command::new("podman")
        .args(["image", "inspect", "--format", "{{.Id}}", &app_ref])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let manifest = Command::new("curl")
        .args(["-sf", "-u", &format!("AWS:{}-auth-token", support::ACCOUNT), "-H",
               "Accept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
               &format!("http://{}/v2/{repo}/app/manifests/{tag}", registry())])
        .output()
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest.stdout).unwrap();
    assert_eq!(manifest["config"]["digest"], format!("sha256:{id}"));
}
