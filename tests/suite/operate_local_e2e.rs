//! `wharf local run` for real with the example app (examples/hello) and the test bed: its web
//! service's image is only in the registry, so wharf logs in to it (ECR's token) and pulls; the
//! service runs under docker with the environment, an SSM secret and its port published on
//! 127.0.0.1, answers HTTP, a sidecar reaches it on localhost (one network namespace, as in an
//! awsvpc task), and Ctrl-C stops and removes everything.

use crate::support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn local_run_with_docker_answers_on_its_port_and_ctrl_c_cleans_up() {
    local_run_scenario("docker");
}

/// The same with podman (installed by `scripts/testbed install`).
#[test]
fn local_run_with_podman_answers_on_its_port_and_ctrl_c_cleans_up() {
    local_run_scenario("podman");
}

fn local_run_scenario(engine: &str) {
    support::require_testbed();
    let app = support::unique("hello");
    let port = support::free_port();
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    support::copy_dir(&root, dir.path());
    // build-context.sh puts a static busybox next to the Dockerfile; do the same if it has not run.
    if !dir.path().join("busybox").exists() {
        std::fs::copy("/bin/busybox", dir.path().join("busybox"))
            .expect("/bin/busybox (Debian busybox-static) exists");
    }
    let toml = std::fs::read_to_string(dir.path().join("wharf.toml"))
        .unwrap()
        .replace("app = \"hello\"", &format!("app = \"{app}\""))
        .replace("http://127.0.0.1:4566", &support::endpoint())
        .replace(
            "registry = \"127.0.0.1:5000\"",
            &format!("registry = \"{}\"", support::registry()),
        );
    std::fs::write(dir.path().join("wharf.toml"), toml).unwrap();
    // The same service, on a port of its own, with a secret it reports it received.
    let web = std::fs::read_to_string(dir.path().join("ecs/web.json"))
        .unwrap()
        .replace(
            r#""command": ["sh", "-c", "echo \"web: serving /www on :8080 ($GREETING)\"; exec httpd -f -v -p 8080 -h /www"]"#,
            &format!(r#""command": ["sh", "-c", "echo greeting=$GREETING; test \"$API_KEY\" = local-secret-5d1e && echo secret resolved; exec httpd -f -v -p {port} -h /www"], "secrets": [{{"name": "API_KEY", "valueFrom": "{{{{ secret('API_KEY') }}}}"}}]"#),
        )
        .replace("\"containerPort\": 8080", &format!("\"containerPort\": {port}"))
        // The init-container pattern: `seed` writes into a task volume and exits 0; web starts
        // after it (dependsOn SUCCESS) and serves the file from the volume, mounted read-only.
        .replace(
            r#""containerDefinitions": ["#,
            r#""volumes": [{"name": "seeded"}], "containerDefinitions": ["#,
        )
        .replace(
            r#""essential": true,"#,
            &format!(r#""essential": true, "dependsOn": [{{"containerName": "seed", "condition": "SUCCESS"}}], "mountPoints": [{{"sourceVolume": "seeded", "containerPath": "/www/seeded", "readOnly": true}}],
      "healthCheck": {{"command": ["CMD", "wget", "-qO", "/dev/null", "http://localhost:{port}/"], "interval": 5, "timeout": 2, "retries": 3}},
      "linuxParameters": {{"capabilities": {{"add": ["SYS_PTRACE"]}}}}, "stopTimeout": 2,"#),
        );
    // A sidecar of the same image that reaches web on localhost, then stays up; and the seed.
    let end = web
        .rfind("\n  ]")
        .expect("the containerDefinitions list ends");
    let web = format!(
        r#"{},
    {{
      "name": "probe", "image": "{{{{ image('app') }}}}", "essential": false,
      "dependsOn": [{{"containerName": "web", "condition": "HEALTHY"}}],
      "command": ["sh", "-c", "trap 'echo probe got SIGTERM, shutting down; exit 0' TERM; for i in $(seq 60); do if wget -qO- http://localhost:{port}/ >/dev/null 2>&1; then echo probe reached web on localhost; break; fi; sleep 0.5; done; while true; do sleep 1; done"]
    }},
    {{
      "name": "seed", "image": "{{{{ image('app') }}}}", "essential": false,
      "command": ["sh", "-c", "echo seeded by an init container > /out/file.txt"],
      "mountPoints": [{{"sourceVolume": "seeded", "containerPath": "/out"}}]
    }}{}"#,
        &web[..end],
        &web[end..]
    );
    assert!(
        web.contains("secret resolved"),
        "the example's web.json changed shape"
    );
    std::fs::write(dir.path().join("ecs/web.json"), web).unwrap();

    let tag = format!("local-{engine}");
    let tag = tag.as_str();
    let image = format!("{}/hello/app:{tag}", support::registry());
    let built = Command::new(engine)
        .args(["build", "-q", "-t", &image, dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // Into the registry, and out of the engine: local run has to log in and pull it.
    // wharf in the project, against the test bed.
    let wharf = || {
        let mut cmd = support::wharf_command();
        cmd.current_dir(dir.path()).envs(support::aws_env());
        cmd
    };
    // `wharf local run web` with this tag and engine, then `more`.
    let local_run = |more: &[&str]| {
        let mut cmd = wharf();
        cmd.args(["local", "run", "web", "--env", "local", "--tag", tag])
            .args(["--engine", engine])
            .args(more);
        cmd
    };
    let pushed = wharf()
        .env("WHARF_ECR_LOGIN_CACHE", "0")
        .env("WHARF_ENGINE", engine)
        .args([
            "push",
            "--env",
            "local",
            "--tag",
            tag,
            "--create-repositories",
        ])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    // (docker refuses to drop a tag whose image a container uses, for example another run's
    // container of the same content under another tag, unless forced; forced, it only untags.
    // podman's force would remove such containers, so podman untags.)
    let untag: &[&str] = if engine == "docker" {
        &["rmi", "-f"]
    } else {
        &["untag"]
    };
    let removed = Command::new(engine)
        .args(untag)
        .arg(&image)
        .output()
        .unwrap();
    assert!(
        removed.status.success(),
        "{}",
        String::from_utf8_lossy(&removed.stderr)
    );
    support::aws(&[
        "ssm",
        "put-parameter",
        "--name",
        &format!("/{app}/local/API_KEY"),
        "--type",
        "SecureString",
        "--value",
        support::secret("local-secret-5d1e"),
    ]);

    let mut child = local_run(&["--set-env", "GREETING=hi from a laptop", "--timeout", "90s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // wharf's output is read as it comes, to wait for the sidecar's line before Ctrl-C.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let seen = seen.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let mut s = seen.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut body = String::new();
    while Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-sf", "-m", "2", &format!("http://127.0.0.1:{port}/")])
            .output()
            .unwrap();
        if out.status.success() {
            body = String::from_utf8_lossy(&out.stdout).to_string();
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let seeded = Command::new("curl")
        .args([
            "-sf",
            "-m",
            "2",
            &format!("http://127.0.0.1:{port}/seeded/file.txt"),
        ])
        .output()
        .unwrap();
    let index = std::fs::read_to_string(root.join("www/index.html")).unwrap();
    // Ctrl-C: wharf stops and removes the containers and the network.
    while Instant::now() < deadline && !seen.lock().unwrap().contains("probe reached web") {
        std::thread::sleep(Duration::from_millis(200));
    }
    // The task's size (cpu 256, memory 512 in web.json) holds the container, as on Fargate, and
    // its linuxParameters and health check timings apply.
    let limits = Command::new(engine)
        .args([
            "inspect",
            "-f",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.ShmSize}} {{.HostConfig.CapAdd}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Test}}",
            &format!("wharf-{app}-web-{}-web", child.id()),
        ])
        .output()
        .unwrap();
    unsafe_sigint(child.id());
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let stdout = seen.lock().unwrap().clone();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        body, index,
        "the web service answered on 127.0.0.1:{port}\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("greeting=hi from a laptop"), "{stdout}");
    assert!(stdout.contains("secret resolved"), "{stdout}");
    let limits = String::from_utf8_lossy(&limits.stdout).to_string()
        + &String::from_utf8_lossy(&limits.stderr);
    assert!(limits.starts_with("536870912 250000000 "), "{limits}");
    assert!(limits.contains("SYS_PTRACE"), "{limits}");
    // (docker prints the interval in nanoseconds, podman as a duration); 5 s is the shortest
    // interval ECS accepts. The shared memory is the engines' default (Fargate has no
    // sharedMemorySize).
    assert!(
        limits.contains(" 5000000000 ") || limits.contains(" 5s "),
        "{limits}"
    );
    assert!(
        limits.contains(&format!("wget -qO /dev/null http://localhost:{port}/")),
        "{limits}"
    );
    assert_eq!(
        String::from_utf8_lossy(&seeded.stdout),
        "seeded by an init container\n",
        "web serves what the init container wrote into the task volume\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("probe | probe reached web on localhost"),
        "{stdout}"
    );
    // Ctrl-C stops the containers as ECS does, dependents first, SIGTERM then SIGKILL after the
    // container's stopTimeout (web's 2 s; busybox httpd as PID 1 ignores SIGTERM), and their
    // shutdown output is still shown.
    assert!(
        stderr.contains("stopping probe, web (SIGTERM, then SIGKILL after up to 10s"),
        "{stderr}"
    );
    assert!(
        stdout.contains("probe | probe got SIGTERM, shutting down"),
        "{stdout}"
    );
    assert!(stderr.contains(&format!("pulling {image}")), "{stderr}");
    assert!(!stdout.contains("local-secret-5d1e") && !stderr.contains("local-secret-5d1e"));
    assert!(
        stderr.contains(&format!("started web (127.0.0.1:{port}->{port})")),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    // Nothing is left: no container (the holder included), network or volume of this run.
    let nothing_left = || {
        let filter = format!("name=wharf-{app}-web");
        for what in [&["ps", "-a"][..], &["network", "ls"], &["volume", "ls"]] {
            let left = Command::new(engine)
                .args(what)
                .args(["-q", "--filter", &filter])
                .output()
                .unwrap();
            assert!(
                String::from_utf8_lossy(&left.stdout).trim().is_empty(),
                "`{engine} {}` lists what the run left behind",
                what.join(" ")
            );
        }
    };
    nothing_left();

    // With --pull (the image is pulled although the engine has it), and the port taken on
    // 127.0.0.1 by something else: docker refuses to publish it (podman, as root, forwards with
    // firewall rules and does not reserve the port). wharf says which ports it publishes, fails,
    // and leaves nothing behind either.
    if engine == "docker" {
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let out = local_run(&["--timeout", "60s", "--pull"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("pulling {image}")),
            "--pull pulls what the engine has: {stderr}"
        );
        assert!(
            stderr.contains(&format!("published on 127.0.0.1:{port}/tcp")),
            "{stderr}"
        );
        nothing_left();
    }
}

fn unsafe_sigint(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}
