//! The project file, `wharf.toml`: its types, loading, and the checks that need no network.
//!
//! Every value the user can get wrong keeps its location (`toml::Spanned`) so that errors point at
//! the file, line and column. Templated values (strings containing `{{ }}`) are kept as written
//! and rendered later by [`crate::project::render`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::settings::{AwsTarget, Settings};
use crate::text::did_you_mean;

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
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    #[schemars(with = "String")]
    pub app: Spanned<String>,
    #[serde(default)]
    pub images: BTreeMap<String, Image>,
    /// `[build]`: how images are built and pushed (docs/images.md).
    pub build: Option<Build>,
    pub terraform: Option<Terraform>,
    #[serde(default)]
    pub environments: BTreeMap<String, Environment>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub jobs: BTreeMap<String, Job>,
    /// Values visible to every template as `vars.NAME`.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
    /// `wharf ci`: which branch or tag does what (see docs/ci.md).
    pub ci: Option<Ci>,
}

/// `[ci]`: rules that map a branch or tag to an environment and an action.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ci {
    /// Image tag in CI (template over `commit`, `short_commit`, `branch`, `git_tag`);
    /// default `{{ short_commit }}`, so a tag pushed later finds the image its commit built.
    #[schemars(with = "Option<String>")]
    pub image_tag: Option<Spanned<String>>,
    #[serde(default)]
    pub rules: Vec<CiRule>,
}

/// One `[[ci.rules]]` entry: the first rule whose pattern matches decides.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CiRule {
    /// Branch pattern (`*` and `?` wildcards).
    #[schemars(with = "Option<String>")]
    pub branch: Option<Spanned<String>>,
    /// Git tag pattern (`*` and `?` wildcards).
    #[schemars(with = "Option<String>")]
    pub tag: Option<Spanned<String>>,
    /// Environment the action acts on (not needed for `build`).
    #[schemars(with = "Option<String>")]
    pub env: Option<Spanned<String>>,
    /// build | deploy | all | promote | apply
    #[schemars(with = "String")]
    pub action: Spanned<String>,
    /// For `promote`: the environment whose image is promoted.
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
    /// Whether pull (merge) request builds match this rule too (false by default: a pull
    /// request never deploys unless a rule says so).
    #[schemars(with = "Option<bool>")]
    pub pull_requests: Option<Spanned<bool>>,
}

/// A smoke test run after a deploy by `wharf ci` and `wharf all`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Smoke {
    /// URL template (for example `http://{{ tf.lb_dns_name }}/health`).
    #[schemars(with = "String")]
    pub url: Spanned<String>,
    /// blue_green, linear, canary: a URL template that reaches the test listener (for example
    /// `http://{{ tf.lb_dns_name }}:8080/health`). `wharf deploy` tests it while ECS holds the
    /// deployment after test traffic moved to the new revision and before production traffic
    /// does; a failure rolls back with no production traffic moved.
    #[schemars(with = "Option<String>")]
    pub test_url: Option<Spanned<String>>,
    /// Expected HTTP status; default 200.
    pub status: Option<u16>,
    /// Text the body must contain.
    pub body: Option<String>,
    /// How long to keep trying (e.g. "30s", "2m"); default 60s.
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    #[schemars(with = "Option<String>")]
    pub context: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub dockerfile: Option<Spanned<String>>,
    /// ECR repository name (`engine/app`) or a full image URI.
    #[schemars(with = "String")]
    pub repository: Spanned<String>,
    pub target: Option<String>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub args: BTreeMap<String, Spanned<String>>,
    pub platform: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Create the ECR repository with immutable tags (`wharf push --create-repositories`).
    #[serde(default)]
    pub immutable_tags: bool,
}

/// `[build]`: settings for `wharf build` and `wharf push`.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// A compose build file whose images use `${APP_TAG}` (the seed layout). When unset and the
    /// project has no `[images]`, `build/docker-compose.build.yml` is used if it exists.
    #[schemars(with = "Option<String>")]
    pub compose_file: Option<Spanned<String>>,
    /// `docker` or `podman`; by default docker when a Docker engine answers, else podman.
    #[schemars(with = "Option<String>")]
    pub engine: Option<Spanned<String>>,
    /// How many images build or push at once (default 4).
    #[schemars(with = "Option<usize>")]
    pub parallel: Option<Spanned<usize>>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Terraform {
    #[schemars(with = "String")]
    pub dir: Spanned<String>,
    #[schemars(with = "Option<String>")]
    pub var_file: Option<Spanned<String>>,
    pub tag_var: Option<String>,
    /// Where outputs are read from when no `terraform` binary is on PATH: `s3://bucket/key`
    /// (the S3 backend's bucket and key) or a local state file; default the local backend's file.
    #[schemars(with = "Option<String>")]
    pub state: Option<Spanned<String>>,
    /// The S3 backend's `workspace_key_prefix` (default `env:`).
    pub workspace_key_prefix: Option<String>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    #[schemars(with = "Option<String>")]
    pub region: Option<Spanned<String>>,
    pub profile: Option<String>,
    /// Guard: refuse to act when the caller's account differs.
    #[schemars(with = "Option<String>")]
    pub account: Option<Spanned<String>>,
    /// Cluster name or ARN (template).
    #[schemars(with = "Option<String>")]
    pub cluster: Option<Spanned<String>>,
    /// AWS endpoint override (the local test bed).
    #[schemars(with = "Option<String>")]
    pub endpoint_url: Option<Spanned<String>>,
    /// Image registry host; defaults to `ACCOUNT.dkr.ecr.REGION.amazonaws.com`.
    #[schemars(with = "Option<String>")]
    pub registry: Option<Spanned<String>>,
    /// Ask (or require `--yes`) before changing anything.
    #[serde(default)]
    pub confirm: bool,
    /// Default network settings for services and jobs of this environment.
    pub network: Option<Network>,
    /// Values visible to templates as `vars.NAME` (override the project's).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
    /// Per-service overrides in this environment.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceOverride>,
    /// Per-job overrides in this environment.
    #[serde(default)]
    pub jobs: BTreeMap<String, ServiceOverride>,
}

impl Environment {
    /// Where this environment's AWS calls go under `settings` (flags win).
    pub fn aws(&self, settings: &Settings) -> AwsTarget {
        settings.aws(
            self.profile.as_deref(),
            self.region.as_ref().map(|r| r.get_ref().as_str()),
            self.endpoint_url.as_ref().map(|e| e.get_ref().as_str()),
        )
    }

    /// The account the environment's `account` guard names, if any.
    pub fn account_guard(&self) -> Option<&str> {
        self.account.as_ref().map(|a| a.get_ref().as_str())
    }
}

/// Settings an environment may change for one service or job.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceOverride {
    #[schemars(with = "Option<u32>")]
    pub desired_count: Option<Spanned<u32>>,
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub cpu: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub memory: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub subnets: Vec<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub security_groups: Vec<Spanned<String>>,
    pub assign_public_ip: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Path of the task definition template, relative to the project folder.
    #[schemars(with = "String")]
    pub task_definition: Spanned<String>,
    /// ECS service name (template); defaults to the key in `[services.*]`.
    #[schemars(with = "Option<String>")]
    pub name: Option<Spanned<String>>,
    #[schemars(with = "Option<u32>")]
    pub desired_count: Option<Spanned<u32>>,
    /// Overrides the task definition's task-level cpu / memory.
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub cpu: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub memory: Option<Spanned<String>>,
    /// FARGATE or EC2 (ignored when capacity providers are given).
    #[schemars(with = "Option<String>")]
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
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
    /// Smoke test after a deploy (`wharf ci`, `wharf all`).
    pub smoke: Option<Smoke>,
    /// Config files synced to S3 on deploy (docs/operate.md).
    pub config: Option<ConfigFiles>,
    /// `false`: the task-definition file is used as written, not rendered as a template.
    #[schemars(with = "Option<bool>")]
    pub templating: Option<Spanned<bool>>,
    /// Other delimiters for the task-definition template (when the file holds `{{`, `{%` or
    /// `{#` meant literally, as Docker log tags and shell `${#VAR}` do).
    #[schemars(with = "Option<TemplateDelimiters>")]
    pub template_delimiters: Option<Spanned<TemplateDelimiters>>,
}

/// `template_delimiters = { variables = ["[[", "]]"], blocks = ["[%", "%]"], comments = ["[#", "#]"] }`:
/// each pair replaces `{{ }}`, `{% %}` or `{# #}`; a pair left out keeps its default.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateDelimiters {
    pub variables: Option<[String; 2]>,
    pub blocks: Option<[String; 2]>,
    pub comments: Option<[String; 2]>,
}

impl TemplateDelimiters {
    /// The minijinja syntax these delimiters make, or why they cannot make one.
    pub fn syntax(&self) -> std::result::Result<minijinja::syntax::SyntaxConfig, String> {
        let mut b = minijinja::syntax::SyntaxConfig::builder();
        for (what, pair) in [
            ("variables", &self.variables),
            ("blocks", &self.blocks),
            ("comments", &self.comments),
        ] {
            let Some([start, end]) = pair else { continue };
            if start.trim().is_empty() || end.trim().is_empty() {
                return Err(format!(
                    "template_delimiters.{what}: a delimiter cannot be empty"
                ));
            }
            match what {
                "variables" => b.variable_delimiters(start.clone(), end.clone()),
                "blocks" => b.block_delimiters(start.clone(), end.clone()),
                _ => b.comment_delimiters(start.clone(), end.clone()),
            };
        }
        b.build().map_err(|e| {
            format!(
                "template_delimiters: {}",
                e.detail().unwrap_or("invalid delimiters")
            )
        })
    }
}

/// `[services.NAME.config]`: a folder of config files that deploy keeps in S3 under
/// `s3://BUCKET/<app>/<env>/<service>/`, with their hash as `WHARF_CONFIG_HASH` in every
/// container, so a change of files alone rolls the service.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFiles {
    /// The folder, relative to the project folder.
    #[schemars(with = "String")]
    pub dir: Spanned<String>,
    /// Bucket name (template, for example `{{ tf.config_bucket }}`).
    #[schemars(with = "String")]
    pub bucket: Spanned<String>,
    /// Key prefix (template); default `<app>/<env>/<service>`.
    #[schemars(with = "Option<String>")]
    pub prefix: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapacityProvider {
    pub provider: String,
    pub weight: Option<u32>,
    pub base: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancer {
    /// Template (for example `{{ tf.web_target_group_arn }}`).
    #[schemars(with = "String")]
    pub target_group_arn: Spanned<String>,
    pub container_name: String,
    pub container_port: u16,
    /// blue_green, linear, canary: the second target group, that the new revision's tasks
    /// register with while the old one's serve (template). ECS's `alternateTargetGroupArn`.
    #[schemars(with = "Option<String>")]
    pub alternate_target_group_arn: Option<Spanned<String>>,
    /// The listener rule whose weights ECS moves for production traffic (template).
    #[schemars(with = "Option<String>")]
    pub production_listener_rule: Option<Spanned<String>>,
    /// The listener rule for test traffic, which reaches the new revision first (template).
    #[schemars(with = "Option<String>")]
    pub test_listener_rule: Option<Spanned<String>>,
    /// The role ECS assumes to change the listener rules (template; the ECS infrastructure role
    /// for load balancers).
    #[schemars(with = "Option<String>")]
    pub role_arn: Option<Spanned<String>>,
}

impl LoadBalancer {
    /// Whether any of the blue/green settings (`advancedConfiguration`) is given.
    pub fn has_advanced(&self) -> bool {
        self.alternate_target_group_arn.is_some()
            || self.production_listener_rule.is_some()
            || self.test_listener_rule.is_some()
            || self.role_arn.is_some()
    }
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceRegistry {
    #[schemars(with = "String")]
    pub registry_arn: Spanned<String>,
    pub container_name: Option<String>,
    pub container_port: Option<u16>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub maximum_percent: Option<u32>,
    pub minimum_healthy_percent: Option<u32>,
    /// The ECS deployment circuit breaker; on unless turned off.
    pub circuit_breaker: Option<bool>,
    /// Roll back automatically when the circuit breaker trips; on unless turned off.
    pub rollback: Option<bool>,
    /// How ECS replaces the old revision: rolling (the default), blue_green, linear or canary.
    #[schemars(with = "Option<Strategy>")]
    pub strategy: Option<Spanned<Strategy>>,
    /// Minutes both revisions keep running after production traffic moved, before the old one
    /// is stopped (0–1440; ECS's `bakeTimeInMinutes`). Required by blue_green.
    #[schemars(with = "Option<u32>")]
    pub bake_time: Option<Spanned<i64>>,
    /// `strategy = "linear"`: the steps production traffic moves in.
    pub linear: Option<Linear>,
    /// `strategy = "canary"`: the share production traffic moves first, and how long it stays.
    pub canary: Option<Canary>,
    /// Lambda functions ECS calls at lifecycle stages; an answer of FAILED rolls back.
    #[serde(default)]
    #[schemars(with = "Vec<Hook>")]
    pub hooks: Vec<Spanned<Hook>>,
}

impl Deployment {
    /// The strategy, rolling when none is given.
    pub fn strategy(&self) -> Strategy {
        self.strategy
            .as_ref()
            .map_or(Strategy::Rolling, |s| *s.get_ref())
    }
}

/// `deployment.strategy`: ECS's `deploymentConfiguration.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Linear,
    Canary,
}

impl Strategy {
    /// The name ECS uses.
    pub fn ecs_name(self) -> &'static str {
        match self {
            Strategy::Rolling => "ROLLING",
            Strategy::BlueGreen => "BLUE_GREEN",
            Strategy::Linear => "LINEAR",
            Strategy::Canary => "CANARY",
        }
    }

    /// The name in wharf.toml.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Rolling => "rolling",
            Strategy::BlueGreen => "blue_green",
            Strategy::Linear => "linear",
            Strategy::Canary => "canary",
        }
    }

    /// Whether ECS moves traffic between two target groups (everything but rolling).
    pub fn shifts_traffic(self) -> bool {
        self != Strategy::Rolling
    }
}

/// `[services.NAME.deployment.linear]`: ECS's `linearConfiguration`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Linear {
    /// Percent of production traffic each step moves (3.0–100.0, in steps of 0.1; ECS's default 10).
    #[schemars(with = "Option<f64>")]
    pub step_percent: Option<Spanned<f64>>,
    /// Minutes between steps (0–1440; ECS's default 6).
    #[schemars(with = "Option<u32>")]
    pub step_bake_time: Option<Spanned<i64>>,
}

/// `[services.NAME.deployment.canary]`: ECS's `canaryConfiguration`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// Percent of production traffic the canary gets (0.1–100.0, in steps of 0.1; ECS's default 5).
    #[schemars(with = "Option<f64>")]
    pub percent: Option<Spanned<f64>>,
    /// Minutes the canary serves before the rest moves (0–1440; ECS's default 10).
    #[schemars(with = "Option<u32>")]
    pub bake_time: Option<Spanned<i64>>,
}

/// `[[services.NAME.deployment.hooks]]`: a Lambda function ECS invokes at lifecycle stages
/// (ECS's `lifecycleHooks[]`).
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The function's ARN (template, for example `{{ tf.check_green_arn }}`).
    #[schemars(with = "String")]
    pub lambda: Spanned<String>,
    /// The role ECS assumes to invoke it (template).
    #[schemars(with = "String")]
    pub role_arn: Spanned<String>,
    /// The lifecycle stages it runs at (see [`HOOK_STAGES`]).
    #[schemars(with = "Vec<String>")]
    pub stages: Spanned<Vec<Spanned<String>>>,
}

/// The lifecycle stages a hook may run at, in the order a deployment passes them (the ECS API
/// reference, DeploymentLifecycleHook). SCALE_UP, BAKE_TIME and CLEAN_UP are stages too, but
/// take no hook.
pub const HOOK_STAGES: &[&str] = &[
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];

/// Stages without a hook: named so that a hook there gets a precise error.
const HOOKLESS_STAGES: &[&str] = &["SCALE_UP", "BAKE_TIME", "CLEAN_UP"];

/// ECS's bounds for every bake time, in minutes.
const BAKE_MINUTES: std::ops::RangeInclusive<i64> = 0..=1440;

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    #[schemars(with = "String")]
    pub task_definition: Spanned<String>,
    /// Command override for the essential container.
    pub command: Option<Vec<String>>,
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub cpu: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "string_or_number")]
    #[schemars(with = "Option<SizeValue>")]
    pub memory: Option<Spanned<String>>,
    #[schemars(with = "Option<String>")]
    pub launch_type: Option<Spanned<String>>,
    pub platform_version: Option<String>,
    pub network: Option<Network>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub vars: BTreeMap<String, toml::Value>,
    /// `false`: the task-definition file is used as written, not rendered as a template.
    #[schemars(with = "Option<bool>")]
    pub templating: Option<Spanned<bool>>,
    /// Other delimiters for the task-definition template (see the service's).
    #[schemars(with = "Option<TemplateDelimiters>")]
    pub template_delimiters: Option<Spanned<TemplateDelimiters>>,
}

/// The ways a task can be launched (`launch_type`).
pub const LAUNCH_TYPES: &[&str] = &["FARGATE", "EC2", "EXTERNAL"];

/// A service or a job: the things that have a task definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Service,
    Job,
}

impl UnitKind {
    pub fn noun(self) -> &'static str {
        match self {
            UnitKind::Service => "service",
            UnitKind::Job => "job",
        }
    }
}

/// Settings of one service or job in one environment, after the environment's overrides.
#[derive(Debug, Clone)]
pub struct Effective<'a> {
    pub kind: UnitKind,
    pub name: &'a str,
    pub task_definition: &'a Spanned<String>,
    /// Environment override, else the service's own value.
    pub desired_count: Option<u32>,
    pub cpu: Option<&'a Spanned<String>>,
    pub memory: Option<&'a Spanned<String>>,
    pub launch_type: Option<&'a str>,
    /// The service's or job's own network, else the environment's.
    pub network: Option<&'a Network>,
    /// `vars` as templates see them: project < environment < service/job < environment override.
    pub vars: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    /// Reads and checks `path`, including that the task-definition files it names exist.
    /// Errors carry file, line, column and a caret snippet; exit code 2.
    pub fn load(path: &Path) -> Result<Manifest> {
        let source = crate::project::snippet::read_text(path, "project file").map_err(|e| {
            let error = Error::usage(e);
            if path.exists() {
                error
            } else {
                error.with_hint(
                    "run wharf in the folder holding wharf.toml, pass --file, or create one with `wharf init`",
                )
            }
        })?;
        let manifest = Self::parse(path, source)?;
        manifest.check_files()?;
        Ok(manifest)
    }

    /// Parses `source` as the project file at `path` (which need not exist) and runs every check
    /// that does not read other files.
    pub fn parse(path: &Path, source: String) -> Result<Manifest> {
        use crate::project::tolerant;
        let located = |found: &tolerant::Found| {
            let (message, hint) = explain_toml_error(&found.message);
            let error = Error::usage(crate::project::snippet::snippet(
                path,
                &source,
                found.span.clone(),
                &format!("error: {message}"),
            ));
            match hint {
                Some(h) => error.with_hint(h),
                None => error,
            }
        };
        // Every problem of the file in one run: syntax errors first (each line blanked and the
        // parse resumed), then unknown keys and wrong types (each entry blanked), then the
        // checks of meaning on what is left.
        let (syntax, clean, text) = tolerant::syntax_errors(&source);
        let mut errors: Vec<Error> = syntax.iter().map(located).collect();
        if !errors.is_empty() && !clean {
            return Err(join_errors(errors)
                .err()
                .unwrap_or_else(|| Error::usage("invalid project file")));
        }
        let (wrong, doc) = tolerant::deserialize::<ProjectFile>(&text);
        errors.extend(wrong.iter().map(located));
        let root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        if let Some(doc) = doc {
            let manifest = Manifest {
                path: path.to_path_buf(),
                root,
                source: source.clone(),
                doc,
            };
            match manifest.check() {
                Ok(()) if errors.is_empty() => return Ok(manifest),
                Ok(()) => {}
                Err(e) => errors.push(e),
            }
        }
        Err(join_errors(errors)
            .err()
            .unwrap_or_else(|| Error::usage("invalid project file")))
    }

    pub fn app(&self) -> &str {
        self.doc.app.get_ref()
    }

    /// The environment `name`, or a usage error listing the ones that exist.
    pub fn environment(&self, name: &str) -> Result<&Environment> {
        self.doc.environments.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.doc.environments.keys().map(String::as_str).collect();
            let error = Error::usage(format!(
                "no environment `{name}` in {} (environments: {})",
                self.path.display(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
            match did_you_mean(name, known.iter().copied()) {
                Some(s) => error.with_hint(format!("did you mean `{s}`?")),
                // `-e NAME=VALUE` is docker's way to set a variable; in wharf `-e` is `--env`.
                None if name.contains('=') => error.with_hint(format!(
                    "`-e`/`--env` names the environment; to set a variable in the containers, use `--set-env {name}`"
                )),
                None => error,
            }
        })
    }

    /// An error located at `span` of this file.
    pub fn error_at(&self, span: std::ops::Range<usize>, message: &str) -> Error {
        Error::usage(crate::project::snippet::snippet(
            &self.path,
            &self.source,
            span,
            &format!("error: {message}"),
        ))
    }

    /// Path of a file named in the project file (relative to the project folder).
    pub fn resolve_path(&self, relative: &str) -> PathBuf {
        let p = Path::new(relative);
        if p.is_absolute() || self.root == Path::new(".") {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Whether `name` is a service (or else a job) of this project.
    pub fn unit_kind(&self, name: &str) -> Option<UnitKind> {
        if self.doc.services.contains_key(name) {
            Some(UnitKind::Service)
        } else if self.doc.jobs.contains_key(name) {
            Some(UnitKind::Job)
        } else {
            None
        }
    }

    /// A usage error for a service or job name that does not exist, with a suggestion.
    pub fn unknown_unit(&self, name: &str) -> Error {
        let names = self
            .doc
            .services
            .keys()
            .chain(self.doc.jobs.keys())
            .map(String::as_str);
        let known: Vec<&str> = names.collect();
        let error = Error::usage(format!(
            "no service or job `{name}` in {} (known: {})",
            self.path.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
        match did_you_mean(name, known.iter().copied()) {
            Some(s) => error.with_hint(format!("did you mean `{s}`?")),
            None => error,
        }
    }

    /// The settings of service or job `name` in environment `env`, after overrides.
    pub fn effective(&self, env: &str, kind: UnitKind, name: &str) -> Result<Effective<'_>> {
        let environment = self.environment(env)?;
        let mut vars = to_json_map(&self.doc.vars);
        vars.extend(to_json_map(&environment.vars));
        let effective = match kind {
            UnitKind::Service => {
                let (name, service) = self
                    .doc
                    .services
                    .get_key_value(name)
                    .ok_or_else(|| self.unknown_unit(name))?;
                let over = environment.services.get(name.as_str());
                vars.extend(to_json_map(&service.vars));
                if let Some(o) = over {
                    vars.extend(to_json_map(&o.vars));
                }
                Effective {
                    kind,
                    name,
                    task_definition: &service.task_definition,
                    desired_count: over
                        .and_then(|o| o.desired_count.as_ref())
                        .or(service.desired_count.as_ref())
                        .map(|c| *c.get_ref()),
                    cpu: over.and_then(|o| o.cpu.as_ref()).or(service.cpu.as_ref()),
                    memory: over
                        .and_then(|o| o.memory.as_ref())
                        .or(service.memory.as_ref()),
                    launch_type: service.launch_type.as_ref().map(|l| l.get_ref().as_str()),
                    network: service.network.as_ref().or(environment.network.as_ref()),
                    vars,
                }
            }
            UnitKind::Job => {
                let (name, job) = self
                    .doc
                    .jobs
                    .get_key_value(name)
                    .ok_or_else(|| self.unknown_unit(name))?;
                let over = environment.jobs.get(name.as_str());
                vars.extend(to_json_map(&job.vars));
                if let Some(o) = over {
                    vars.extend(to_json_map(&o.vars));
                }
                Effective {
                    kind,
                    name,
                    task_definition: &job.task_definition,
                    desired_count: None,
                    cpu: over.and_then(|o| o.cpu.as_ref()).or(job.cpu.as_ref()),
                    memory: over.and_then(|o| o.memory.as_ref()).or(job.memory.as_ref()),
                    launch_type: job.launch_type.as_ref().map(|l| l.get_ref().as_str()),
                    network: job.network.as_ref().or(environment.network.as_ref()),
                    vars,
                }
            }
        };
        Ok(effective)
    }

    /// Services in an order where each comes after the services it `depends_on` (ties by name).
    /// The project file was checked for cycles when loaded.
    pub fn service_order(&self) -> Vec<&str> {
        let mut done: Vec<&str> = Vec::new();
        let mut pending: Vec<&str> = self.doc.services.keys().map(String::as_str).collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|name| {
                let ready = self.doc.services[*name].depends_on.iter().all(|d| {
                    done.contains(&d.get_ref().as_str())
                        || !self.doc.services.contains_key(d.get_ref())
                });
                if ready {
                    done.push(name);
                }
                !ready
            });
            if pending.len() == before {
                // A cycle (rejected by `check`); keep going rather than loop forever.
                done.append(&mut pending);
            }
        }
        done
    }

    /// Checks that need nothing but the file itself. All problems are reported at once.
    fn check(&self) -> Result<()> {
        let mut errors: Vec<Error> = Vec::new();
        let doc = &self.doc;
        let app = doc.app.get_ref();
        if app.is_empty() {
            errors.push(self.error_at(
                doc.app.span(),
                "`app` is empty; it names the app in SSM paths, tags and locks",
            ));
        } else if let Some(problem) = name_problem(app, 64) {
            errors.push(
                self.error_at(doc.app.span(), &format!("`app` = \"{app}\" cannot be used in names: {problem}"))
                    .with_hint("use letters, digits, `-` and `_`, starting with a letter or digit (for example \"my-app\")"),
            );
        }
        for (kind, names) in [
            ("environment", doc.environments.keys().collect::<Vec<_>>()),
            ("service", doc.services.keys().collect()),
            ("job", doc.jobs.keys().collect()),
            ("image", doc.images.keys().collect()),
        ] {
            let table = format!("{kind}s");
            for name in names {
                if let Some(problem) = name_problem(name, 255) {
                    let span = self.key_span(&[&table, name]).unwrap_or(0..0);
                    errors.push(self.error_at(
                        span,
                        &format!("{kind} name `{name}` is not usable: {problem}"),
                    ));
                }
            }
        }
        for name in doc.services.keys() {
            if doc.jobs.contains_key(name) {
                let span = self.key_span(&["jobs", name]).unwrap_or(0..0);
                errors.push(self.error_at(
                    span,
                    &format!("`{name}` is both a service and a job; commands take either by name, so names must differ"),
                ));
            }
        }
        for (env_name, env) in &doc.environments {
            if let Some(account) = &env.account {
                let a = account.get_ref();
                if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(self.error_at(
                        account.span(),
                        &format!("`account` = \"{a}\" is not an AWS account id (12 digits)"),
                    ));
                }
            }
            if let Some(region) = &env.region {
                let r = region.get_ref();
                let ok = !r.is_empty()
                    && r.split('-').count() >= 3
                    && r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    errors.push(self.error_at(
                        region.span(),
                        &format!(
                            "`region` = \"{r}\" is not an AWS region (for example \"us-east-1\")"
                        ),
                    ));
                }
            }
            if let Some(url) = &env.endpoint_url {
                let u = url.get_ref();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    errors.push(self.error_at(
                        url.span(),
                        &format!("`endpoint_url` = \"{u}\" must start with http:// or https://"),
                    ));
                }
            }
            for (table, kind, known) in [
                ("services", UnitKind::Service, &env.services),
                ("jobs", UnitKind::Job, &env.jobs),
            ] {
                for over_name in known.keys() {
                    let exists = match kind {
                        UnitKind::Service => doc.services.contains_key(over_name),
                        UnitKind::Job => doc.jobs.contains_key(over_name),
                    };
                    if exists {
                        continue;
                    }
                    let span = self
                        .key_span(&["environments", env_name, table, over_name])
                        .unwrap_or(0..0);
                    let candidates: Vec<&str> = match kind {
                        UnitKind::Service => doc.services.keys().map(String::as_str).collect(),
                        UnitKind::Job => doc.jobs.keys().map(String::as_str).collect(),
                    };
                    let mut message = format!(
                        "environment `{env_name}` overrides {} `{over_name}`, which is not defined in [{table}]",
                        kind.noun()
                    );
                    if let Some(s) = did_you_mean(over_name, candidates.iter().copied()) {
                        message.push_str(&format!("; did you mean `{s}`?"));
                    }
                    errors.push(self.error_at(span, &message));
                }
            }
        }
        let launch_types = doc
            .services
            .values()
            .filter_map(|s| s.launch_type.as_ref())
            .chain(doc.jobs.values().filter_map(|j| j.launch_type.as_ref()));
        for lt in launch_types {
            if !LAUNCH_TYPES.contains(&lt.get_ref().as_str()) {
                let mut message = format!(
                    "`launch_type` = \"{}\" is not one of FARGATE, EC2, EXTERNAL",
                    lt.get_ref()
                );
                if let Some(s) = did_you_mean(
                    &lt.get_ref().to_ascii_uppercase(),
                    LAUNCH_TYPES.iter().copied(),
                ) {
                    message.push_str(&format!("; did you mean \"{s}\"?"));
                }
                errors.push(self.error_at(lt.span(), &message));
            }
        }
        for (name, service) in &doc.services {
            for dep in &service.depends_on {
                let d = dep.get_ref();
                if d == name {
                    errors.push(
                        self.error_at(dep.span(), &format!("service `{name}` depends on itself")),
                    );
                } else if !doc.services.contains_key(d) {
                    let mut message =
                        format!("service `{name}` depends on `{d}`, which is not a service");
                    if let Some(s) = did_you_mean(d, doc.services.keys().map(String::as_str)) {
                        message.push_str(&format!("; did you mean `{s}`?"));
                    }
                    errors.push(self.error_at(dep.span(), &message));
                }
            }
            self.check_strategy(name, service, &mut errors);
            if let Some(d) = &service.deployment {
                if let Some(min) = d.minimum_healthy_percent.filter(|m| *m > 100) {
                    let span = self
                        .key_span(&["services", name, "deployment", "minimum_healthy_percent"])
                        .unwrap_or(0..0);
                    errors.push(self.error_at(
                        span,
                        &format!("service `{name}`: deployment.minimum_healthy_percent ({min}) is above 100"),
                    ));
                }
                if let (Some(max), Some(min)) = (d.maximum_percent, d.minimum_healthy_percent) {
                    if max < min {
                        let span = self
                            .key_span(&["services", name, "deployment", "maximum_percent"])
                            .or_else(|| self.key_span(&["services", name, "deployment"]))
                            .or_else(|| self.key_span(&["services", name]))
                            .unwrap_or(0..0);
                        errors.push(self.error_at(
                            span,
                            &format!("service `{name}`: deployment.maximum_percent ({max}) is below minimum_healthy_percent ({min})"),
                        ));
                    }
                }
            }
        }
        let units = doc
            .services
            .iter()
            .map(|(n, s)| (n, &s.templating, &s.template_delimiters))
            .chain(
                doc.jobs
                    .iter()
                    .map(|(n, j)| (n, &j.templating, &j.template_delimiters)),
            );
        for (name, templating, delimiters) in units {
            let Some(d) = delimiters else { continue };
            if templating.as_ref().is_some_and(|t| !*t.get_ref()) {
                errors.push(self.error_at(
                    d.span(),
                    &format!("`{name}` sets templating = false and template_delimiters; a file that is not rendered has no delimiters"),
                ));
            } else if let Err(why) = d.get_ref().syntax() {
                errors.push(self.error_at(d.span(), &why));
            }
        }
        if let Some(cycle) = self.dependency_cycle() {
            let first = &doc.services[&cycle[0]];
            let span = first
                .depends_on
                .iter()
                .find(|d| d.get_ref() == &cycle[1])
                .map(|d| d.span())
                .unwrap_or(0..0);
            errors.push(self.error_at(
                span,
                &format!(
                    "services depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
        join_errors(errors)
    }

    /// `smoke.test_url` needs test traffic: a strategy that moves traffic, and a load balancer
    /// with a test listener rule.
    fn check_test_smoke(&self, name: &str, service: &Service, errors: &mut Vec<Error>) {
        let Some(url) = service.smoke.as_ref().and_then(|s| s.test_url.as_ref()) else {
            return;
        };
        let strategy = service
            .deployment
            .as_ref()
            .map_or(Strategy::Rolling, Deployment::strategy);
        if !strategy.shifts_traffic() {
            errors.push(
                self.error_at(url.span(), &format!(
                    "service `{name}`: smoke.test_url is tested on test traffic, which only blue_green, linear and canary deployments have (the strategy is {})",
                    strategy.name()
                ))
                .with_hint("set deployment.strategy, or use smoke.url (tested after the deploy)"),
            );
        } else if !service
            .load_balancers
            .iter()
            .any(|lb| lb.test_listener_rule.is_some())
        {
            errors.push(
                self.error_at(url.span(), &format!(
                    "service `{name}`: smoke.test_url needs a load balancer with test_listener_rule: ECS sends test traffic to the new revision through it"
                ))
                .with_hint("add test_listener_rule to the service's load balancer"),
            );
        }
    }

    /// The strategy settings of one service: ranges as ECS documents them, tables that belong
    /// to another strategy, what blue_green, linear and canary need from a load balancer, and
    /// hook stages.
    fn check_strategy(&self, name: &str, service: &Service, errors: &mut Vec<Error>) {
        self.check_test_smoke(name, service, errors);
        let deployment = service.deployment.as_ref();
        let strategy = deployment.map_or(Strategy::Rolling, Deployment::strategy);
        let key = |k: &str| {
            self.key_span(&["services", name, "deployment", k])
                .or_else(|| self.key_span(&["services", name, "deployment"]))
                .or_else(|| self.key_span(&["services", name]))
                .unwrap_or(0..0)
        };
        let strategy_span = || key("strategy");
        let mut minutes = |what: &str, value: &Option<Spanned<i64>>| {
            if let Some(v) = value {
                if !BAKE_MINUTES.contains(v.get_ref()) {
                    errors.push(self.error_at(
                        v.span(),
                        &format!("service `{name}`: deployment.{what} = {} is out of range: ECS takes 0 to 1440 minutes", v.get_ref()),
                    ));
                }
            }
        };
        if let Some(d) = deployment {
            minutes("bake_time", &d.bake_time);
            if let Some(l) = &d.linear {
                minutes("linear.step_bake_time", &l.step_bake_time);
            }
            if let Some(c) = &d.canary {
                minutes("canary.bake_time", &c.bake_time);
            }
        }
        let Some(d) = deployment else {
            self.check_rolling_load_balancers(name, service, errors);
            return;
        };
        let percent = |what: &str, v: &Spanned<f64>, low: f64| -> Option<Error> {
            let p = *v.get_ref();
            let tenths = (p * 10.0).round();
            if !(low..=100.0).contains(&p) || (p * 10.0 - tenths).abs() > 1e-6 {
                Some(self.error_at(
                    v.span(),
                    &format!("service `{name}`: deployment.{what} = {p} is not a percentage ECS takes: {low:.1} to 100.0, in steps of 0.1"),
                ))
            } else {
                None
            }
        };
        if let Some(l) = &d.linear {
            if strategy != Strategy::Linear {
                errors.push(self.error_at(key("linear"), &format!(
                    "service `{name}`: deployment.linear is set but the strategy is {}; it applies to strategy = \"linear\" only", strategy.name()
                )));
            }
            if let Some(p) = &l.step_percent {
                errors.extend(percent("linear.step_percent", p, 3.0));
            }
        }
        if let Some(c) = &d.canary {
            if strategy != Strategy::Canary {
                errors.push(self.error_at(key("canary"), &format!(
                    "service `{name}`: deployment.canary is set but the strategy is {}; it applies to strategy = \"canary\" only", strategy.name()
                )));
            }
            if let Some(p) = &c.percent {
                errors.extend(percent("canary.percent", p, 0.1));
            }
        }
        if !strategy.shifts_traffic() {
            if let Some(b) = &d.bake_time {
                errors.push(self.error_at(b.span(), &format!(
                    "service `{name}`: deployment.bake_time applies to blue_green, linear and canary, not to {} deployments", strategy.name()
                )));
            }
            if let Some(h) = d.hooks.first() {
                errors.push(self.error_at(h.span(), &format!(
                    "service `{name}`: deployment.hooks run at the stages of blue_green, linear and canary deployments, not {} ones", strategy.name()
                )).with_hint("set deployment.strategy, or remove the hooks"));
            }
            self.check_rolling_load_balancers(name, service, errors);
            return;
        }
        if strategy == Strategy::BlueGreen && d.bake_time.is_none() {
            errors.push(self.error_at(strategy_span(), &format!(
                "service `{name}`: strategy = \"blue_green\" needs deployment.bake_time (minutes both revisions run after production traffic moved; ECS requires it)"
            )).with_hint("for example bake_time = 5"));
        }
        // ECS moves traffic between the target groups of a load balancer with an
        // advancedConfiguration: it needs the second target group, the production rule and the role.
        let shifting: Vec<&LoadBalancer> = service
            .load_balancers
            .iter()
            .filter(|lb| lb.has_advanced())
            .collect();
        if shifting.is_empty() {
            let mut e = self.error_at(strategy_span(), &format!(
                "service `{name}`: strategy = \"{}\" moves traffic between two target groups, but no load balancer has alternate_target_group_arn and production_listener_rule",
                strategy.name()
            ));
            e = e.with_hint(if service.load_balancers.is_empty() {
                format!("add a [[services.{name}.load_balancers]] with target_group_arn, alternate_target_group_arn, production_listener_rule and role_arn")
            } else {
                "give the load balancer alternate_target_group_arn, production_listener_rule and role_arn".to_string()
            });
            errors.push(e);
        }
        for lb in shifting {
            let missing: Vec<&str> = [
                (
                    "alternate_target_group_arn",
                    lb.alternate_target_group_arn.is_none(),
                ),
                (
                    "production_listener_rule",
                    lb.production_listener_rule.is_none(),
                ),
                ("role_arn", lb.role_arn.is_none()),
            ]
            .into_iter()
            .filter_map(|(k, absent)| absent.then_some(k))
            .collect();
            if !missing.is_empty() {
                errors.push(self.error_at(lb.target_group_arn.span(), &format!(
                    "service `{name}`: the load balancer of target group {} lacks {} (ECS's advancedConfiguration needs the second target group, the production listener rule and the role)",
                    lb.target_group_arn.get_ref(), missing.join(" and ")
                )));
            }
            if let Some(alt) = &lb.alternate_target_group_arn {
                if alt.get_ref() == lb.target_group_arn.get_ref() {
                    errors.push(self.error_at(alt.span(), &format!(
                        "service `{name}`: alternate_target_group_arn is the same as target_group_arn; the new revision needs a target group of its own"
                    )));
                }
            }
            if let (Some(test), Some(prod)) = (&lb.test_listener_rule, &lb.production_listener_rule)
            {
                if test.get_ref() == prod.get_ref() {
                    errors.push(self.error_at(test.span(), &format!(
                        "service `{name}`: test_listener_rule is the same rule as production_listener_rule; test traffic needs a rule of its own"
                    )));
                }
            }
        }
        for hook in &d.hooks {
            let stages = hook.get_ref().stages.get_ref();
            if stages.is_empty() {
                errors.push(self.error_at(
                    hook.get_ref().stages.span(),
                    &format!(
                        "service `{name}`: a hook needs at least one stage, one of {}",
                        HOOK_STAGES.join(", ")
                    ),
                ));
            }
            let mut seen: Vec<&str> = Vec::new();
            for stage in stages {
                let st = stage.get_ref().as_str();
                if seen.contains(&st) {
                    errors.push(self.error_at(
                        stage.span(),
                        &format!("service `{name}`: hook stage {st} is listed twice"),
                    ));
                    continue;
                }
                seen.push(st);
                if HOOK_STAGES.contains(&st) {
                    continue;
                }
                let message = if HOOKLESS_STAGES.contains(&st) {
                    format!("service `{name}`: {st} is a stage of the deployment that takes no hook; hooks run at {}", HOOK_STAGES.join(", "))
                } else {
                    let mut m = format!(
                        "service `{name}`: `{st}` is not a lifecycle stage; hooks run at {}",
                        HOOK_STAGES.join(", ")
                    );
                    if let Some(s) =
                        did_you_mean(&st.to_ascii_uppercase(), HOOK_STAGES.iter().copied())
                    {
                        m.push_str(&format!("; did you mean {s}?"));
                    }
                    m
                };
                errors.push(self.error_at(stage.span(), &message));
            }
        }
    }

    /// A rolling deployment uses one target group per load balancer: the blue/green settings
    /// of a load balancer would do nothing, so they are refused.
    fn check_rolling_load_balancers(&self, name: &str, service: &Service, errors: &mut Vec<Error>) {
        for lb in service.load_balancers.iter().filter(|lb| lb.has_advanced()) {
            let span = [
                &lb.alternate_target_group_arn,
                &lb.production_listener_rule,
                &lb.test_listener_rule,
                &lb.role_arn,
            ]
            .into_iter()
            .flatten()
            .map(|v| v.span())
            .next()
            .unwrap_or_else(|| lb.target_group_arn.span());
            errors.push(self.error_at(span, &format!(
                "service `{name}`: the load balancer has blue/green settings (alternate target group, listener rules, role) but the deployment strategy is rolling"
            )).with_hint(format!("set [services.{name}.deployment] strategy = \"blue_green\", \"linear\" or \"canary\"")));
        }
    }

    /// A `depends_on` cycle as a list of names whose last equals its first, if there is one.
    fn dependency_cycle(&self) -> Option<Vec<String>> {
        fn visit<'a>(
            m: &'a ProjectFile,
            name: &'a str,
            stack: &mut Vec<&'a str>,
            done: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            if let Some(i) = stack.iter().position(|s| *s == name) {
                let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            if done.contains(&name) {
                return None;
            }
            stack.push(name);
            if let Some(service) = m.services.get(name) {
                for dep in &service.depends_on {
                    if dep.get_ref() != name {
                        if let Some(c) = visit(m, dep.get_ref(), stack, done) {
                            return Some(c);
                        }
                    }
                }
            }
            stack.pop();
            done.push(name);
            None
        }
        let mut done = Vec::new();
        for name in self.doc.services.keys() {
            if let Some(c) = visit(&self.doc, name, &mut Vec::new(), &mut done) {
                return Some(c);
            }
        }
        None
    }

    /// Checks that the task-definition files named in the project exist.
    pub fn check_files(&self) -> Result<()> {
        let mut errors = Vec::new();
        let paths = self
            .doc
            .services
            .values()
            .map(|s| &s.task_definition)
            .chain(self.doc.jobs.values().map(|j| &j.task_definition));
        for td in paths {
            let path = self.resolve_path(td.get_ref());
            if !path.is_file() {
                // Names what is there instead: a folder, a link loop, a dangling link, nothing.
                let why = crate::project::snippet::read_text(&path, "task definition file")
                    .err()
                    .unwrap_or_else(|| {
                        format!(
                            "task definition file {} is not a regular file",
                            path.display()
                        )
                    });
                errors.push(self.error_at(td.span(), &why));
            }
        }
        for config in self.doc.services.values().filter_map(|s| s.config.as_ref()) {
            let dir = self.resolve_path(config.dir.get_ref());
            if !dir.is_dir() {
                errors.push(self.error_at(
                    config.dir.span(),
                    &format!("config folder {} does not exist", dir.display()),
                ));
            }
        }
        if let Some(tf) = &self.doc.terraform {
            let dir = self.resolve_path(tf.dir.get_ref());
            if !dir.is_dir() {
                errors.push(self.error_at(
                    tf.dir.span(),
                    &format!("Terraform folder {} does not exist", dir.display()),
                ));
            }
        }
        join_errors(errors)
    }

    /// The span of the key at `path` (table names then the key), found by re-reading the file.
    /// Used only to locate errors, so it is not kept in memory.
    pub fn key_span(&self, path: &[&str]) -> Option<std::ops::Range<usize>> {
        let keys: KeyTree = toml::from_str(&self.source).ok()?;
        keys.find(path)
    }
}

/// Every key of the file with its span, nested (values other than tables are ignored).
#[derive(Debug, Default)]
struct KeyTree(Vec<(Spanned<String>, KeyTree)>);

impl<'de> Deserialize<'de> for KeyTree {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = KeyTree;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("anything")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<KeyTree, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value: KeyTree = map.next_value()?;
                    out.push((key, value));
                }
                Ok(KeyTree(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<KeyTree, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(KeyTree::default())
            }
            fn visit_bool<E>(self, _: bool) -> std::result::Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
            fn visit_i64<E>(self, _: i64) -> std::result::Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
            fn visit_u64<E>(self, _: u64) -> std::result::Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
            fn visit_f64<E>(self, _: f64) -> std::result::Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
            fn visit_str<E>(self, _: &str) -> std::result::Result<KeyTree, E> {
                Ok(KeyTree::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl KeyTree {
    fn find(&self, path: &[&str]) -> Option<std::ops::Range<usize>> {
        let (first, rest) = path.split_first()?;
        let (key, sub) = self.0.iter().find(|(k, _)| k.get_ref() == first)?;
        if rest.is_empty() {
            Some(key.span())
        } else {
            sub.find(rest)
        }
    }
}

/// Several errors as one (each keeps its own snippet), or Ok when there are none.
fn join_errors(errors: Vec<Error>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    if errors.len() == 1 {
        return Err(errors.into_iter().next().expect("one error"));
    }
    // Each error keeps its own hint, right under it.
    let text: Vec<String> = errors.iter().map(Error::to_string).collect();
    Err(Error::usage(text.join("\n\n")))
}

/// Why `name` cannot be part of SSM paths, tags and AWS resource names, if it cannot.
pub fn name_problem(name: &str, max: usize) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > max {
        return Some(format!("it is longer than {max} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Some(format!(
            "it contains {c:?} (allowed: letters, digits, `-`, `_`)"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or digit".into());
    }
    None
}

/// Rewrites serde's messages for the project file's readers: unknown keys get a suggestion.
fn explain_toml_error(message: &str) -> (String, Option<String>) {
    let message = message.trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((name, expected)) = rest.split_once('`') {
            let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
            let list = candidates.join(", ");
            return match did_you_mean(name, candidates.iter().copied()) {
                Some(s) => (
                    format!("unknown key `{name}`; did you mean `{s}`?"),
                    Some(format!("keys allowed here: {list}")),
                ),
                None if candidates.is_empty() => (
                    format!("unknown key `{name}`; no keys are allowed here"),
                    None,
                ),
                None => (
                    format!("unknown key `{name}`"),
                    Some(format!("keys allowed here: {list}")),
                ),
            };
        }
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        if let Some((name, _)) = rest.split_once('`') {
            return (format!("missing key `{name}`"), None);
        }
    }
    let message = message
        .replace("expected u32", "expected a whole number (0 or more)")
        .replace("expected u16", "expected a port number")
        .replace("expected a boolean", "expected true or false");
    let hint = message
        .starts_with("invalid string")
        .then(|| "a text value needs quotes: key = \"value\"".to_string());
    (message, hint)
}

/// How the JSON Schema describes `cpu` / `memory`: a number of units or a string ("1 vCPU", "2 GB").
#[derive(schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SizeValue {
    Text(String),
    Number(f64),
}

/// Accepts `cpu = 256` as well as `cpu = "256"` / `"1 vCPU"`.
fn string_or_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Spanned<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StringOrNumber {
        String(String),
        Integer(i64),
        Float(f64),
    }
    let value: Option<Spanned<StringOrNumber>> = Option::deserialize(d)?;
    Ok(value.map(|v| {
        let span = v.span();
        let text = match v.into_inner() {
            StringOrNumber::String(s) => s,
            StringOrNumber::Integer(i) => i.to_string(),
            StringOrNumber::Float(f) => f.to_string(),
        };
        Spanned::new(span, text)
    }))
}

/// TOML values as JSON (for templates).
pub fn to_json_map(
    vars: &BTreeMap<String, toml::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    vars.iter()
        .map(|(k, v)| (k.clone(), toml_to_json(v)))
        .collect()
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "app = \"shop\"\n[environments.dev]\nregion = \"us-east-1\"\n[services.web]\ntask_definition = \"web.json\"\ndesired_count = 1\ncpu = 256\n";

    fn parse(src: &str) -> Result<Manifest> {
        Manifest::parse(Path::new("wharf.toml"), src.to_string())
    }

    fn error(src: &str) -> String {
        parse(src).unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_suggest_the_closest() {
        let e = error(&BASE.replace("desired_count", "desird_count"));
        assert!(e.starts_with("error: unknown key `desird_count`; did you mean `desired_count`?\n  --> wharf.toml:6:1\n"), "{e}");
        assert!(e.contains("6 | desird_count = 1\n  | ^^^^^^^^^^^^"), "{e}");
    }

    #[test]
    fn overrides_of_unknown_services_are_located() {
        let e = error(&format!(
            "{BASE}[environments.dev.services.wbe]\ndesired_count = 2\n"
        ));
        assert!(e.contains("environment `dev` overrides service `wbe`, which is not defined in [services]; did you mean `web`?"), "{e}");
        assert!(e.contains("--> wharf.toml:8:28"), "{e}");
    }

    #[test]
    fn dependency_cycles_and_unknown_dependencies() {
        let src = format!("{BASE}depends_on = [\"api\"]\n[services.api]\ntask_definition = \"a.json\"\ndepends_on = [\"web\"]\n");
        let e = error(&src);
        assert!(
            e.contains("services depend on each other in a cycle: api -> web -> api"),
            "{e}"
        );
        let e = error(&format!("{BASE}depends_on = [\"db\"]\n"));
        assert!(
            e.contains(
                "service `web` depends on `db`, which is not a service\n  --> wharf.toml:8:15"
            ),
            "{e}"
        );
    }

    #[test]
    fn app_names_must_be_usable() {
        assert!(error(&BASE.replace("\"shop\"", "\"\"")).contains("`app` is empty"));
        assert!(error(&BASE.replace("\"shop\"", "\"my app\""))
            .contains("cannot be used in names: it contains ' '"));
    }

    #[test]
    fn launch_types_are_checked() {
        let e = error(&format!("{BASE}launch_type = \"fargate\"\n"));
        assert!(e.contains("`launch_type` = \"fargate\" is not one of FARGATE, EC2, EXTERNAL; did you mean \"FARGATE\"?"), "{e}");
        assert!(e.contains("--> wharf.toml:8:15"), "{e}");
    }

    #[test]
    fn environment_overrides_win() {
        let src = format!("{BASE}[vars]\na = 1\nb = 1\n[environments.dev.vars]\nb = 2\n[environments.dev.services.web]\ndesired_count = 3\nmemory = \"1 GB\"\n[environments.dev.services.web.vars]\nc = 4\n");
        let m = parse(&src).unwrap();
        let e = m.effective("dev", UnitKind::Service, "web").unwrap();
        assert_eq!(e.desired_count, Some(3));
        assert_eq!(e.cpu.map(|c| c.get_ref().as_str()), Some("256"));
        assert_eq!(e.memory.map(|c| c.get_ref().as_str()), Some("1 GB"));
        assert_eq!(
            serde_json::Value::Object(e.vars),
            serde_json::json!({"a": 1, "b": 2, "c": 4})
        );
    }

    #[test]
    fn services_are_ordered_by_dependencies() {
        let src = "app = \"x\"\n[services.a]\ntask_definition = \"a\"\ndepends_on = [\"b\"]\n[services.b]\ntask_definition = \"b\"\ndepends_on = [\"c\"]\n[services.c]\ntask_definition = \"c\"\n";
        assert_eq!(parse(src).unwrap().service_order(), ["c", "b", "a"]);
    }
}
