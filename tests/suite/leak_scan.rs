//! The suite's leak scan. Every wharf command the tests run goes through
//! `tests/suite/support/transcribe`, which keeps a copy of its stdout and stderr in the transcripts
//! folder, and every secret value a test sets (SSM SecureStrings, dotenv imports, the registry's
//! password) is listed there too (`support::secret`). After the whole suite, `scripts/test` runs
//! the scan, which fails if any output holds any of those values. Only `secrets get --reveal`,
//! whose job is to print a value, prints one, and that value is not listed.

use crate::support;

use std::path::Path;

/// (secret's file name, value) and (command, output file, text) → the leaks found, named by the
/// secret's file and the command, never by the value.
fn scan(dir: &Path) -> (usize, usize, Vec<String>) {
    let mut secrets = Vec::new();
    for entry in std::fs::read_dir(dir.join("secrets")).expect("the secrets list") {
        let entry = entry.unwrap();
        let value = std::fs::read_to_string(entry.path()).unwrap();
        if !value.is_empty() {
            secrets.push((entry.file_name().to_string_lossy().to_string(), value));
        }
    }
    let mut outputs = 0;
    let mut leaks = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the transcripts") {
        let path = entry.unwrap().path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
            continue;
        };
        if ext != "out" && ext != "err" {
            continue;
        }
        outputs += 1;
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).to_string();
        for (name, value) in &secrets {
            if text.contains(value.as_str()) {
                let command =
                    std::fs::read_to_string(path.with_extension("cmd")).unwrap_or_default();
                leaks.push(format!(
                    "secret {name} appears in {} of `wharf {}`",
                    path.display(),
                    command.trim()
                ));
            }
        }
    }
    (secrets.len(), outputs, leaks)
}

#[test]
#[ignore = "scans the output of the whole suite; scripts/test runs it after every other test"]
fn no_secret_a_test_set_appears_in_any_wharf_output() {
    let dir = support::transcripts()
        .expect("WHARF_TEST_TRANSCRIPTS names the folder the suite wrote (scripts/test sets it)");
    let (secrets, outputs, leaks) = scan(&dir);
    assert!(
        leaks.is_empty(),
        "secret values leaked into wharf's output:\n{}",
        leaks.join("\n")
    );
    // The scan saw the suite: its secrets (the registry password, the secrets and local run
    // tests' values, the SecureString of init --from-service) and the output (stdout and stderr)
    // of its commands, about 225 when this was written.
    assert!(
        secrets >= 8,
        "only {secrets} secrets listed in {}",
        dir.display()
    );
    assert!(
        outputs >= 300,
        "only {outputs} outputs in {}",
        dir.display()
    );
    eprintln!(
        "leak scan: {secrets} secret values, {outputs} outputs ({} commands), no leak",
        outputs / 2
    );
}

#[test]
fn the_scan_finds_a_planted_leak_and_names_no_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/a1"), "pl4nted-v4lue").unwrap();
    std::fs::write(dir.path().join("1-1.cmd"), "deploy --env local\n").unwrap();
    std::fs::write(dir.path().join("1-1.out"), "all good\n").unwrap();
    std::fs::write(dir.path().join("1-1.err"), "oops: pl4nted-v4lue\n").unwrap();
    let (secrets, outputs, leaks) = scan(dir.path());
    assert_eq!((secrets, outputs), (1, 2));
    assert_eq!(leaks.len(), 1, "{leaks:?}");
    assert!(leaks[0].contains("secret a1 appears in"), "{}", leaks[0]);
    assert!(
        leaks[0].contains("`wharf deploy --env local`"),
        "{}",
        leaks[0]
    );
    assert!(!leaks[0].contains("pl4nted"));
}
