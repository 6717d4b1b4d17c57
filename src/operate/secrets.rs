//! Secrets in SSM Parameter Store: SecureString parameters under `/<app>/<env>/`, the dotenv
//! files `wharf secrets import` reads, and the check for plain environment entries that look
//! like secrets.
//!
//! Values pass through this module and go to SSM; nothing here prints or logs one. The only way a
//! value reaches output is `wharf secrets get --reveal`, which prints it alone on stdout.

use std::path::Path;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};
use aws_sdk_ssm::Client;
use serde_json::Value;

use crate::error::{Error, Result};

/// The parameter path of secret `name` in `env` of `app`.
pub fn path(app: &str, env: &str, name: &str) -> String {
    format!("/{app}/{env}/{}", name.trim_start_matches('/'))
}

/// Checks a secret's name: letters, digits, `_`, `-`, `.` and `/` (for nested names), as SSM
/// allows in parameter names.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 900
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !name.starts_with('/')
        && !name.ends_with('/')
        && !name.contains("//");
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "secret name {name:?} is not valid: use letters, digits, _ - . and / between parts (for example DATABASE_URL or db/password)"
        )))
    }
}

/// One entry of a dotenv file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvEntry {
    pub name: String,
    pub value: String,
    pub line: usize,
}

/// Parses a dotenv file: `NAME=value` lines, `export NAME=value`, `#` comments, blank lines,
/// values in single quotes (taken as written) or double quotes (with `\n`, `\"`, `\\` escapes),
/// and unquoted values (trailing ` # comment` removed, spaces trimmed). Errors name the line.
pub fn parse_dotenv(file: &Path, text: &str) -> Result<Vec<DotenvEntry>> {
    let mut out: Vec<DotenvEntry> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let at = |what: &str| Error::usage(format!("{}:{line_no}: {what}", file.display()));
        let Some((name, rest)) = line.split_once('=') else {
            return Err(at("expected NAME=value")
                .with_hint("dotenv lines look like DATABASE_URL=postgres://..."));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(at(&format!("{name:?} is not a valid name")));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('\'') {
            let Some(end) = body.find('\'') else {
                return Err(at("unterminated single quote"));
            };
            body[..end].to_string()
        } else if let Some(body) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = body.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => v.push('\n'),
                        Some('t') => v.push('\t'),
                        Some(other) => v.push(other),
                        None => break,
                    },
                    c => v.push(c),
                }
            }
            if !closed {
                return Err(at("unterminated double quote"));
            }
            v
        } else {
            let v = match rest.find(" #") {
                Some(i) => &rest[..i],
                None => rest,
            };
            v.trim().to_string()
        };
        if let Some(prev) = out.iter().find(|e| e.name == name) {
            return Err(at(&format!(
                "{name} is set twice (first on line {})",
                prev.line
            )));
        }
        out.push(DotenvEntry {
            name: name.to_string(),
            value,
            line: line_no,
        });
    }
    Ok(out)
}

/// Words in an environment variable's name that suggest its value is a secret.
const SECRET_WORDS: &[&str] = &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "CREDENTIAL"];

/// Plain `environment` entries of a task definition whose names look like secrets:
/// (container, variable name). Names like `KEY_PREFIX`-free public values are still listed; the
/// caller only warns.
pub fn suspicious_environment(task_definition: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for c in task_definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let container = c["name"].as_str().unwrap_or("?");
        for e in c["environment"].as_array().into_iter().flatten() {
            let Some(name) = e["name"].as_str() else {
                continue;
            };
            let upper = name.to_ascii_uppercase();
            let words: Vec<&str> = upper.split(|c: char| !c.is_ascii_alphanumeric()).collect();
            let hit = words.iter().any(|w| {
                SECRET_WORDS.contains(w)
                    || w.ends_with("PASSWORD")
                    || w.ends_with("SECRET")
                    || w.ends_with("TOKEN")
            });
            if hit {
                out.push((container.to_string(), name.to_string()));
            }
        }
    }
    out
}

/// A secret as `list` shows it: never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub path: String,
    pub version: i64,
    /// Epoch seconds.
    pub last_modified: Option<f64>,
    pub kind: String,
}

/// The secrets store of one environment.
pub struct Store {
    pub client: Client,
    pub prefix: String,
}

impl Store {
    pub fn new(client: Client, app: &str, env: &str) -> Store {
        Store {
            client,
            prefix: format!("/{app}/{env}/"),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Writes `value` as a SecureString (a new version when it exists). Returns the version.
    pub async fn set(&self, name: &str, value: &str, kms_key: Option<&str>) -> Result<i64> {
        check_name(name)?;
        if value.is_empty() {
            return Err(Error::usage(format!(
                "the value for {name} is empty; SSM does not store empty parameters"
            )));
        }
        let out = self
            .client
            .put_parameter()
            .name(self.path(name))
            .value(value)
            .r#type(ParameterType::SecureString)
            .overwrite(true)
            .set_key_id(kms_key.map(str::to_string))
            .send()
            .await
            .map_err(|e| crate::aws::error("ssm:PutParameter", e))?;
        Ok(out.version)
    }

    /// The decrypted value of `name`, and its version.
    pub async fn get(&self, name: &str) -> Result<(String, i64)> {
        check_name(name)?;
        let out = self
            .client
            .get_parameter()
            .name(self.path(name))
            .with_decryption(true)
            .send()
            .await;
        match out {
            Ok(o) => {
                let p = o
                    .parameter
                    .unwrap_or_else(|| aws_sdk_ssm::types::Parameter::builder().build());
                Ok((p.value.unwrap_or_default(), p.version))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Err(self.missing(name))
            }
            Err(e) => Err(crate::aws::error("ssm:GetParameter", e)),
        }
    }

    fn missing(&self, name: &str) -> Error {
        Error::usage(format!(
            "secret {name} does not exist ({} has no such parameter)",
            self.path(name)
        ))
        .with_hint("list the secrets with `wharf secrets list --env ENV`")
    }

    /// The secrets of the environment, by name, without values.
    pub async fn list(&self) -> Result<Vec<Listed>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let filter = ParameterStringFilter::builder()
                .key("Path")
                .option("Recursive")
                .values(self.prefix.trim_end_matches('/'))
                .build()
                .map_err(|e| Error::aws(format!("ssm:DescribeParameters: {e}")))?;
            let page = self
                .client
                .describe_parameters()
                .parameter_filters(filter)
                .max_results(50)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| crate::aws::error("ssm:DescribeParameters", e))?;
            for p in page.parameters.unwrap_or_default() {
                let path = p.name.unwrap_or_default();
                let Some(name) = path.strip_prefix(&self.prefix) else {
                    continue;
                };
                out.push(Listed {
                    name: name.to_string(),
                    path: path.clone(),
                    version: p.version,
                    last_modified: p.last_modified_date.map(|d| d.as_secs_f64()),
                    kind: p.r#type.map(|t| t.as_str().to_string()).unwrap_or_default(),
                });
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        check_name(name)?;
        match self
            .client
            .delete_parameter()
            .name(self.path(name))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Err(self.missing(name))
            }
            Err(e) => Err(crate::aws::error("ssm:DeleteParameter", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(check_name("DATABASE_URL").is_ok());
        assert!(check_name("db/password").is_ok());
        for bad in ["", "/abs", "a//b", "has space", "trail/", "semi;colon"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
        }
        assert_eq!(path("shop", "prod", "DB"), "/shop/prod/DB");
    }

    #[test]
    fn dotenv_files() {
        let text = "# comment\n\nA=plain value # trailing\nexport B='single # kept'\nC=\"line\\nbreak \\\"q\\\"\"\nD=\n";
        let e = parse_dotenv(Path::new(".env"), text).unwrap();
        let pairs: Vec<(&str, &str)> = e
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("A", "plain value"),
                ("B", "single # kept"),
                ("C", "line\nbreak \"q\""),
                ("D", "")
            ]
        );
        assert_eq!(e[2].line, 5);
    }

    #[test]
    fn dotenv_errors_name_the_line() {
        let e = parse_dotenv(Path::new("prod.env"), "A=1\nnot a pair\n").unwrap_err();
        assert_eq!(e.message, "prod.env:2: expected NAME=value");
        let e = parse_dotenv(Path::new("x.env"), "A=1\nA=2\n").unwrap_err();
        assert_eq!(e.message, "x.env:2: A is set twice (first on line 1)");
        let e = parse_dotenv(Path::new("x.env"), "A=\"open\n").unwrap_err();
        assert_eq!(e.message, "x.env:1: unterminated double quote");
    }

    #[test]
    fn secret_looking_environment() {
        let td = json!({"containerDefinitions": [{"name": "web", "environment": [
            {"name": "DB_PASSWORD", "value": "x"}, {"name": "API_TOKEN", "value": "x"},
            {"name": "STRIPE_SECRET_KEY", "value": "x"}, {"name": "PORT", "value": "80"},
            {"name": "MONKEY", "value": "x"}, {"name": "KEYCLOAK_URL", "value": "x"}
        ]}]});
        let names: Vec<String> = suspicious_environment(&td)
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(names, ["DB_PASSWORD", "API_TOKEN", "STRIPE_SECRET_KEY"]);
    }
}
