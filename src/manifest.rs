//! The project file, `wharf.toml`: its types, loading, and the checks that need no network.
//!
//! Every value the user can get wrong keeps its location (`toml::Spanned`) so that errors point at
//! the file, line and column. Templated values (strings containing `{{ }}`) are kept as written
//! and rendered later by [`crate::render`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};

/// The default file name, looked up in the current directory (or given with `--file`).
pub const FILE_NAME: &str = "wharf.toml";

/// A loaded, checked project file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Path of `wharf.toml` as given by the user.
    pub path: PathBuf,
    /// The folder holding `wharf.toml`; relative paths in the file are relative to it.
    pub root: PathBuf,
    /// The file's text, for error snippets.
    pub source: String,
    pub doc: ProjectFile,
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    pub app: Spanned<String>,
    #[serde(default)]
    pub images: BTreeMap<String, Image>,
    pub terraform: Option<Terraform>,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub jobs: BTreeMap<String, Job>,
    /// Values visible to every template as `vars.NAME`.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub context: Option<Spanned<String>>,
    pub dockerfile: Option<Spanned<String>>,
    /// ECR repository name (`engine/app`) or a full image URI.
    pub repository: Spanned<String>,
    pub target: Option<String>,
    #[serde(default)]
    pub args: BTreeMap<String, Spanned<String>>,
    pub platform: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terraform {
    pub dir: Spanned<String>,
    pub var_file: Option<Spanned<String>>,
    pub tag_var: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub region: Option<Spanned<String>>,
    pub profile: Option<String>,
    /// Guard: refuse to act when the caller's account differs.
    pub account: Option<Spanned<String>>,
    /// Cluster name or ARN (template).
    pub cluster: Option<Spanned<String>>,
    /// AWS endpoint override (the local test bed).
    pub endpoint_url: Option<Spanned<String>>,
    /// Image registry host; defaults to `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    pub registry: Option<Spanned<String>>,
    /// Ask (or require `--yes`) before changing anything.
    #[serde(default)]
    pub confirm: bool,
    /// Default network settings for services and jobs of this environment.
    pub network: Option<Network>,
    /// Values visible to templates as `vars.NAME` (override the project's).
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// Per-service overrides in this environment.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceOverride>,
    /// Per-job overrides in this environment.
    #[serde(default)]
    pub jobs: BTreeMap<String, ServiceOverride>,
}

/// Settings an environment may change for one service or job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceOverride {
    pub desired_count: Option<Spanned<u32>>,
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub subnets: Vec<Spanned<String>>,
    #[serde(default)]
    pub security_groups: Vec<Spanned<String>>,
    pub assign_public_ip: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Path of the task definition template, relative to the project folder.
    pub task_definition: Spanned<String>,
    /// ECS service name (template); defaults to the key in `[services.*]`.
    pub name: Option<Spanned<String>>,
    pub desired_count: Option<Spanned<u32>>,
    /// Overrides the task definition's task-level cpu / memory.
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    /// FARGATE or EC2 (ignored when capacity providers are given).
    pub launch_type: Option<Spanned<String>>,
    #[serde(default)]
    pub capacity_providers: Vec<CapacityProvider>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancer>,
    #[serde(default)]
    pub service_registries: Vec<ServiceRegistry>,
    pub deployment: Option<Deployment>,
    pub health_check_grace_period: Option<u32>,
    #[serde(default)]
    pub enable_execute_command: bool,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Services that must finish rolling out before this one starts.
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityProvider {
    pub provider: String,
    pub weight: Option<u32>,
    pub base: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Template (for example `{{ tf.web_target_group_arn }}`).
    pub target_group_arn: Spanned<String>,
    pub container_name: String,
    pub container_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRegistry {
    pub registry_arn: Spanned<String>,
    pub container_name: Option<String>,
    pub container_port: Option<u16>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub maximum_percent: Option<u32>,
    pub minimum_healthy_percent: Option<u32>,
    /// The ECS deployment circuit breaker; on unless turned off.
    pub circuit_breaker: Option<bool>,
    /// Roll back automatically when the circuit breaker trips; on unless turned off.
    pub rollback: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    pub task_definition: Spanned<String>,
    /// Command override for the essential container.
    pub command: Option<Vec<String>>,
    pub cpu: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    pub launch_type: Option<Spanned<String>>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

impl Manifest {
    /// Reads and checks `path`. Errors carry file, line, column and a caret snippet; exit code 2.
    pub fn load(path: &Path) -> Result<Manifest> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            Error::usage(format!("cannot read project file {}: {e}", path.display())).with_hint(
                "run wharf in the folder holding wharf.toml, pass --file, or create one with `wharf init`",
            )
        })?;
        Self::parse(path, source)
    }

    /// Parses `source` as the project file at `path` (which need not exist).
    pub fn parse(path: &Path, source: String) -> Result<Manifest> {
        let doc: ProjectFile = toml::from_str(&source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            Error::usage(crate::diag::snippet(
                path,
                &source,
                span,
                &format!("error: {}", e.message().trim()),
            ))
        })?;
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        Ok(Manifest {
            path: path.to_path_buf(),
            root,
            source,
            doc,
        })
    }

    pub fn app(&self) -> &str {
        self.doc.app.get_ref()
    }

    /// The environment `name`, or a usage error listing the ones that exist.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.doc.environments.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.doc.environments.keys().map(String::as_str).collect();
            Error::usage(format!(
                "no environment `{name}` in {} (environments: {})",
                self.path.display(),
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })
    }

    /// An error located at `span` of this file.
    pub fn error_at(&self, span: std::ops::Range<usize>, message: &str) -> Error {
        Error::usage(crate::diag::snippet(
            &self.path,
            &self.source,
            span,
            &format!("error: {message}"),
        ))
    }
}
