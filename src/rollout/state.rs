//! The rollout state machine: given what wharf deployed and a DescribeServices snapshot, say
//! whether the rollout is still progressing, done, or failed, and why.
//!
//! Pure functions over data, so every path (success, slow start, circuit breaker, ECS rollback,
//! crash loop with the breaker off, a deployment replaced by someone else) is tested with
//! sequences of realistic snapshots and no network. Timeouts belong to the watcher.

use std::fmt;

use crate::aws::model::{family_revision, Deployment, Service};

/// What wharf is waiting for on one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub service: String,
    /// The task definition ARN the deployment runs.
    pub task_definition: String,
    /// The deployment wharf started or attached to; `None` means "the PRIMARY deployment running
    /// `task_definition`", resolved on the first snapshot.
    pub deployment_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Progressing,
    /// The PRIMARY deployment runs the target revision, is complete, and no old tasks remain.
    Done,
    Failed(Failure),
}

/// Why a rollout did not succeed.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// ECS marked the deployment FAILED (circuit breaker). `ecs_rolls_back` when ECS has started a
    /// rollback deployment of its own.
    RolloutFailed {
        reason: String,
        ecs_rolls_back: bool,
    },
    /// The circuit breaker is off and the new revision's tasks keep failing.
    CrashLoop { failed_tasks: i64, threshold: i64 },
    /// Another deployment (someone else's deploy) took over before this one finished.
    Replaced { by_task_definition: String },
    /// ECS cannot place the new revision's tasks on any of the cluster's container instances,
    /// and never will (`reason` says what they lack).
    Unplaceable { reason: String },
    /// The service is draining or inactive.
    ServiceGone { status: String },
    /// The service does not exist (any more).
    ServiceMissing,
    /// The watch ran out of time.
    TimedOut { after_secs: u64 },
    /// The watch ran out of time and ECS never showed the deployment wharf started.
    NeverStarted { after_secs: u64 },
    /// A blue/green, linear or canary service deployment ended other than wanted (ECS rolled it
    /// back, or stopped it): its status, the lifecycle stage it was at, ECS's reason (or wharf's
    /// own, for its smoke test on test traffic), and the hook whose answer failed it.
    ServiceDeployment {
        status: String,
        stage: Option<String>,
        reason: String,
        hook: Option<String>,
    },
}

impl Failure {
    /// ECS is already rolling back: wharf must not start a rollback of its own.
    pub fn ecs_rolls_back(&self) -> bool {
        matches!(
            self,
            Failure::RolloutFailed {
                ecs_rolls_back: true,
                ..
            }
        )
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RolloutFailed {
                reason,
                ecs_rolls_back,
            } => {
                write!(f, "deployment failed: {reason}")?;
                if *ecs_rolls_back {
                    write!(f, " (ECS is rolling back)")?;
                }
                Ok(())
            }
            Failure::CrashLoop {
                failed_tasks,
                threshold,
            } => write!(
                f,
                "tasks of the new revision keep failing ({failed_tasks} failed, threshold {threshold}; the circuit breaker is off)"
            ),
            Failure::Replaced { by_task_definition } => write!(
                f,
                "another deployment took over (now deploying {})",
                family_revision(by_task_definition)
            ),
            Failure::Unplaceable { reason } => write!(f, "tasks cannot be placed: {reason}"),
            Failure::ServiceGone { status } => write!(f, "the service is {status}"),
            Failure::ServiceMissing => write!(f, "the service does not exist"),
            Failure::TimedOut { after_secs } => {
                write!(f, "timed out after {}", humantime::format_duration(std::time::Duration::from_secs(*after_secs)))
            }
            Failure::ServiceDeployment {
                status,
                stage,
                reason,
                hook,
            } => {
                write!(f, "service deployment {status}")?;
                if let Some(stage) = stage {
                    write!(f, " at {stage}")?;
                }
                write!(f, ": {reason}")?;
                if let Some(hook) = hook {
                    write!(f, " ({hook})")?;
                }
                Ok(())
            }
            Failure::NeverStarted { after_secs } => write!(
                f,
                "timed out after {}: the rollout never started (ECS never showed the new deployment)",
                humantime::format_duration(std::time::Duration::from_secs(*after_secs))
            ),
        }
    }
}

/// The number of failed tasks at which ECS's circuit breaker trips for `desired` tasks: half the
/// desired count rounded up, at least 3 and at most 200 (ECS developer guide). wharf applies the
/// same threshold itself when the breaker is off.
pub fn failure_threshold(desired: i64) -> i64 {
    ((desired + 1) / 2).clamp(3, 200)
}

/// The deployment `target` refers to in `service`, if it is still there.
pub fn find_deployment<'a>(target: &Target, service: &'a Service) -> Option<&'a Deployment> {
    match &target.deployment_id {
        Some(id) => service.deployment(id),
        None => service
            .deployments
            .iter()
            .find(|d| d.status == "PRIMARY" && d.task_definition == target.task_definition),
    }
}

/// Judges one snapshot of a service.
pub fn assess(target: &Target, service: &Service) -> Verdict {
    if !service.status.is_empty() && service.status != "ACTIVE" {
        return Verdict::Failed(if service.status == "MISSING" {
            Failure::ServiceMissing
        } else {
            Failure::ServiceGone {
                status: service.status.clone(),
            }
        });
    }
    let primary = service.primary();
    let Some(ours) = find_deployment(target, service) else {
        // ECS may drop a failed deployment in the same moment it starts rolling back; its events
        // still name it.
        if let Some(reason) = failed_event(target, service) {
            return Verdict::Failed(Failure::RolloutFailed {
                reason,
                ecs_rolls_back: primary
                    .is_some_and(|p| p.task_definition != target.task_definition),
            });
        }
        return Verdict::Failed(Failure::Replaced {
            by_task_definition: primary
                .map(|p| p.task_definition.clone())
                .unwrap_or_else(|| service.task_definition.clone()),
        });
    };
    if ours.rollout_state.as_deref() == Some("FAILED") {
        let ecs_rolls_back = primary.is_some_and(|p| p.id != ours.id);
        return Verdict::Failed(Failure::RolloutFailed {
            reason: ours
                .rollout_state_reason
                .clone()
                .unwrap_or_else(|| "ECS gave no reason".to_string()),
            ecs_rolls_back,
        });
    }
    if ours.status != "PRIMARY" {
        return Verdict::Failed(Failure::Replaced {
            by_task_definition: primary
                .map(|p| p.task_definition.clone())
                .unwrap_or_default(),
        });
    }
    let alone = service.deployments.len() == 1;
    // Steady as AWS's own `services-stable` waiter has it: the counts settled. A rollout state
    // alone is not enough: an UpdateService that changes only desiredCount starts no deployment,
    // and the PRIMARY one stays COMPLETED while ECS starts (or cannot place) the new tasks.
    let settled = ours.running_count == ours.desired_count && ours.pending_count == 0;
    let complete = match ours.rollout_state.as_deref() {
        Some(state) => state == "COMPLETED" && settled,
        // Deployment controllers without rollout states: steady when the counts settle.
        None => settled,
    };
    if alone && complete {
        return Verdict::Done;
    }
    let breaker = service.circuit_breaker();
    if !breaker.enable {
        let threshold = failure_threshold(ours.desired_count);
        if ours.failed_tasks >= threshold {
            return Verdict::Failed(Failure::CrashLoop {
                failed_tasks: ours.failed_tasks,
                threshold,
            });
        }
    }
    Verdict::Progressing
}

/// The "deployment failed" event ECS wrote for the target deployment, if any.
fn failed_event(target: &Target, service: &Service) -> Option<String> {
    let id = target.deployment_id.as_deref()?;
    service
        .events
        .iter()
        .find(|e| e.message.contains(id) && e.message.contains("deployment failed"))
        .map(|e| {
            e.message
                .split_once("deployment failed")
                .map(|(_, rest)| {
                    rest.trim_start_matches(':')
                        .trim()
                        .trim_end_matches('.')
                        .to_string()
                })
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "ECS marked the deployment failed".to_string())
        })
}

/// Service events worth showing a user during and after a rollout: failures, health, capacity,
/// rollbacks, and steady state.
pub fn is_important_event(message: &str) -> bool {
    const WORDS: [&str; 9] = [
        "fail",
        "unhealthy",
        "unable",
        "rolling back",
        "rolled back",
        "error",
        "insufficient",
        "steady state",
        "deregistered",
    ];
    let lower = message.to_ascii_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8";
    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7";

    fn target() -> Target {
        Target {
            service: "web".into(),
            task_definition: NEW.into(),
            deployment_id: Some("ecs-svc/2222".into()),
        }
    }

    fn deployment(
        id: &str,
        status: &str,
        td: &str,
        counts: (i64, i64, i64, i64),
        state: &str,
    ) -> serde_json::Value {
        let (desired, running, pending, failed) = counts;
        json!({
            "id": id, "status": status, "taskDefinition": td,
            "desiredCount": desired, "runningCount": running, "pendingCount": pending,
            "failedTasks": failed, "launchType": "FARGATE",
            "createdAt": 1732370000.123, "updatedAt": 1732370010.456,
            "rolloutState": state,
            "rolloutStateReason": if state == "FAILED" {
                "ECS deployment circuit breaker: tasks failed to start."
            } else if state == "COMPLETED" {
                "ECS deployment ecs-svc/2222 completed."
            } else {
                "ECS deployment ecs-svc/2222 in progress."
            }
        })
    }

    fn service(deployments: Vec<serde_json::Value>, breaker: bool) -> Service {
        serde_json::from_value(json!({
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/hello/web",
            "serviceName": "web", "status": "ACTIVE", "taskDefinition": NEW,
            "desiredCount": 2, "runningCount": 2, "pendingCount": 0,
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker},
                "maximumPercent": 200, "minimumHealthyPercent": 100
            },
            "deployments": deployments,
            "events": [{"id": "e1", "createdAt": 1732370011.0, "message": "(service web) has started 2 tasks: (task a) (task b)."}]
        }))
        .unwrap()
    }

    #[test]
    fn a_count_raised_on_a_completed_deployment_waits_for_the_tasks() {
        // UpdateService with only desiredCount: no new deployment, the PRIMARY stays COMPLETED.
        let s = service(
            vec![deployment(
                "ecs-svc/2222",
                "PRIMARY",
                NEW,
                (3, 2, 0, 0),
                "COMPLETED",
            )],
            true,
        );
        assert_eq!(assess(&target(), &s), Verdict::Progressing);
        let s = service(
            vec![deployment(
                "ecs-svc/2222",
                "PRIMARY",
                NEW,
                (3, 3, 0, 0),
                "COMPLETED",
            )],
            true,
        );
        assert_eq!(assess(&target(), &s), Verdict::Done);
    }

    #[test]
    fn a_new_deployment_starting_is_progressing() {
        let s = service(
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 0, 2, 0), "IN_PROGRESS"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            true,
        );
        assert_eq!(assess(&target(), &s), Verdict::Progressing);
    }

    #[test]
    fn completed_but_old_tasks_still_draining_is_progressing() {
        let s = service(
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 2, 0, 0), "COMPLETED"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (0, 1, 0, 0), "COMPLETED"),
            ],
            true,
        );
        assert_eq!(assess(&target(), &s), Verdict::Progressing);
    }

    #[test]
    fn success_sequence_ends_done() {
        let seq = [
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 0, 0, 0), "IN_PROGRESS"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 1, 1, 0), "IN_PROGRESS"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            vec![deployment(
                "ecs-svc/2222",
                "PRIMARY",
                NEW,
                (2, 2, 0, 0),
                "COMPLETED",
            )],
        ];
        let verdicts: Vec<Verdict> = seq
            .into_iter()
            .map(|d| assess(&target(), &service(d, true)))
            .collect();
        assert_eq!(
            verdicts,
            vec![Verdict::Progressing, Verdict::Progressing, Verdict::Done]
        );
    }

    #[test]
    fn slow_start_with_failures_below_threshold_keeps_going() {
        let s = service(
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 0, 1, 2), "IN_PROGRESS"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            false,
        );
        assert_eq!(assess(&target(), &s), Verdict::Progressing);
    }

    #[test]
    fn circuit_breaker_failure_with_ecs_rollback() {
        let s = service(
            vec![
                deployment("ecs-svc/3333", "PRIMARY", OLD, (2, 0, 2, 0), "IN_PROGRESS"),
                deployment("ecs-svc/2222", "ACTIVE", NEW, (2, 0, 0, 3), "FAILED"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            true,
        );
        let v = assess(&target(), &s);
        assert_eq!(
            v,
            Verdict::Failed(Failure::RolloutFailed {
                reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
                ecs_rolls_back: true
            })
        );
        let Verdict::Failed(f) = v else {
            unreachable!()
        };
        assert!(f.ecs_rolls_back());
        assert_eq!(
            f.to_string(),
            "deployment failed: ECS deployment circuit breaker: tasks failed to start. (ECS is rolling back)"
        );
    }

    #[test]
    fn circuit_breaker_failure_without_rollback() {
        let s = service(
            vec![deployment(
                "ecs-svc/2222",
                "PRIMARY",
                NEW,
                (2, 0, 0, 3),
                "FAILED",
            )],
            true,
        );
        match assess(&target(), &s) {
            Verdict::Failed(f) => assert!(!f.ecs_rolls_back()),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn crash_loop_with_breaker_off_fails_at_the_threshold() {
        let at = |failed| {
            assess(
                &target(),
                &service(
                    vec![
                        deployment(
                            "ecs-svc/2222",
                            "PRIMARY",
                            NEW,
                            (2, 0, 1, failed),
                            "IN_PROGRESS",
                        ),
                        deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
                    ],
                    false,
                ),
            )
        };
        assert_eq!(at(2), Verdict::Progressing);
        assert_eq!(
            at(3),
            Verdict::Failed(Failure::CrashLoop {
                failed_tasks: 3,
                threshold: 3
            })
        );
    }

    #[test]
    fn breaker_on_leaves_the_crash_loop_verdict_to_ecs() {
        let s = service(
            vec![
                deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 0, 1, 5), "IN_PROGRESS"),
                deployment("ecs-svc/1111", "ACTIVE", OLD, (2, 2, 0, 0), "COMPLETED"),
            ],
            true,
        );
        assert_eq!(assess(&target(), &s), Verdict::Progressing);
    }

    #[test]
    fn someone_elses_deployment_takes_over() {
        let other = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:9";
        let s = service(
            vec![
                deployment(
                    "ecs-svc/4444",
                    "PRIMARY",
                    other,
                    (2, 0, 2, 0),
                    "IN_PROGRESS",
                ),
                deployment("ecs-svc/2222", "ACTIVE", NEW, (2, 1, 0, 0), "IN_PROGRESS"),
            ],
            true,
        );
        assert_eq!(
            assess(&target(), &s),
            Verdict::Failed(Failure::Replaced {
                by_task_definition: other.into()
            })
        );
        // And once ours is gone entirely.
        let s = service(
            vec![deployment(
                "ecs-svc/4444",
                "PRIMARY",
                other,
                (2, 2, 0, 0),
                "COMPLETED",
            )],
            true,
        );
        assert!(matches!(
            assess(&target(), &s),
            Verdict::Failed(Failure::Replaced { .. })
        ));
    }

    #[test]
    fn a_failed_deployment_already_gone_is_read_from_the_events() {
        let mut s = service(
            vec![deployment(
                "ecs-svc/3333",
                "PRIMARY",
                OLD,
                (2, 0, 0, 0),
                "IN_PROGRESS",
            )],
            true,
        );
        s.events.insert(
            0,
            serde_json::from_value(json!({"id": "e2", "createdAt": 1732370020.0,
                "message": "(service web) (deployment ecs-svc/2222) deployment failed: tasks failed to start."}))
            .unwrap(),
        );
        assert_eq!(
            assess(&target(), &s),
            Verdict::Failed(Failure::RolloutFailed {
                reason: "tasks failed to start".into(),
                ecs_rolls_back: true
            })
        );
    }

    #[test]
    fn attaching_without_a_deployment_id_finds_the_primary() {
        let t = Target {
            deployment_id: None,
            ..target()
        };
        let s = service(
            vec![deployment(
                "ecs-svc/2222",
                "PRIMARY",
                NEW,
                (2, 2, 0, 0),
                "COMPLETED",
            )],
            true,
        );
        assert_eq!(assess(&t, &s), Verdict::Done);
    }

    #[test]
    fn draining_service_is_a_failure() {
        let mut s = service(vec![], true);
        s.status = "DRAINING".into();
        assert_eq!(
            assess(&target(), &s),
            Verdict::Failed(Failure::ServiceGone {
                status: "DRAINING".into()
            })
        );
    }

    #[test]
    fn steady_without_rollout_state_uses_counts() {
        let mut d = deployment("ecs-svc/2222", "PRIMARY", NEW, (2, 2, 0, 0), "x");
        d.as_object_mut().unwrap().remove("rolloutState");
        assert_eq!(assess(&target(), &service(vec![d], true)), Verdict::Done);
    }

    #[test]
    fn threshold_follows_ecs() {
        assert_eq!(failure_threshold(1), 3);
        assert_eq!(failure_threshold(6), 3);
        assert_eq!(failure_threshold(7), 4);
        assert_eq!(failure_threshold(10), 5);
        assert_eq!(failure_threshold(1000), 200);
    }

    #[test]
    fn important_events() {
        assert!(is_important_event(
            "(service web) (deployment ecs-svc/1) deployment failed: tasks failed to start."
        ));
        assert!(is_important_event(
            "(service web) has reached a steady state."
        ));
        assert!(is_important_event(
            "(service web) rolling back to deployment ecs-svc/1."
        ));
        assert!(!is_important_event(
            "(service web) has started 1 tasks: (task abc)."
        ));
    }
}
