//! `wharf secrets` end to end against the local test bed, judged by the AWS CLI, and the leak
//! scan: every command these tests run has its stdout and stderr checked for the secret values
//! the tests set. Only `get --reveal`, whose job is to print a value, is exempt, and it prints a
//! value used nowhere else.

use crate::support;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use support::{aws, task_definition, Project, WHARF_TOML};

/// Values set by these tests. None may appear in any output.
const SECRETS: &[&str] = &[
    "s3cr3t-from-stdin-7c1f",
    "s3cr3t-on-the-flag-93ab",
    "s3cr3t-dotenv-one-55de",
    "s3cr3t dotenv two 0b2e",
    "s3cr3t-second-version-4411",
];

/// Runs wharf with `stdin`, returns (exit code, stdout, stderr), and scans both outputs.
fn wharf(
    p: &Project,
    args: &[&str],
    stdin: Option<&str>,
    scanned: &mut Vec<String>,
) -> (i32, String, String) {
    let mut cmd = support::wharf_command();
    cmd.current_dir(p.path())
        .envs(support::aws_env())
        .env_remove("WHARF_ENV")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("wharf runs");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    scanned.push(format!("$ wharf {}\n{stdout}{stderr}", args.join(" ")));
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn scan(outputs: &[String]) {
    for out in outputs {
        for s in SECRETS {
            assert!(
                !out.contains(s),
                "a secret value leaked into output:\n{out}"
            );
        }
    }
    assert!(outputs.len() >= 10, "the scan saw every command");
}

fn ssm_value(name: &str) -> String {
    let v = aws(&["ssm", "get-parameter", "--name", name, "--with-decryption"]);
    assert_eq!(v["Parameter"]["Type"], "SecureString");
    v["Parameter"]["Value"].as_str().unwrap().to_string()
}

#[test]
fn secrets_round_trip_and_never_leak() {
    for value in SECRETS {
        support::secret(value);
    }
    let toml = format!("{WHARF_TOML}\n[jobs.show]\ntask_definition = \"ecs/show.json\"\n");
    let td = task_definition(
        "show",
        r#"["sh", "-c", "test \"$DB_PASSWORD\" = \"$EXPECTED\" && echo secret matches"]"#,
        r#", "secrets": [{"name": "DB_PASSWORD", "valueFrom": "{{ secret('DB_PASSWORD') }}"}]"#,
    );
    let p = Project::new(&[("wharf.toml", &toml), ("ecs/show.json", &td)]);
    let prefix = format!("/{}/local", p.app);
    let mut seen = Vec::new();

    // A job referencing a secret that does not exist: the missing parameter is named, nothing runs.
    let (code, _, err) = wharf(
        &p,
        &["run", "show", "--env", "local", "--tag", "v1"],
        None,
        &mut seen,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{prefix}/DB_PASSWORD")), "{err}");

    // set from stdin (the trailing newline of `echo` is not part of the value).
    let (code, _, err) = wharf(
        &p,
        &["secrets", "set", "DB_PASSWORD", "--env", "local"],
        Some("s3cr3t-from-stdin-7c1f\n"),
        &mut seen,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("version 1"), "{err}");
    assert_eq!(
        ssm_value(&format!("{prefix}/DB_PASSWORD")),
        "s3cr3t-from-stdin-7c1f"
    );

    // set with --value warns about shell history.
    let (code, _, err) = wharf(
        &p,
        &[
            "secrets",
            "set",
            "API_TOKEN",
            "--env",
            "local",
            "--value",
            "s3cr3t-on-the-flag-93ab",
        ],
        None,
        &mut seen,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("shell history"), "{err}");
    seen.pop(); // the command line itself holds the value; its output is scanned below instead
    let (_, out, err) = wharf(
        &p,
        &[
            "secrets",
            "set",
            "API_TOKEN",
            "--env",
            "local",
            "--value",
            "s3cr3t-second-version-4411",
        ],
        None,
        &mut seen,
    );
    seen.pop();
    for s in SECRETS {
        assert!(!out.contains(s) && !err.contains(s));
    }
    assert!(err.contains("version 2"), "{err}");

    // Empty stdin and bad names are usage errors.
    let (code, _, err) = wharf(
        &p,
        &["secrets", "set", "EMPTY", "--env", "local"],
        Some(""),
        &mut seen,
    );
    assert_eq!(code, 2);
    assert!(err.contains("standard input was empty"), "{err}");
    let (code, _, err) = wharf(
        &p,
        &["secrets", "set", "bad name", "--env", "local"],
        Some("x"),
        &mut seen,
    );
    assert_eq!(code, 2);
    assert!(err.contains("is not valid"), "{err}");

    // import a dotenv file.
    std::fs::write(
        p.path().join("prod.env"),
        "# imported\nIMPORTED_ONE=s3cr3t-dotenv-one-55de\nexport IMPORTED_TWO=\"s3cr3t dotenv two 0b2e\"\n",
    )
    .unwrap();
    let (code, _, err) = wharf(
        &p,
        &["secrets", "import", "prod.env", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("imported 2 secrets"), "{err}");
    assert_eq!(
        ssm_value(&format!("{prefix}/IMPORTED_TWO")),
        "s3cr3t dotenv two 0b2e"
    );
    std::fs::write(p.path().join("bad.env"), "A=1\nno equals here\n").unwrap();
    let (code, _, err) = wharf(
        &p,
        &["secrets", "import", "bad.env", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 2);
    assert!(err.contains("bad.env:2: expected NAME=value"), "{err}");

    // list: names and versions, never values (text and JSON).
    let (code, out, _) = wharf(&p, &["secrets", "list", "--env", "local"], None, &mut seen);
    assert_eq!(code, 0);
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["API_TOKEN", "DB_PASSWORD", "IMPORTED_ONE", "IMPORTED_TWO"],
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("API_TOKEN") && l.split_whitespace().nth(1) == Some("2")),
        "{out}"
    );
    let (_, out, _) = wharf(
        &p,
        &["secrets", "list", "--env", "local", "-o", "json"],
        None,
        &mut seen,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["secrets"].as_array().unwrap().len(), 4);

    // get without --reveal shows the version only.
    let (code, out, err) = wharf(
        &p,
        &["secrets", "get", "DB_PASSWORD", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 0);
    assert!(out.contains("version 1"), "{out}");
    assert!(err.contains("--reveal"), "{err}");
    let (code, _, err) = wharf(
        &p,
        &["secrets", "get", "NOPE", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 2);
    assert!(err.contains("secret NOPE does not exist"), "{err}");

    // get --reveal prints the value alone: checked with a value kept out of the scanned set.
    let mut exempt = Vec::new();
    wharf(
        &p,
        &["secrets", "set", "REVEALED", "--env", "local"],
        Some("shown-on-purpose"),
        &mut seen,
    );
    let (code, out, _) = wharf(
        &p,
        &["secrets", "get", "REVEALED", "--env", "local", "--reveal"],
        None,
        &mut exempt,
    );
    assert_eq!((code, out.as_str()), (0, "shown-on-purpose\n"));

    // A job gets the secret injected by ECS from the parameter ARN in secrets[].valueFrom.
    let (code, out, err) = wharf(
        &p,
        &[
            "run",
            "show",
            "--env",
            "local",
            "--tag",
            "v1",
            "--timeout",
            "2m",
            "--set-env",
            "EXPECTED=s3cr3t-from-stdin-7c1f",
        ],
        None,
        &mut exempt, // the override puts the value on the command line on purpose
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("secret matches"), "{out}");
    let registered = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &format!("{}-show", p.app),
    ]);
    let value_from = registered["taskDefinition"]["containerDefinitions"][0]["secrets"][0]
        ["valueFrom"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        value_from.starts_with("arn:aws:ssm:us-east-1:123456789012:parameter/"),
        "{value_from}"
    );
    assert!(
        value_from.ends_with(&format!("{prefix}/DB_PASSWORD")),
        "{value_from}"
    );

    // delete.
    let (code, _, _) = wharf(
        &p,
        &["secrets", "delete", "IMPORTED_ONE", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 0);
    let (code, _, _) = wharf(
        &p,
        &["secrets", "delete", "IMPORTED_ONE", "--env", "local"],
        None,
        &mut seen,
    );
    assert_eq!(code, 2);
    // -v output, logs of the job, and status are scanned too.
    wharf(
        &p,
        &["logs", "show", "--env", "local", "-v"],
        None,
        &mut seen,
    );
    wharf(
        &p,
        &["render", "show", "--env", "local", "--tag", "v1"],
        None,
        &mut seen,
    );
    std::thread::sleep(Duration::from_millis(10));
    scan(&seen);
}

#[test]
fn validate_warns_about_plain_environment_entries_that_look_like_secrets() {
    let toml = format!("{WHARF_TOML}\n[services.web]\ntask_definition = \"ecs/web.json\"\n");
    let td = task_definition("web", r#"["true"]"#, "").replace(
        r#"{"name": "TAG", "value": "{{ tag }}"}"#,
        r#"{"name": "TAG", "value": "{{ tag }}"}, {"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "PORT", "value": "80"}"#,
    );
    let p = Project::new(&[("wharf.toml", &toml), ("ecs/web.json", &td)]);
    let out = p.wharf().args(["validate"]).assert().success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("container `main` sets DB_PASSWORD in plain `environment`"),
        "{stderr}"
    );
    assert!(stderr.contains("wharf secrets set DB_PASSWORD"), "{stderr}");
    // One warning, one name: SSM names are case-sensitive, so no second spelling is offered.
    assert_eq!(
        stderr.lines().filter(|l| l.contains("DB_PASSWORD")).count(),
        1,
        "{stderr}"
    );
    assert!(!stderr.contains("db_password"), "{stderr}");
    assert!(!stderr.contains("PORT in plain"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the warning names the variable, not its value"
    );
}
