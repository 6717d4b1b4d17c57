//! What the task-definition checks share: a located [`Problem`], the reading of cpu and memory
//! values, and the check of a secret reference. A leaf: the shape check (`taskdef.rs`) and the
//! rules (`rules.rs`) both use it, and it uses neither.

use std::fmt;

use serde_json::Value;

use crate::project::unresolved::is_unresolved;

/// One thing wrong with a task definition, at a JSON path such as
/// `containerDefinitions[0].portMappings[1].containerPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Empty for the document itself.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

pub(super) fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Why `value_from` is not an SSM parameter (ARN or name) or a Secrets Manager ARN, if it is not.
pub fn secret_reference_problem(value_from: &str) -> Option<String> {
    if is_unresolved(value_from) {
        return None;
    }
    if value_from.starts_with("arn:") {
        let parts: Vec<&str> = value_from.splitn(6, ':').collect();
        let well_formed = parts.len() == 6
            && parts[1].starts_with("aws")
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit());
        let ok = well_formed
            && match parts[2] {
                "ssm" => parts[5].starts_with("parameter/") && parts[5].len() > "parameter/".len(),
                "secretsmanager" => {
                    parts[5].starts_with("secret:") && parts[5].len() > "secret:".len()
                }
                _ => false,
            };
        return (!ok).then(|| {
            format!(
                "{value_from:?} is not an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME) \
                 or a Secrets Manager ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)"
            )
        });
    }
    let ok = !value_from.is_empty()
        && value_from
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    (!ok).then(|| {
        format!(
            "{value_from:?} is not an SSM parameter name or ARN, nor a Secrets Manager ARN; \
             use {{{{ secret('NAME') }}}} for a wharf secret"
        )
    })
}

/// Task CPU units from `256`, `"256"`, `"1 vCPU"`, `".25 vcpu"`.
pub fn parse_cpu(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            if let Some(v) = s.strip_suffix("vcpu") {
                let v: f64 = v.trim().parse().ok()?;
                Some((v * 1024.0).round() as u64)
            } else {
                s.parse().ok()
            }
        }
        _ => None,
    }
}

/// Task memory in MiB from `512`, `"512"`, `"2 GB"`, `"0.5gb"`.
pub fn parse_memory(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            if let Some(v) = s.strip_suffix("gb") {
                let v: f64 = v.trim().parse().ok()?;
                Some((v * 1024.0).round() as u64)
            } else if let Some(v) = s.strip_suffix("mb") {
                v.trim().parse().ok()
            } else {
                s.parse().ok()
            }
        }
        _ => None,
    }
}
