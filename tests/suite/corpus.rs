//! The corpus of bad inputs: every folder under tests/corpus holds a project (wharf.toml and its
//! task-definition templates) with one mistake, and an `expected` file: the first line is a
//! fragment of the error message, the second the `file:line:column` it must point at.
//! `wharf validate` must report it with exit code 2, and never panic.

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
        cases.len() >= 30,
        "the corpus has only {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let expected = std::fs::read_to_string(case.join("expected"))
            .unwrap_or_else(|e| panic!("{name}: cannot read `expected`: {e}"));
        let mut lines = expected.lines();
        let fragment = lines.next().unwrap_or_default();
        let location = lines.next().unwrap_or_default();
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
        if !stderr.contains(fragment) {
            problems.push(format!("message lacks {fragment:?}"));
        }
        if !stderr.contains(&format!("--> {location}")) {
            problems.push(format!("location is not {location}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {}\n{stderr}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
