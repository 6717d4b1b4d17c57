//! Editor and shell support: `wharf schema` checked by an independent validator
//! (`check-jsonschema` from PyPI, in the test bed's venv, reading the TOML itself) against every
//! example and the imported fixtures, and rejecting a misspelled key; `wharf man` pages rendered
//! by man(1) the way a user installs them.

use std::path::Path;
use std::process::Command;

use crate::support;

fn check_jsonschema() -> std::path::PathBuf {
    let bin = support::venv_bin("check-jsonschema");
    assert!(
        bin.exists(),
        "{} is missing: run `scripts/testbed install` (testbed/requirements.txt pins it)",
        bin.display()
    );
    bin
}

fn schema_file(dir: &Path) -> std::path::PathBuf {
    let out = support::wharf_command().arg("schema").output().unwrap();
    assert!(out.status.success());
    let path = dir.join("wharf.schema.json");
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

#[test]
fn every_example_validates_against_the_schema_and_a_misspelled_key_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema_file(dir.path());
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path().join("wharf.toml"))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let out = Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(&schema)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let hello = std::fs::read_to_string(examples.join("hello/wharf.toml")).unwrap();
    assert!(hello.contains("\ntask_definition = "));
    let bad = dir.path().join("wharf.toml");
    std::fs::write(
        &bad,
        hello.replacen("\ntask_definition = ", "\ntask_defintion = ", 1),
    )
    .unwrap();
    let out = Command::new(check_jsonschema())
        .arg("--schemafile")
        .arg(&schema)
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Additional properties are not allowed ('task_defintion' was unexpected)"),
        "{text}"
    );
    // wharf's own loader agrees.
    let out = support::wharf_command()
        .arg("--file")
        .arg(&bad)
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown key `task_defintion`"));
}

#[test]
fn man_pages_install_into_a_folder_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man1");
    let out = support::wharf_command()
        .args(["man", "--dir"])
        .arg(&man1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "wharf.1",
        "wharf-deploy.1",
        "wharf-init.1",
        "wharf-secrets-set.1",
    ] {
        assert!(man1.join(page).is_file(), "{page}");
    }
    // `man wharf-deploy` with the folder's parent on the manual path, as the README installs it.
    let out = Command::new("man")
        .arg("wharf-deploy")
        .env("MANPATH", dir.path())
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("wharf-deploy"), "{text}");
    assert!(text.contains("--dry-run"), "{text}");
    assert!(text.contains("Render, register what changed"), "{text}");
    // Without --dir, wharf.1 goes to standard output.
    let out = support::wharf_command().arg("man").output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(".ie \\n(.g .ds Aq \\(aq"));
}

/// The crate builds from what it packages: `cargo package --list` holds the sources, the
/// manifest and lock file, the README and the docs, nothing of the tests, test bed or examples.
#[test]
fn the_package_holds_only_the_crate() {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{listed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<&str> = listed.lines().collect();
    assert!(
        files.iter().filter(|f| f.starts_with("src/")).count() > 50,
        "{listed}"
    );
    for f in &files {
        let expected = f.starts_with("src/")
            || (f.starts_with("docs/") && f.ends_with(".md") && f.matches('/').count() == 1)
            || [
                "Cargo.toml",
                "Cargo.toml.orig",
                "Cargo.lock",
                "README.md",
                ".cargo_vcs_info.json",
            ]
            .contains(f);
        assert!(expected, "{f} is in the package:\n{listed}");
    }
    for needed in [
        "src/main.rs",
        "src/lib.rs",
        "src/project/taskdef/shape.json",
    ] {
        assert!(files.contains(&needed), "{needed} is missing:\n{listed}");
    }
}
