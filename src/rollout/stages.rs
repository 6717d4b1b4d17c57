//! Service deployments of the blue/green, linear and canary strategies, as
//! DescribeServiceDeployments shows them: the lifecycle stage, the production and test traffic
//! per service revision, the lifecycle hooks of the stage, and how the deployment ended (or how
//! ECS's rollback of it did).
//!
//! Pure functions over the JSON AWS sends: [`Snapshot::read`] reads one, [`changes`] says what
//! a user should be told since the last one, [`judge`] says whether the deploy goes on, is done
//! or failed, and why. The polling belongs to [`crate::rollout::watch`]; a rolling service is
//! judged by [`crate::rollout::state`] alone.

use std::collections::HashMap;

use serde_json::Value;

use crate::aws::model::short_id;
use crate::rollout::state::Failure;

/// What the watch waits for on a service deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Goal {
    /// The deployment succeeds (a deploy, a redeploy).
    #[default]
    Succeed,
    /// The deployment is rolled back (`wharf rollback` stopped it with ROLLBACK).
    RollBack,
}

/// One lifecycle hook of the current stage (`lifecycleHookDetails`).
#[derive(Debug, Clone, PartialEq)]
pub struct HookState {
    pub id: String,
    /// AWS_LAMBDA or PAUSE.
    pub target_type: String,
    /// The Lambda function, for AWS_LAMBDA hooks.
    pub target: Option<String>,
    /// IN_PROGRESS, AWAITING_ACTION, SUCCEEDED, FAILED or TIMED_OUT.
    pub status: String,
}

impl HookState {
    /// The function's name, or "pause hook" with its id's end.
    pub fn label(&self) -> String {
        match &self.target {
            Some(arn) => format!(
                "hook {}",
                arn.rsplit_once(":function:")
                    .map_or(arn.as_str(), |(_, f)| f)
            ),
            None => "pause hook".to_string(),
        }
    }
}

/// One DescribeServiceDeployments answer for one deployment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub arn: String,
    /// PENDING, IN_PROGRESS, SUCCESSFUL, STOP_REQUESTED, STOPPED, ROLLBACK_REQUESTED,
    /// ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED.
    pub status: String,
    pub status_reason: Option<String>,
    pub stage: Option<String>,
    /// The service revision the deployment rolls out.
    pub target_revision: String,
    /// Percent of production and of test traffic per service revision ARN, as ECS requested
    /// it (`requestedProductionTrafficWeight`, `requestedTestTrafficWeight`); empty when ECS
    /// does not say.
    pub production: Vec<(String, f64)>,
    pub test: Vec<(String, f64)>,
    pub hooks: Vec<HookState>,
    pub rollback_reason: Option<String>,
    /// The circuit breaker's status (TRIGGERED when it tripped).
    pub breaker: Option<String>,
    pub bake_minutes: Option<i64>,
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

impl Snapshot {
    pub fn read(v: &Value) -> Snapshot {
        let mut revisions: Vec<&Value> = vec![&v["targetServiceRevision"]];
        revisions.extend(v["sourceServiceRevisions"].as_array().into_iter().flatten());
        let weights = |field: &str| -> Vec<(String, f64)> {
            revisions
                .iter()
                .filter_map(|r| Some((text(&r["arn"])?, r[field].as_f64()?)))
                .collect()
        };
        Snapshot {
            arn: text(&v["serviceDeploymentArn"]).unwrap_or_default(),
            status: text(&v["status"]).unwrap_or_default(),
            status_reason: text(&v["statusReason"]),
            stage: text(&v["lifecycleStage"]),
            target_revision: text(&v["targetServiceRevision"]["arn"]).unwrap_or_default(),
            production: weights("requestedProductionTrafficWeight"),
            test: weights("requestedTestTrafficWeight"),
            hooks: v["lifecycleHookDetails"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| HookState {
                    id: text(&h["hookId"]).unwrap_or_default(),
                    target_type: text(&h["targetType"]).unwrap_or_else(|| "AWS_LAMBDA".into()),
                    target: text(&h["targetArn"]),
                    status: text(&h["status"]).unwrap_or_default(),
                })
                .collect(),
            rollback_reason: text(&v["rollback"]["reason"]),
            breaker: text(&v["deploymentCircuitBreaker"]["status"]),
            bake_minutes: v["deploymentConfiguration"]["bakeTimeInMinutes"].as_i64(),
        }
    }

    /// The pause hook of the current stage that waits for ContinueServiceDeployment, if any.
    pub fn awaiting_pause(&self) -> Option<&HookState> {
        self.hooks
            .iter()
            .find(|h| h.target_type == "PAUSE" && h.status == "AWAITING_ACTION")
    }

    /// A hook that failed or timed out, as "hook NAME at STAGE answered FAILED".
    pub fn failed_hook(&self) -> Option<String> {
        self.hooks
            .iter()
            .find(|h| h.status == "FAILED" || h.status == "TIMED_OUT")
            .map(|h| {
                format!(
                    "{} at {} {}",
                    h.label(),
                    self.stage.as_deref().unwrap_or("?"),
                    if h.status == "FAILED" {
                        "answered FAILED".to_string()
                    } else {
                        "timed out".to_string()
                    }
                )
            })
    }
}

/// A service revision shown by its task definition (`family:revision`) when known.
fn label<'a>(revision: &'a str, names: &'a HashMap<String, String>) -> &'a str {
    names
        .get(revision)
        .map_or_else(|| short_id(revision), String::as_str)
}

/// "web:8 25% · web:7 75%", the target revision first.
pub fn traffic_text(weights: &[(String, f64)], names: &HashMap<String, String>) -> String {
    weights
        .iter()
        .map(|(rev, pct)| format!("{} {}%", label(rev, names), trim_percent(*pct)))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn trim_percent(p: f64) -> String {
    if (p - p.round()).abs() < 1e-9 {
        format!("{}", p.round() as i64)
    } else {
        format!("{p:.1}")
    }
}

/// The lifecycle stages in the order a deployment passes them (RECONCILE_SERVICE only when
/// the service ran more than one revision, so it is never assumed).
const STAGES: &[&str] = &[
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
    "BAKE_TIME",
    "CLEAN_UP",
];

/// The stages a deployment went through between two snapshots without either showing them (a
/// stage without hooks can pass within one poll). None when the order is unknown or went back.
fn passed_between<'a>(before: Option<&str>, now: &str) -> &'a [&'a str] {
    let Some(before) = before else { return &[] };
    let at = |s: &str| STAGES.iter().position(|k| *k == s);
    match (at(before), at(now)) {
        (Some(b), Some(n)) if n > b + 1 => &STAGES[b + 1..n],
        _ => &[],
    }
}

/// What to tell a user about `now` after `before` (None: the first snapshot), one line each:
/// a new stage, traffic that moved, a hook whose status changed, a new deployment status.
pub fn changes(
    before: Option<&Snapshot>,
    now: &Snapshot,
    names: &HashMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    if before.map(|b| &b.status) != Some(&now.status)
        && !(before.is_none() && matches!(now.status.as_str(), "PENDING" | "IN_PROGRESS"))
    {
        let reason = now
            .rollback_reason
            .as_ref()
            .filter(|_| now.status.starts_with("ROLLBACK"))
            .or(now.status_reason.as_ref());
        out.push(match reason {
            Some(r) => format!("service deployment {}: {r}", now.status),
            None => format!("service deployment {}", now.status),
        });
    }
    if let Some(stage) = &now.stage {
        if before.and_then(|b| b.stage.as_ref()) != Some(stage) {
            for skipped in passed_between(before.and_then(|b| b.stage.as_deref()), stage) {
                out.push(format!("stage {skipped} (passed between two polls)"));
            }
            let mut line = format!("stage {stage}");
            if stage == "BAKE_TIME" {
                if let Some(m) = now.bake_minutes {
                    line.push_str(&format!(
                        " (both revisions run {m} min before the old one stops)"
                    ));
                }
            }
            out.push(line);
        }
    }
    for (what, weights, earlier) in [
        ("production", &now.production, before.map(|b| &b.production)),
        ("test", &now.test, before.map(|b| &b.test)),
    ] {
        if !weights.is_empty() && Some(weights) != earlier {
            out.push(format!("{what} traffic: {}", traffic_text(weights, names)));
        }
    }
    for h in &now.hooks {
        let was = before.and_then(|b| b.hooks.iter().find(|o| o.id == h.id));
        if was.map(|w| &w.status) != Some(&h.status) {
            out.push(format!(
                "{} at {}: {}",
                h.label(),
                now.stage.as_deref().unwrap_or("?"),
                h.status
            ));
        }
    }
    out
}

/// What one snapshot means for the deploy.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgment {
    Progressing,
    Done,
    Failed(Failure),
}

/// Judges a snapshot against the goal. `failed_hook` is the hook answer seen last (hooks of a
/// stage may be gone from later snapshots); `wharf_reason` what wharf itself answered (its
/// smoke test on test traffic), which names the failure when ECS rolled back because of it.
pub fn judge(
    s: &Snapshot,
    goal: Goal,
    failed_hook: Option<&str>,
    wharf_reason: Option<&str>,
) -> Judgment {
    let failure = || {
        let reason = wharf_reason
            .map(str::to_string)
            .or_else(|| s.rollback_reason.clone())
            .or_else(|| s.status_reason.clone())
            .unwrap_or_else(|| "ECS gave no reason".into());
        Failure::ServiceDeployment {
            status: s.status.clone(),
            stage: s.stage.clone(),
            reason,
            hook: failed_hook
                .map(str::to_string)
                .or_else(|| s.failed_hook())
                .filter(|_| wharf_reason.is_none()),
        }
    };
    match (goal, s.status.as_str()) {
        (Goal::Succeed, "SUCCESSFUL") => Judgment::Done,
        (Goal::RollBack, "ROLLBACK_SUCCESSFUL") => Judgment::Done,
        (_, "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED" | "STOPPED" | "SUCCESSFUL") => {
            Judgment::Failed(failure())
        }
        // PENDING, IN_PROGRESS, STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS: ECS
        // is still at it (a rollback is watched to its end).
        _ => Judgment::Progressing,
    }
}

/// The deployment a watch follows among ListServiceDeployments' answer (newest first): the one
/// created since `since` (epoch seconds; the watch's own), else the newest still running.
pub fn pick(briefs: &[Value], since: f64) -> Option<String> {
    let arn = |b: &Value| text(&b["serviceDeploymentArn"]);
    briefs
        .iter()
        .find(|b| b["createdAt"].as_f64().is_some_and(|c| c >= since))
        .and_then(arn)
        .or_else(|| {
            briefs
                .iter()
                .find(|b| {
                    matches!(
                        b["status"].as_str(),
                        Some(
                            "PENDING"
                                | "IN_PROGRESS"
                                | "ROLLBACK_REQUESTED"
                                | "ROLLBACK_IN_PROGRESS"
                                | "STOP_REQUESTED"
                        )
                    )
                })
                .and_then(arn)
        })
}

/// What `--output json` says of a service deployment: its ARN and status, the stages in the
/// order they were seen (seconds after the watch began), the hooks' answers and the traffic
/// the last snapshot showed.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Report {
    pub arn: String,
    pub status: String,
    pub stages: Vec<StageSeen>,
    pub hooks: Vec<HookSeen>,
    pub production_traffic: Vec<RevisionTraffic>,
    pub test_traffic: Vec<RevisionTraffic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StageSeen {
    pub stage: String,
    pub at_secs: f64,
    /// The stage passed between two polls: no snapshot showed it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub between_polls: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HookSeen {
    pub stage: String,
    pub hook: String,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RevisionTraffic {
    pub revision: String,
    pub percent: f64,
}

impl Report {
    /// Records wharf's own answer to a pause hook at `stage` (the next snapshot is already at
    /// another stage, without the hook).
    pub fn answered(&mut self, stage: &str, passed: bool) {
        for h in self
            .hooks
            .iter_mut()
            .filter(|h| h.stage == stage && h.hook == "pause hook")
        {
            h.status = if passed { "SUCCEEDED" } else { "FAILED" }.to_string();
        }
    }

    /// Records `s`, seen `at_secs` into the watch.
    pub fn record(&mut self, s: &Snapshot, at_secs: f64, names: &HashMap<String, String>) {
        self.arn = s.arn.clone();
        self.status = s.status.clone();
        if let Some(stage) = &s.stage {
            let last = self.stages.last().map(|l| l.stage.clone());
            if last.as_ref() != Some(stage) {
                let at_secs = (at_secs * 10.0).round() / 10.0;
                for skipped in passed_between(last.as_deref(), stage) {
                    self.stages.push(StageSeen {
                        stage: skipped.to_string(),
                        at_secs,
                        between_polls: true,
                    });
                }
                self.stages.push(StageSeen {
                    stage: stage.clone(),
                    at_secs,
                    between_polls: false,
                });
            }
        }
        for h in &s.hooks {
            let stage = s.stage.clone().unwrap_or_default();
            let hook = h.target.clone().unwrap_or_else(|| h.label());
            match self
                .hooks
                .iter_mut()
                .find(|k| k.stage == stage && k.hook == hook)
            {
                Some(k) => k.status = h.status.clone(),
                None => self.hooks.push(HookSeen {
                    stage,
                    hook,
                    status: h.status.clone(),
                }),
            }
        }
        let traffic = |w: &[(String, f64)]| {
            w.iter()
                .map(|(r, p)| RevisionTraffic {
                    revision: label(r, names).to_string(),
                    percent: *p,
                })
                .collect()
        };
        if !s.production.is_empty() {
            self.production_traffic = traffic(&s.production);
        }
        if !s.test.is_empty() {
            self.test_traffic = traffic(&s.test);
        }
        if s.rollback_reason.is_some() {
            self.rollback_reason = s.rollback_reason.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GREEN: &str = "arn:aws:ecs:us-east-1:123456789012:service-revision/c/web/2";
    const BLUE: &str = "arn:aws:ecs:us-east-1:123456789012:service-revision/c/web/1";
    const SMOKE: &str = "arn:aws:lambda:us-east-1:123456789012:function:smoke";

    fn sd(status: &str, stage: &str, green_prod: f64, hooks: Value) -> Value {
        json!({
            "serviceDeploymentArn": "arn:aws:ecs:us-east-1:123456789012:service-deployment/c/web/abc",
            "status": status,
            "lifecycleStage": stage,
            "targetServiceRevision": {"arn": GREEN, "requestedTaskCount": 2, "runningTaskCount": 2,
                "requestedProductionTrafficWeight": green_prod, "requestedTestTrafficWeight": 100.0},
            "sourceServiceRevisions": [{"arn": BLUE, "requestedTaskCount": 2, "runningTaskCount": 2,
                "requestedProductionTrafficWeight": 100.0 - green_prod, "requestedTestTrafficWeight": 0.0}],
            "deploymentConfiguration": {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 5},
            "deploymentCircuitBreaker": {"status": "MONITORING", "failureCount": 0, "threshold": 3},
            "lifecycleHookDetails": hooks
        })
    }

    fn names() -> HashMap<String, String> {
        HashMap::from([
            (GREEN.to_string(), "web:2".to_string()),
            (BLUE.to_string(), "web:1".to_string()),
        ])
    }

    #[test]
    fn a_stage_traffic_and_hooks_are_told_once_each() {
        let a = Snapshot::read(&sd("IN_PROGRESS", "SCALE_UP", 0.0, json!([])));
        let first = changes(None, &a, &names());
        assert_eq!(
            first,
            vec![
                "stage SCALE_UP",
                "production traffic: web:2 0% · web:1 100%",
                "test traffic: web:2 100% · web:1 0%"
            ]
        );
        assert!(changes(Some(&a), &a, &names()).is_empty());
        let hook = json!([{"hookId": "h1", "targetType": "AWS_LAMBDA", "targetArn": SMOKE, "status": "IN_PROGRESS"}]);
        let b = Snapshot::read(&sd("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0, hook));
        assert_eq!(
            changes(Some(&a), &b, &names()),
            vec![
                // A stage without hooks may pass between two polls: it is told all the same.
                "stage POST_SCALE_UP (passed between two polls)",
                "stage TEST_TRAFFIC_SHIFT (passed between two polls)",
                "stage POST_TEST_TRAFFIC_SHIFT",
                "hook smoke at POST_TEST_TRAFFIC_SHIFT: IN_PROGRESS"
            ]
        );
        let c = Snapshot::read(&sd("IN_PROGRESS", "BAKE_TIME", 100.0, json!([])));
        assert_eq!(
            changes(Some(&b), &c, &names()),
            vec![
                "stage PRODUCTION_TRAFFIC_SHIFT (passed between two polls)",
                "stage POST_PRODUCTION_TRAFFIC_SHIFT (passed between two polls)",
                "stage BAKE_TIME (both revisions run 5 min before the old one stops)",
                "production traffic: web:2 100% · web:1 0%"
            ]
        );
        assert_eq!(judge(&c, Goal::Succeed, None, None), Judgment::Progressing);
        let done = Snapshot::read(&sd("SUCCESSFUL", "CLEAN_UP", 100.0, json!([])));
        assert_eq!(judge(&done, Goal::Succeed, None, None), Judgment::Done);
    }

    #[test]
    fn a_failed_hook_is_named_in_the_failure_once_ecs_rolled_back() {
        let hook = json!([{"hookId": "h1", "targetType": "AWS_LAMBDA", "targetArn": SMOKE, "status": "FAILED"}]);
        let mut v = sd("ROLLBACK_IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0, hook);
        v["rollback"] = json!({"reason": "The lifecycle hook failed.", "serviceRevisionArn": BLUE});
        let s = Snapshot::read(&v);
        assert_eq!(judge(&s, Goal::Succeed, None, None), Judgment::Progressing);
        assert_eq!(
            changes(None, &s, &names())[0],
            "service deployment ROLLBACK_IN_PROGRESS: The lifecycle hook failed."
        );
        let seen = s.failed_hook();
        v["status"] = json!("ROLLBACK_SUCCESSFUL");
        v["lifecycleHookDetails"] = json!([]);
        let end = Snapshot::read(&v);
        let Judgment::Failed(f) = judge(&end, Goal::Succeed, seen.as_deref(), None) else {
            panic!("a rolled back deployment failed")
        };
        assert_eq!(
            f.to_string(),
            "service deployment ROLLBACK_SUCCESSFUL at POST_TEST_TRAFFIC_SHIFT: The lifecycle hook failed. (hook smoke at POST_TEST_TRAFFIC_SHIFT answered FAILED)"
        );
        // A rollback wharf asked for is the goal of `wharf rollback`.
        assert_eq!(judge(&end, Goal::RollBack, None, None), Judgment::Done);
    }

    #[test]
    fn wharfs_own_answer_names_the_failure() {
        let mut v = sd(
            "ROLLBACK_SUCCESSFUL",
            "POST_TEST_TRAFFIC_SHIFT",
            0.0,
            json!([]),
        );
        v["rollback"] = json!({"reason": "ContinueServiceDeployment (action ROLLBACK) initiated the rollback operation."});
        let Judgment::Failed(f) = judge(
            &Snapshot::read(&v),
            Goal::Succeed,
            None,
            Some("the smoke test on test traffic failed: GET http://127.0.0.1:1/ failed"),
        ) else {
            panic!("failed")
        };
        assert_eq!(f.to_string(), "service deployment ROLLBACK_SUCCESSFUL at POST_TEST_TRAFFIC_SHIFT: the smoke test on test traffic failed: GET http://127.0.0.1:1/ failed");
    }

    #[test]
    fn the_deployment_followed_is_the_new_one_or_the_running_one() {
        let briefs = vec![
            json!({"serviceDeploymentArn": "b", "createdAt": 200.0, "status": "IN_PROGRESS"}),
            json!({"serviceDeploymentArn": "a", "createdAt": 100.0, "status": "SUCCESSFUL"}),
        ];
        assert_eq!(pick(&briefs, 150.0).as_deref(), Some("b"));
        assert_eq!(pick(&briefs, 300.0).as_deref(), Some("b"));
        assert_eq!(pick(&briefs[1..], 300.0), None);
    }

    #[test]
    fn a_pause_hook_awaiting_action_is_found() {
        let hook =
            json!([{"hookId": "ecs-pause-1", "targetType": "PAUSE", "status": "AWAITING_ACTION"}]);
        let s = Snapshot::read(&sd("IN_PROGRESS", "POST_TEST_TRAFFIC_SHIFT", 0.0, hook));
        assert_eq!(
            s.awaiting_pause().map(|h| h.id.as_str()),
            Some("ecs-pause-1")
        );
        let mut r = Report::default();
        r.record(&s, 1.23, &names());
        assert_eq!(r.stages[0].at_secs, 1.2);
        assert_eq!(r.hooks[0].hook, "pause hook");
        assert_eq!(r.hooks[0].status, "AWAITING_ACTION");
        r.answered("POST_TEST_TRAFFIC_SHIFT", true);
        assert_eq!(r.hooks[0].status, "SUCCEEDED");
        assert_eq!(r.production_traffic[0].revision, "web:2");
    }
}
