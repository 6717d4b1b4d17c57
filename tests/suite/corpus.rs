//! The corpus of bad inputs: every folder under tests/corpus holds a project (wharf.toml and its
//! task-definition templates) with its mistakes, and an `expected` file of line pairs: a fragment
//! of an error message, then the `file:line:column` it must point at (one pair per problem the
//! one run must report); a line `hint: …` is a hint that must be given. `wharf validate` must report them all with exit code 2, within a second,
//! and never panic. The folders under tests/corpus-valid are unusual but valid projects (CRLF,
//! BOM, comments everywhere, unicode) that must pass.

use crate::support;

use std::path::Path;

#[test]
fn every_bad_input_gives_a_located_error_and_exit_2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 90,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expected = std::fs::read_to_string(case.join("expected"))
            .unwrap_or_else(|e| panic!("{name}: cannot read `expected`: {e}"));
        // `hint: …` lines must appear anywhere; the other lines are message/location pairs.
        let hints: Vec<&str> = expected
            .lines()
            .filter(|l| l.starts_with("hint: "))
            .collect();
        let pairs: Vec<(&str, &str)> = expected
            .lines()
            .filter(|l| !l.starts_with("hint: "))
            .collect::<Vec<_>>()
            .chunks(2)
            .map(|p| (p[0], p.get(1).copied().unwrap_or_default()))
            .collect();
        let started = std::time::Instant::now();
        let output = support::wharf_assert()
            .current_dir(case)
            .env("NO_COLOR", "1")
            .env_remove("WHARF_ENV")
            .env_remove("WHARF_FILE")
            .env_remove("WHARF_CORPUS_UNSET_VAR")
            .arg("validate")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let mut problems = Vec::new();
        if output.status.code() != Some(2) {
            problems.push(format!("exit code {:?}, expected 2", output.status.code()));
        }
        if stderr.contains("panicked") {
            problems.push("wharf panicked".to_string());
        }
        let took = started.elapsed();
        if took > std::time::Duration::from_secs(1) {
            problems.push(format!("took {took:?}, more than a second"));
        }
        for hint in &hints {
            if !stderr.contains(hint) {
                problems.push(format!("no {hint:?}"));
            }
        }
        for (fragment, location) in &pairs {
            // The location must follow its own message (the next `-->` after the fragment).
            let located = stderr.match_indices(fragment).any(|(i, _)| {
                stderr[i..]
                    .find("--> ")
                    .is_some_and(|j| stderr[i + j + 4..].starts_with(location))
            });
            if !stderr.contains(fragment) {
                problems.push(format!("message lacks {fragment:?}"));
            } else if !located {
                problems.push(format!("{fragment:?} is not located at {location}"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{stderr}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn unusual_but_valid_projects_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus-valid");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 4,
        "tests/corpus-valid has {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let output = support::wharf_assert()
            .current_dir(case)
            .env("NO_COLOR", "1")
            .env_remove("WHARF_ENV")
            .env_remove("WHARF_FILE")
            .arg("validate")
            .output()
            .unwrap();
        if !output.status.success() {
            failures.push(format!(
                "{}: exit {:?}\n{}",
                case.display(),
                output.status.code(),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A 5 MB template on one line with a mistake in the middle: the error shows a window around
/// the column, not the whole line twice.
#[test]
fn a_huge_one_line_template_gets_a_short_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/td-enum");
    std::fs::copy(root.join("wharf.toml"), dir.path().join("wharf.toml")).unwrap();
    std::fs::create_dir(dir.path().join("ecs")).unwrap();
    let padding: Vec<String> = (0..150_000)
        .map(|i| format!("{{\"name\": \"V{i}\", \"value\": \"x\"}}"))
        .collect();
    let td = format!(
        r#"{{"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"], "cpu": "256", "memory": "513", "executionRoleArn": "arn:aws:iam::123456789012:role/x", "containerDefinitions": [{{"name": "web", "image": "busybox", "environment": [{}], "logConfiguration": {{"logDriver": "awslogs", "options": {{"awslogs-group": "/g", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}}}}}]}}"#,
        padding.join(", ")
    );
    assert!(td.len() > 4_000_000 && !td.contains('\n'));
    std::fs::write(dir.path().join("ecs/web.json"), &td).unwrap();
    let started = std::time::Instant::now();
    let output = support::wharf_assert()
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .arg("validate")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.len() < 2_000,
        "{} bytes of error output",
        stderr.len()
    );
    let column = td.find("\"513\"").unwrap() + 1;
    assert!(
        stderr.contains(&format!("--> ecs/web.json:1:{column}")),
        "{stderr}"
    );
    assert!(
        stderr.contains("Fargate does not accept memory 513"),
        "{stderr}"
    );
    // A debug build on a loaded 2-core machine takes a few seconds for 5 MB; the bound catches
    // a quadratic scan, not a slow machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
