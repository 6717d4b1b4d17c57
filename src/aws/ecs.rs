//! ECS calls as wharf makes them: batched the way the API allows (DescribeServices 10 at a time,
//! DescribeTasks 100 at a time), answered as the JSON AWS sent, and sent, for the inputs wharf
//! builds as documents (task definitions, CreateService, UpdateService), as those documents.

use aws_sdk_ecs::Client;
use serde_json::Value;

use super::error;
use super::raw::{Capture, ReplaceBody};
use crate::aws::model::{ContainerInstance, Service, Task};
use crate::error::{Error, Result};

/// Sends a request (a fluent builder after `.customize()`, with any interceptors of its own) with
/// the answer's body captured, and evaluates to that body as JSON; SDK errors become wharf's for
/// `$op` (`?` in the enclosing function).
macro_rules! send_captured {
    ($customized:expr, $op:literal) => {{
        crate::aws::pace::ecs($op).await;
        let cap = Capture::new();
        $customized
            .interceptor(cap.clone())
            .send()
            .await
            .map_err(|e| error($op, e))?;
        cap.json($op)?
    }};
}

/// DescribeServices takes at most 10 services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;
/// DescribeTasks takes at most 100 tasks per call.
pub const DESCRIBE_TASKS_BATCH: usize = 100;
/// DescribeServiceDeployments and DescribeServiceRevisions take at most 20 ARNs per call.
pub const DESCRIBE_SERVICE_DEPLOYMENTS_BATCH: usize = 20;

/// ECS in one cluster.
#[derive(Clone, Debug)]
pub struct Ecs {
    pub client: Client,
    pub cluster: String,
}

/// A service DescribeServices knows, or the name it reported as missing.
#[derive(Debug, Clone)]
pub enum Described {
    Found(Box<Service>, Value),
    Missing(String),
}

impl Ecs {
    pub fn new(client: Client, cluster: impl Into<String>) -> Self {
        Ecs {
            client,
            cluster: cluster.into(),
        }
    }

    /// Whether the cluster exists and is not INACTIVE (DescribeClusters reports a missing
    /// cluster as a failure, not an error).
    pub async fn cluster_exists(&self) -> Result<bool> {
        let body = send_captured!(
            self.client
                .describe_clusters()
                .clusters(&self.cluster)
                .customize(),
            "ecs:DescribeClusters"
        );
        Ok(body["clusters"].as_array().is_some_and(|clusters| {
            clusters.iter().any(|c| {
                c["status"] != "INACTIVE"
                    && (c["clusterName"] == self.cluster.as_str()
                        || c["clusterArn"] == self.cluster.as_str())
            })
        }))
    }

    /// Describes `names` in batches of 10, in order. Services ECS reports as missing (or that are
    /// INACTIVE, which ECS keeps listing for a while after deletion) come back as `Missing`.
    pub async fn describe_services(&self, names: &[String]) -> Result<Vec<Described>> {
        let mut out = Vec::with_capacity(names.len());
        for batch in names.chunks(DESCRIBE_SERVICES_BATCH) {
            let body = send_captured!(
                self.client
                    .describe_services()
                    .cluster(&self.cluster)
                    .set_services(Some(batch.to_vec()))
                    .customize(),
                "ecs:DescribeServices"
            );
            let found = body["services"].as_array().cloned().unwrap_or_default();
            for name in batch {
                let raw = found.iter().find(|s| {
                    s["serviceName"].as_str() == Some(name.as_str())
                        || s["serviceArn"].as_str() == Some(name.as_str())
                });
                match raw {
                    Some(raw) if raw["status"] != "INACTIVE" => {
                        let service: Service =
                            serde_json::from_value(raw.clone()).map_err(|e| {
                                Error::aws(format!(
                                    "ecs:DescribeServices: unexpected answer for {name}: {e}"
                                ))
                            })?;
                        out.push(Described::Found(Box::new(service), raw.clone()));
                    }
                    _ => out.push(Described::Missing(name.clone())),
                }
            }
        }
        Ok(out)
    }

    /// The cluster's container instances (every status but INACTIVE, as ECS lists them), all
    /// pages, described.
    pub async fn container_instances(&self) -> Result<Vec<ContainerInstance>> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            crate::aws::pace::ecs("ecs:ListContainerInstances").await;
            let page = self
                .client
                .list_container_instances()
                .cluster(&self.cluster)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error("ecs:ListContainerInstances", e))?;
            arns.extend(page.container_instance_arns.unwrap_or_default());
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        let mut out = Vec::with_capacity(arns.len());
        // DescribeContainerInstances takes at most 100 instances per call.
        for batch in arns.chunks(100) {
            let body = send_captured!(
                self.client
                    .describe_container_instances()
                    .cluster(&self.cluster)
                    .set_container_instances(Some(batch.to_vec()))
                    .customize(),
                "ecs:DescribeContainerInstances"
            );
            for raw in body["containerInstances"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                let ci: ContainerInstance = serde_json::from_value(raw).map_err(|e| {
                    Error::aws(format!(
                        "ecs:DescribeContainerInstances: unexpected answer: {e}"
                    ))
                })?;
                out.push(ci);
            }
        }
        out.sort_by(|a, b| {
            a.registered_at
                .partial_cmp(&b.registered_at)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Ok(out)
    }

    /// Sets container instances to ACTIVE or DRAINING (UpdateContainerInstancesState).
    pub async fn set_container_instances_state(
        &self,
        arns: &[String],
        draining: bool,
    ) -> Result<()> {
        use aws_sdk_ecs::types::ContainerInstanceStatus;
        crate::aws::pace::ecs("ecs:UpdateContainerInstancesState").await;
        let answer = self
            .client
            .update_container_instances_state()
            .cluster(&self.cluster)
            .set_container_instances(Some(arns.to_vec()))
            .status(if draining {
                ContainerInstanceStatus::Draining
            } else {
                ContainerInstanceStatus::Active
            })
            .send()
            .await
            .map_err(|e| error("ecs:UpdateContainerInstancesState", e))?;
        if let Some(f) = answer.failures().first() {
            return Err(Error::aws(format!(
                "ecs:UpdateContainerInstancesState failed for {}: {}",
                f.arn().unwrap_or("?"),
                f.reason().unwrap_or("no reason")
            )));
        }
        Ok(())
    }

    /// The names of every service in the cluster, all pages.
    pub async fn list_services(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            crate::aws::pace::ecs("ecs:ListServices").await;
            let page = self
                .client
                .list_services()
                .cluster(&self.cluster)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error("ecs:ListServices", e))?;
            names.extend(
                page.service_arns
                    .unwrap_or_default()
                    .iter()
                    .map(|a| a.rsplit('/').next().unwrap_or(a).to_string()),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    /// Describes tasks in batches of 100 (tasks whose answer [`Task`] cannot read are left out).
    pub async fn describe_tasks(&self, arns: &[String]) -> Result<Vec<Task>> {
        Ok(self
            .describe_tasks_raw(arns)
            .await?
            .into_iter()
            .filter_map(|t| serde_json::from_value(t).ok())
            .collect())
    }

    /// Task ARNs of a service (or of a deployment, with `started_by`), all pages.
    pub async fn list_tasks(
        &self,
        service: Option<&str>,
        started_by: Option<&str>,
        stopped: bool,
    ) -> Result<Vec<String>> {
        let desired = if stopped {
            aws_sdk_ecs::types::DesiredStatus::Stopped
        } else {
            aws_sdk_ecs::types::DesiredStatus::Running
        };
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            crate::aws::pace::ecs("ecs:ListTasks").await;
            let page = self
                .client
                .list_tasks()
                .cluster(&self.cluster)
                .set_service_name(service.map(str::to_string))
                .set_started_by(started_by.map(str::to_string))
                .desired_status(desired.clone())
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error("ecs:ListTasks", e))?;
            arns.extend(page.task_arns.unwrap_or_default());
            token = page.next_token;
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    /// The task definition `name` (family, family:revision or ARN) as AWS describes it, or `None`
    /// when it does not exist.
    pub async fn describe_task_definition(&self, name: &str) -> Result<Option<Value>> {
        let cap = Capture::new();
        crate::aws::pace::ecs("ecs:DescribeTaskDefinition").await;
        let result = self
            .client
            .describe_task_definition()
            .task_definition(name)
            .customize()
            .interceptor(cap.clone())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(
                cap.json("ecs:DescribeTaskDefinition")?["taskDefinition"].clone(),
            )),
            Err(e) => {
                let missing = e.as_service_error().is_some_and(|se| {
                    let text = se.to_string().to_ascii_lowercase();
                    se.is_client_exception()
                        && (text.contains("unable to describe")
                            || text.contains("not found")
                            || text.contains("does not exist"))
                });
                if missing {
                    Ok(None)
                } else {
                    Err(error("ecs:DescribeTaskDefinition", e))
                }
            }
        }
    }

    /// Registers `document` (a RegisterTaskDefinition request body). Sent once, without the SDK's
    /// automatic retries: a retry after an answer that was lost would register a duplicate
    /// revision. [`crate::rollout::deploy`] retries by first checking whether the revision exists.
    pub async fn register_task_definition(&self, document: &Value) -> Result<Value> {
        let family = document["family"].as_str().unwrap_or_default().to_string();
        let body = send_captured!(
            self.client
                .register_task_definition()
                .family(family)
                .customize()
                .config_override(
                    aws_sdk_ecs::config::Builder::default()
                        .retry_config(aws_config::retry::RetryConfig::disabled()),
                )
                .interceptor(ReplaceBody::new(document)),
            "ecs:RegisterTaskDefinition"
        );
        Ok(body["taskDefinition"].clone())
    }

    /// CreateService with `document` as the request body.
    pub async fn create_service(&self, document: &Value) -> Result<Service> {
        let body = send_captured!(
            self.client
                .create_service()
                .cluster(&self.cluster)
                .service_name(document["serviceName"].as_str().unwrap_or_default())
                .customize()
                .interceptor(ReplaceBody::new(document)),
            "ecs:CreateService"
        );
        service_of(body, "ecs:CreateService")
    }

    /// UpdateService with `document` as the request body.
    pub async fn update_service(&self, document: &Value) -> Result<Service> {
        let body = send_captured!(
            self.client
                .update_service()
                .cluster(&self.cluster)
                .service(document["service"].as_str().unwrap_or_default())
                .customize()
                .interceptor(ReplaceBody::new(document)),
            "ecs:UpdateService"
        );
        service_of(body, "ecs:UpdateService")
    }

    /// The newest ACTIVE revisions of `family` (ARNs, newest first), at most `n`, from one page
    /// of ListTaskDefinitions. The family prefix also matches longer family names, and
    /// implementations may not sort, so the ARNs are filtered and ordered here.
    pub async fn newest_task_definitions(&self, family: &str, n: usize) -> Result<Vec<String>> {
        crate::aws::pace::ecs("ecs:ListTaskDefinitions").await;
        let page = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .max_results(100)
            .send()
            .await
            .map_err(|e| error("ecs:ListTaskDefinitions", e))?;
        let mut arns: Vec<String> = page
            .task_definition_arns
            .unwrap_or_default()
            .into_iter()
            .filter(|a| crate::aws::model::family_of(a) == family)
            .collect();
        arns.sort_by_key(|a| std::cmp::Reverse(crate::aws::model::revision_of(a)));
        arns.truncate(n);
        Ok(arns)
    }

    /// The task definitions `service` ended on after its deployments that succeeded, newest
    /// first, from ECS's deployment history (ListServiceDeployments, DescribeServiceDeployments,
    /// DescribeServiceRevisions): a SUCCESSFUL deployment ended on its target revision, a
    /// ROLLBACK_SUCCESSFUL one on the revision it rolled back to. Looks at the newest `depth`
    /// finished deployments.
    pub async fn succeeded_task_definitions(
        &self,
        service: &str,
        depth: i32,
    ) -> Result<Vec<String>> {
        use aws_sdk_ecs::types::ServiceDeploymentStatus as Status;
        let briefs = self
            .list_service_deployments_in(
                service,
                &[Status::Successful, Status::RollbackSuccessful],
                depth,
            )
            .await?;
        let arns: Vec<String> = briefs
            .iter()
            .filter_map(|b| b["serviceDeploymentArn"].as_str().map(str::to_string))
            .collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        // The revision each ended on, in the order of `arns`.
        let mut ended: Vec<(String, String)> = Vec::new();
        for d in self.describe_service_deployments(&arns).await? {
            let arn = d["serviceDeploymentArn"].as_str().unwrap_or_default();
            let revision = match d["status"].as_str() {
                Some("ROLLBACK_SUCCESSFUL") => d["rollback"]["serviceRevisionArn"].as_str(),
                _ => d["targetServiceRevision"]["arn"].as_str(),
            };
            if let Some(revision) = revision {
                ended.push((arn.to_string(), revision.to_string()));
            }
        }
        ended.sort_by_key(|(arn, _)| arns.iter().position(|a| a == arn));
        let revisions: Vec<String> = ended.iter().map(|(_, r)| r.clone()).collect();
        let mut unique = revisions.clone();
        unique.dedup();
        let task_definitions = self.revision_task_definitions(&unique).await?;
        Ok(revisions
            .iter()
            .filter_map(|r| task_definitions.get(r).cloned())
            .collect())
    }

    /// The service deployments of `service` as ListServiceDeployments lists them (one page of
    /// up to 100: `serviceDeploymentArn`, `status`, `createdAt`, `targetServiceRevisionArn`),
    /// newest first.
    pub async fn list_service_deployments(&self, service: &str) -> Result<Vec<Value>> {
        self.list_service_deployments_in(service, &[], 100).await
    }

    /// ListServiceDeployments of `service` with these statuses (all when empty), at most `max`,
    /// newest first.
    async fn list_service_deployments_in(
        &self,
        service: &str,
        statuses: &[aws_sdk_ecs::types::ServiceDeploymentStatus],
        max: i32,
    ) -> Result<Vec<Value>> {
        let listed = send_captured!(
            self.client
                .list_service_deployments()
                .cluster(&self.cluster)
                .service(service)
                .set_status((!statuses.is_empty()).then(|| statuses.to_vec()))
                .max_results(max)
                .customize(),
            "ecs:ListServiceDeployments"
        );
        let mut briefs: Vec<Value> = listed["serviceDeployments"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        briefs.sort_by(|a, b| {
            let at = |v: &Value| v["createdAt"].as_f64().unwrap_or(0.0);
            at(b).total_cmp(&at(a))
        });
        Ok(briefs)
    }

    /// DescribeServiceDeployments for `arns` (20 per call), as the JSON AWS sent.
    pub async fn describe_service_deployments(&self, arns: &[String]) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_SERVICE_DEPLOYMENTS_BATCH) {
            let described = send_captured!(
                self.client
                    .describe_service_deployments()
                    .set_service_deployment_arns(Some(batch.to_vec()))
                    .customize(),
                "ecs:DescribeServiceDeployments"
            );
            out.extend(
                described["serviceDeployments"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            );
        }
        Ok(out)
    }

    /// The task definition of each service revision ARN in `arns` that DescribeServiceRevisions
    /// knows (20 per call).
    pub async fn revision_task_definitions(
        &self,
        arns: &[String],
    ) -> Result<std::collections::HashMap<String, String>> {
        let mut out = std::collections::HashMap::new();
        for batch in arns.chunks(DESCRIBE_SERVICE_DEPLOYMENTS_BATCH) {
            let described = send_captured!(
                self.client
                    .describe_service_revisions()
                    .set_service_revision_arns(Some(batch.to_vec()))
                    .customize(),
                "ecs:DescribeServiceRevisions"
            );
            for r in described["serviceRevisions"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let (Some(arn), Some(td)) = (
                    r["serviceRevisionArn"].as_str(),
                    r["taskDefinition"].as_str(),
                ) {
                    out.insert(arn.to_string(), td.to_string());
                }
            }
        }
        Ok(out)
    }

    /// StopServiceDeployment with stopType ROLLBACK: ECS returns traffic and tasks to the
    /// revision the service ran before.
    pub async fn roll_back_service_deployment(&self, arn: &str) -> Result<()> {
        crate::aws::pace::ecs("ecs:StopServiceDeployment").await;
        self.client
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(aws_sdk_ecs::types::StopServiceDeploymentStopType::Rollback)
            .send()
            .await
            .map_err(|e| error("ecs:StopServiceDeployment", e))?;
        Ok(())
    }

    /// ContinueServiceDeployment: answers the pause hook `hook_id` of deployment `arn`, to go
    /// on or (`rollback`) to roll back.
    pub async fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> Result<()> {
        use aws_sdk_ecs::types::DeploymentLifecycleHookAction as Action;
        crate::aws::pace::ecs("ecs:ContinueServiceDeployment").await;
        self.client
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook_id)
            .action(if rollback {
                Action::Rollback
            } else {
                Action::Continue
            })
            .send()
            .await
            .map_err(|e| error("ecs:ContinueServiceDeployment", e))?;
        Ok(())
    }

    /// Task definition ARNs of a family, newest first.
    pub async fn list_task_definitions(&self, family: &str) -> Result<Vec<String>> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            crate::aws::pace::ecs("ecs:ListTaskDefinitions").await;
            let page = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .sort(aws_sdk_ecs::types::SortOrder::Desc)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| error("ecs:ListTaskDefinitions", e))?;
            arns.extend(
                page.task_definition_arns
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|a| crate::aws::model::family_of(a) == family),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(arns);
            }
        }
    }
}

impl Ecs {
    /// RunTask with `document` (a RunTask request body, built by [`crate::operate::jobs`]) as the body.
    /// Returns AWS's answer: `tasks` and `failures`.
    pub async fn run_task(&self, document: &Value) -> Result<Value> {
        Ok(send_captured!(
            self.client
                .run_task()
                .cluster(&self.cluster)
                .task_definition(document["taskDefinition"].as_str().unwrap_or_default())
                .customize()
                .interceptor(ReplaceBody::new(document)),
            "ecs:RunTask"
        ))
    }

    /// StopTask for `task` (id or ARN), with `reason` shown in the stopped task.
    pub async fn stop_task(&self, task: &str, reason: &str) -> Result<()> {
        crate::aws::pace::ecs("ecs:StopTask").await;
        self.client
            .stop_task()
            .cluster(&self.cluster)
            .task(task)
            .reason(reason)
            .send()
            .await
            .map_err(|e| error("ecs:StopTask", e))?;
        Ok(())
    }

    /// Tasks as the JSON AWS sent (fields [`Task`] does not model, such as `managedAgents`,
    /// `enableExecuteCommand` and `platformVersion`), in batches of 100.
    pub async fn describe_tasks_raw(&self, arns: &[String]) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(arns.len());
        for batch in arns.chunks(DESCRIBE_TASKS_BATCH) {
            let body = send_captured!(
                self.client
                    .describe_tasks()
                    .cluster(&self.cluster)
                    .set_tasks(Some(batch.to_vec()))
                    .customize(),
                "ecs:DescribeTasks"
            );
            out.extend(body["tasks"].as_array().cloned().unwrap_or_default());
        }
        Ok(out)
    }
}

fn service_of(body: Value, operation: &str) -> Result<Service> {
    serde_json::from_value(body["service"].clone())
        .map_err(|e| Error::aws(format!("{operation}: unexpected answer: {e}")))
}
