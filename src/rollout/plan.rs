//! What a deploy will do, as data, before anything is sent: per service, the task definition to
//! register (or the existing revision that already matches), and whether the service is created,
//! updated, or left alone, with the settings that change. `--dry-run` prints this; the deployer
//! executes it.

use serde_json::{json, Map, Value};

use crate::aws::model::{family_revision, Service};
use crate::error::{Error, Result};
use crate::project::manifest::{Manifest, UnitKind};
use crate::project::normalize;
use crate::project::render::{self, Inputs, Unit};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct ServicePlan {
    /// The key under `[services]`.
    pub key: String,
    /// The ECS service name.
    pub name: String,
    pub family: String,
    /// The RegisterTaskDefinition document wharf rendered.
    pub rendered: Value,
    /// Names passed to `secret()`.
    pub secrets: Vec<String>,
    /// The newest revision of the family, as described by ECS.
    pub latest: Option<Value>,
    /// The ARN of an ACTIVE revision that already equals `rendered` (nothing to register): the
    /// one the service runs, the newest, or one of the few before it.
    pub reuse: Option<String>,
    /// The live service, when it exists.
    pub live: Option<Service>,
    pub live_raw: Option<Value>,
    /// Service settings from wharf.toml, in CreateService's shape (no taskDefinition).
    pub settings: Value,
    /// Top-level settings whose live value differs.
    pub setting_changes: Vec<String>,
    pub depends_on: Vec<String>,
    /// Config files to sync before registering (`[services.NAME.config]`).
    pub config: Option<ConfigSync>,
    /// Values the render left as markers (`tf.x` Terraform knows only after apply, in a plan).
    pub unresolved: Vec<String>,
}

/// A service's config files and what syncing them changes in the bucket
/// (filled in by [`crate::rollout::deploy::build_plan`], which reads the bucket).
#[derive(Debug, Clone)]
pub struct ConfigSync {
    pub prepared: crate::project::config_files::Prepared,
    pub changes: crate::project::config_files::Changes,
}

impl ServicePlan {
    pub fn registers(&self) -> bool {
        self.reuse.is_none()
    }

    /// Whether the bucket's config files differ from the folder's.
    pub fn config_pending(&self) -> bool {
        self.config.as_ref().is_some_and(|c| !c.changes.is_empty())
    }

    pub fn action(&self) -> Action {
        match &self.live {
            None => Action::Create,
            Some(live) => {
                if self.registers()
                    || Some(&live.task_definition) != self.reuse.as_ref()
                    || !self.setting_changes.is_empty()
                {
                    Action::Update
                } else {
                    Action::Unchanged
                }
            }
        }
    }

    /// The CreateService request for `task_definition`.
    pub fn create_request(&self, cluster: &str, task_definition: &str) -> Value {
        let mut doc = self.settings.clone();
        let obj = doc.as_object_mut().expect("settings are an object");
        obj.insert("cluster".into(), json!(cluster));
        obj.insert("serviceName".into(), json!(self.name));
        obj.insert("taskDefinition".into(), json!(task_definition));
        obj.entry("desiredCount").or_insert(json!(1));
        doc
    }

    /// The UpdateService request for `task_definition`: one call with every changed setting.
    pub fn update_request(&self, cluster: &str, task_definition: &str) -> Value {
        let mut doc = self.settings.clone();
        let obj = doc.as_object_mut().expect("settings are an object");
        // Fixed at creation (or not accepted by UpdateService).
        for field in ["launchType", "tags", "propagateTags", "schedulingStrategy"] {
            obj.remove(field);
        }
        obj.insert("cluster".into(), json!(cluster));
        obj.insert("service".into(), json!(self.name));
        obj.insert("taskDefinition".into(), json!(task_definition));
        doc
    }

    /// The unified diff of the task definition this plan registers against the family's newest
    /// revision (empty when it reuses one), both in canonical form.
    pub fn task_definition_diff(&self, color: bool) -> String {
        if !self.registers() {
            return String::new();
        }
        let old = self
            .latest
            .as_ref()
            .map(|l| crate::text::pretty(&normalize::task_definition(l)))
            .unwrap_or_default();
        let new = crate::text::pretty(&normalize::task_definition(&self.rendered));
        let old_name = self
            .latest
            .as_ref()
            .and_then(|l| l["taskDefinitionArn"].as_str())
            .map(|a| format!("live {}", family_revision(a)))
            .unwrap_or_else(|| "(none)".into());
        crate::text::unified(&old, &new, &old_name, "rendered", color)
    }

    /// One line for the plan listing.
    pub fn summary(&self) -> String {
        let revision = match (&self.reuse, &self.latest) {
            (Some(arn), _) => format!("reuse {}", family_revision(arn)),
            (None, Some(latest)) => format!(
                "register {}:{}",
                self.family,
                latest["revision"].as_i64().unwrap_or(0) + 1
            ),
            (None, None) => format!("register {}:1", self.family),
        };
        let action = match self.action() {
            Action::Create => "create service".to_string(),
            Action::Update if self.setting_changes.is_empty() => "update service".to_string(),
            Action::Update => format!("update service ({})", self.setting_changes.join(", ")),
            Action::Unchanged => "unchanged".to_string(),
        };
        let config = self
            .config_sync_line()
            .map(|l| format!("; {l}"))
            .unwrap_or_default();
        format!("{:<24} {:<28} {action}{config}", self.key, revision)
    }

    /// "config s3://…/: 1 to upload (a.conf), 0 unchanged" when the bucket differs from the folder.
    pub fn config_sync_line(&self) -> Option<String> {
        let c = self.config.as_ref().filter(|c| !c.changes.is_empty())?;
        Some(format!(
            "config {}: {}",
            c.prepared.uri(),
            c.changes.summary(false)
        ))
    }
}

/// The network mode of a rendered task definition (ECS's default is bridge).
fn network_mode(td: &Value) -> &str {
    td["networkMode"].as_str().unwrap_or("bridge")
}

/// Service settings from the project file, in CreateService's JSON shape.
pub fn service_settings(
    manifest: &Manifest,
    inputs: &Inputs,
    key: &str,
    rendered: &Value,
) -> Result<Value> {
    let service = &manifest.doc.services[key];
    let effective = manifest.effective(inputs.env, UnitKind::Service, key)?;
    let mut s = Map::new();
    if let Some(count) = effective.desired_count {
        s.insert("desiredCount".into(), json!(count));
    }
    if service.capacity_providers.is_empty() {
        let launch = effective.launch_type.unwrap_or("FARGATE");
        s.insert("launchType".into(), json!(launch));
    } else {
        let strategy: Vec<Value> = service
            .capacity_providers
            .iter()
            .map(|c| {
                let mut item = json!({"capacityProvider": c.provider});
                if let Some(w) = c.weight {
                    item["weight"] = json!(w);
                }
                if let Some(b) = c.base {
                    item["base"] = json!(b);
                }
                item
            })
            .collect();
        s.insert("capacityProviderStrategy".into(), json!(strategy));
    }
    if let Some(pv) = &service.platform_version {
        s.insert("platformVersion".into(), json!(pv));
    }
    if network_mode(rendered) == "awsvpc" {
        let network = effective.network.ok_or_else(|| {
            manifest.error_at(
                service.task_definition.span(),
                &format!(
                    "service `{key}` uses networkMode awsvpc but has no network settings in environment `{}`",
                    inputs.env
                ),
            )
            .with_hint(format!(
                "add [environments.{}.network] (or [services.{key}.network]) with subnets and security_groups",
                inputs.env
            ))
        })?;
        let mut subnets = Vec::new();
        for subnet in &network.subnets {
            subnets.push(render::render_value(inputs, "network subnet", subnet)?);
        }
        let mut groups = Vec::new();
        for group in &network.security_groups {
            groups.push(render::render_value(
                inputs,
                "network security group",
                group,
            )?);
        }
        if subnets.is_empty() {
            return Err(Error::usage(format!(
                "service `{key}` uses networkMode awsvpc but its network in environment `{}` lists no subnets",
                inputs.env
            )));
        }
        let mut vpc = json!({"subnets": subnets, "securityGroups": groups});
        vpc["assignPublicIp"] = json!(if network.assign_public_ip.unwrap_or(false) {
            "ENABLED"
        } else {
            "DISABLED"
        });
        s.insert(
            "networkConfiguration".into(),
            json!({"awsvpcConfiguration": vpc}),
        );
    }
    if !service.load_balancers.is_empty() {
        let mut lbs = Vec::new();
        for lb in &service.load_balancers {
            let mut item = json!({
                "targetGroupArn": render::render_value(inputs, "load balancer target group", &lb.target_group_arn)?,
                "containerName": lb.container_name,
                "containerPort": lb.container_port,
            });
            if lb.has_advanced() {
                let mut advanced = Map::new();
                for (field, what, value) in [
                    (
                        "alternateTargetGroupArn",
                        "alternate target group",
                        &lb.alternate_target_group_arn,
                    ),
                    (
                        "productionListenerRule",
                        "production listener rule",
                        &lb.production_listener_rule,
                    ),
                    (
                        "testListenerRule",
                        "test listener rule",
                        &lb.test_listener_rule,
                    ),
                    ("roleArn", "load balancer role", &lb.role_arn),
                ] {
                    if let Some(v) = value {
                        advanced
                            .insert(field.into(), json!(render::render_value(inputs, what, v)?));
                    }
                }
                item["advancedConfiguration"] = Value::Object(advanced);
            }
            lbs.push(item);
        }
        s.insert("loadBalancers".into(), json!(lbs));
    }
    if !service.service_registries.is_empty() {
        let mut regs = Vec::new();
        for r in &service.service_registries {
            let mut item = json!({"registryArn": render::render_value(inputs, "service registry", &r.registry_arn)?});
            if let Some(c) = &r.container_name {
                item["containerName"] = json!(c);
            }
            if let Some(p) = r.container_port {
                item["containerPort"] = json!(p);
            }
            if let Some(p) = r.port {
                item["port"] = json!(p);
            }
            regs.push(item);
        }
        s.insert("serviceRegistries".into(), json!(regs));
    }
    let deployment = service.deployment.clone();
    let breaker = deployment
        .as_ref()
        .and_then(|d| d.circuit_breaker)
        .unwrap_or(true);
    let rollback = deployment.as_ref().and_then(|d| d.rollback).unwrap_or(true) && breaker;
    let mut dc = json!({"deploymentCircuitBreaker": {"enable": breaker, "rollback": rollback}});
    if let Some(d) = &deployment {
        if let Some(max) = d.maximum_percent {
            dc["maximumPercent"] = json!(max);
        }
        if let Some(min) = d.minimum_healthy_percent {
            dc["minimumHealthyPercent"] = json!(min);
        }
        if let Some(strategy) = &d.strategy {
            dc["strategy"] = json!(strategy.get_ref().ecs_name());
        }
        if let Some(b) = &d.bake_time {
            dc["bakeTimeInMinutes"] = json!(b.get_ref());
        }
        if let Some(l) = &d.linear {
            let mut c = json!({});
            if let Some(p) = &l.step_percent {
                c["stepPercent"] = json!(p.get_ref());
            }
            if let Some(b) = &l.step_bake_time {
                c["stepBakeTimeInMinutes"] = json!(b.get_ref());
            }
            dc["linearConfiguration"] = c;
        }
        if let Some(k) = &d.canary {
            let mut c = json!({});
            if let Some(p) = &k.percent {
                c["canaryPercent"] = json!(p.get_ref());
            }
            if let Some(b) = &k.bake_time {
                c["canaryBakeTimeInMinutes"] = json!(b.get_ref());
            }
            dc["canaryConfiguration"] = c;
        }
        let mut hooks = Vec::new();
        {
            for h in &d.hooks {
                let h = h.get_ref();
                let stages: Vec<&str> = h
                    .stages
                    .get_ref()
                    .iter()
                    .map(|s| s.get_ref().as_str())
                    .collect();
                hooks.push(json!({
                    "hookTargetArn": render::render_value(inputs, "hook lambda", &h.lambda)?,
                    "roleArn": render::render_value(inputs, "hook role", &h.role_arn)?,
                    "lifecycleStages": stages,
                }));
            }
        }
        if let Some(smoke) = service
            .smoke
            .as_ref()
            .filter(|_| crate::rollout::smoke_check::runs_on_test_traffic(service))
        {
            // wharf's smoke test on test traffic: ECS holds the deployment here until the watch
            // answers with ContinueServiceDeployment, and rolls back by itself if no answer
            // comes (wharf killed, or --no-wait).
            hooks.push(json!({
                "targetType": "PAUSE",
                "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
                "timeoutConfiguration": {
                    "timeoutInMinutes": crate::rollout::smoke_check::pause_minutes(smoke),
                    "action": "ROLLBACK",
                },
            }));
        }
        if !hooks.is_empty() {
            dc["lifecycleHooks"] = json!(hooks);
        }
    }
    s.insert("deploymentConfiguration".into(), dc);
    if let Some(grace) = service.health_check_grace_period {
        s.insert("healthCheckGracePeriodSeconds".into(), json!(grace));
    }
    s.insert(
        "enableExecuteCommand".into(),
        json!(service.enable_execute_command),
    );
    let mut tags: Vec<Value> = vec![
        json!({"key": "wharf:app", "value": manifest.app()}),
        json!({"key": "wharf:env", "value": inputs.env}),
    ];
    for (k, v) in &service.tags {
        tags.push(json!({"key": k, "value": v}));
    }
    s.insert("tags".into(), json!(tags));
    Ok(Value::Object(s))
}

/// Settings (top-level keys) whose desired value is not what the live service has. Only what the
/// project file sets is compared; lists compare as sets.
pub fn setting_changes(settings: &Value, live: &Value) -> Vec<String> {
    let mut changes = Vec::new();
    let Some(desired) = settings.as_object() else {
        return changes;
    };
    for (key, want) in desired {
        if matches!(key.as_str(), "tags" | "launchType" | "propagateTags") {
            continue;
        }
        let have = &live[key];
        let same = match key.as_str() {
            // ECS reports an absent flag as false and omits empty lists.
            "enableExecuteCommand" => {
                want.as_bool().unwrap_or(false) == have.as_bool().unwrap_or(false)
            }
            _ => contained(want, have),
        };
        if !same {
            changes.push(key.clone());
        }
    }
    changes
}

/// Whether every value `want` sets is in `have` (objects by key, lists as sets).
fn contained(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w
            .iter()
            .all(|(k, v)| contained(v, h.get(k).unwrap_or(&Value::Null))),
        (Value::Array(w), Value::Array(h)) => {
            w.len() == h.len() && w.iter().all(|item| h.iter().any(|x| contained(item, x)))
        }
        (Value::Array(w), Value::Null) => w.is_empty(),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == have,
    }
}

/// Renders a service's task definition and settings (no AWS call).
pub fn render_service(
    manifest: &Manifest,
    inputs: &Inputs,
    key: &str,
) -> Result<(render::Rendered, Value, String)> {
    let rendered = render::render_unit(inputs, Unit::Service(key))?;
    let settings = service_settings(manifest, inputs, key, &rendered.task_definition)?;
    let name = match &manifest.doc.services[key].name {
        Some(n) => render::render_value(inputs, "service name", n)?,
        None => key.to_string(),
    };
    Ok((rendered, settings, name))
}

/// A rendered task definition as it is registered: task sizes in ECS's own units
/// ("0.5 vCPU" -> "512"), as ECS stores them.
pub fn registered_form(task_definition: &Value) -> Value {
    let mut td = task_definition.clone();
    for field in ["cpu", "memory"] {
        if let Some(v) = td.get(field).cloned() {
            td[field] = Value::String(normalize::task_size(field, &v));
        }
    }
    td
}

/// Whether `revision` (a DescribeTaskDefinition `taskDefinition`) can stand for `registered`:
/// ACTIVE (a deregistered revision cannot start new tasks) and equal in canonical form.
pub fn reusable(registered: &Value, revision: &Value) -> bool {
    revision["status"].as_str() != Some("INACTIVE")
        && normalize::same_task_definition(registered, revision)
}

/// Builds the plan for one service from what was rendered and what ECS has: `latest` is the
/// family's newest revision, `reuse` the ARN of a revision equal to the rendered one, if any.
#[allow(clippy::too_many_arguments)]
pub fn plan_service(
    manifest: &Manifest,
    key: &str,
    name: String,
    rendered: render::Rendered,
    settings: Value,
    latest: Option<Value>,
    reuse: Option<String>,
    live: Option<(Service, Value)>,
) -> ServicePlan {
    let td = registered_form(&rendered.task_definition);
    let family = td["family"].as_str().unwrap_or(key).to_string();
    let setting_changes = live
        .as_ref()
        .map(|(_, raw)| setting_changes(&settings, raw))
        .unwrap_or_default();
    let config = rendered.config.map(|prepared| ConfigSync {
        prepared,
        changes: Default::default(),
    });
    let (live, live_raw) = match live {
        Some((s, raw)) => (Some(s), Some(raw)),
        None => (None, None),
    };
    ServicePlan {
        key: key.to_string(),
        name,
        family,
        rendered: td,
        secrets: rendered.secrets,
        unresolved: rendered.unresolved,
        latest,
        reuse,
        live,
        live_raw,
        settings,
        setting_changes,
        depends_on: manifest.doc.services[key]
            .depends_on
            .iter()
            .map(|d| d.get_ref().clone())
            .collect(),
        config,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_compare_as_sets_and_ignore_what_ecs_adds() {
        let want = json!({
            "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}},
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["a", "b"], "securityGroups": ["sg"], "assignPublicIp": "DISABLED"}},
            "enableExecuteCommand": false,
            "tags": [{"key": "x", "value": "y"}],
            "launchType": "FARGATE"
        });
        let live = json!({
            "desiredCount": 2,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 200, "minimumHealthyPercent": 100},
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["b", "a"], "securityGroups": ["sg"], "assignPublicIp": "DISABLED"}},
            "launchType": "FARGATE"
        });
        assert!(setting_changes(&want, &live).is_empty());
        let mut changed = live.clone();
        changed["desiredCount"] = json!(3);
        changed["networkConfiguration"]["awsvpcConfiguration"]["subnets"] = json!(["a"]);
        assert_eq!(
            setting_changes(&want, &changed),
            vec![
                "desiredCount".to_string(),
                "networkConfiguration".to_string()
            ]
        );
    }

    #[test]
    fn update_requests_leave_out_what_update_service_refuses() {
        let plan = ServicePlan {
            key: "web".into(),
            name: "web".into(),
            family: "web".into(),
            rendered: json!({}),
            secrets: vec![],
            unresolved: vec![],
            latest: None,
            reuse: None,
            live: None,
            live_raw: None,
            settings: json!({"launchType": "FARGATE", "tags": [], "desiredCount": 2}),
            setting_changes: vec![],
            depends_on: vec![],
            config: None,
        };
        assert_eq!(
            plan.update_request("c", "arn:td/web:2"),
            json!({"desiredCount": 2, "cluster": "c", "service": "web", "taskDefinition": "arn:td/web:2"})
        );
        assert_eq!(
            plan.create_request("c", "arn:td/web:2"),
            json!({"launchType": "FARGATE", "tags": [], "desiredCount": 2, "cluster": "c", "serviceName": "web", "taskDefinition": "arn:td/web:2"})
        );
        assert_eq!(plan.action(), Action::Create);
    }
}
