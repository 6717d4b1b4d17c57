//! ECS objects as wharf reads them: the parts of services, deployments, tasks and events that the
//! rollout logic needs, deserialized from the JSON AWS sends (camelCase, epoch-second timestamps).
//!
//! Every field is optional or defaulted: AWS omits what is empty, and wharf must never fail to read
//! a snapshot because a field it does not need is missing.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub service_arn: String,
    pub service_name: String,
    pub cluster_arn: String,
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub running_count: i64,
    pub pending_count: i64,
    pub launch_type: Option<String>,
    pub deployments: Vec<Deployment>,
    pub events: Vec<ServiceEvent>,
    pub deployment_configuration: Option<DeploymentConfiguration>,
    pub load_balancers: Vec<serde_json::Value>,
    /// Empty for a service with a launch type.
    pub capacity_provider_strategy: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentConfiguration {
    pub deployment_circuit_breaker: Option<CircuitBreaker>,
    pub maximum_percent: Option<i64>,
    pub minimum_healthy_percent: Option<i64>,
    /// ROLLING (also when absent), BLUE_GREEN, LINEAR or CANARY.
    pub strategy: Option<String>,
    pub bake_time_in_minutes: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct CircuitBreaker {
    pub enable: bool,
    pub rollback: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Deployment {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired_count: i64,
    pub pending_count: i64,
    pub running_count: i64,
    pub failed_tasks: i64,
    pub created_at: Option<f64>,
    pub updated_at: Option<f64>,
    /// IN_PROGRESS, COMPLETED or FAILED (absent for other deployment controllers).
    pub rollout_state: Option<String>,
    pub rollout_state_reason: Option<String>,
}

/// An EC2 container instance of a cluster (DescribeContainerInstances).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerInstance {
    pub container_instance_arn: String,
    pub ec2_instance_id: String,
    /// ACTIVE, DRAINING, REGISTERING, DEREGISTERING, INACTIVE, ...
    pub status: String,
    pub agent_connected: bool,
    pub running_tasks_count: i64,
    pub pending_tasks_count: i64,
    pub registered_resources: Vec<Resource>,
    pub remaining_resources: Vec<Resource>,
    pub attributes: Vec<Attribute>,
    pub registered_at: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    pub name: String,
    pub integer_value: i64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Attribute {
    pub name: String,
    pub value: Option<String>,
}

impl ContainerInstance {
    /// The value of attribute `name` (`ecs.ami-id`, `ecs.instance-type`, custom ones).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_deref())
    }

    /// A registered resource (`CPU`, `MEMORY`) in ECS's units.
    pub fn registered(&self, name: &str) -> i64 {
        resource(&self.registered_resources, name)
    }

    /// A remaining resource (`CPU`, `MEMORY`) in ECS's units.
    pub fn remaining(&self, name: &str) -> i64 {
        resource(&self.remaining_resources, name)
    }
}

fn resource(list: &[Resource], name: &str) -> i64 {
    list.iter()
        .find(|r| r.name == name)
        .map_or(0, |r| r.integer_value)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceEvent {
    pub id: String,
    pub created_at: Option<f64>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub task_arn: String,
    pub task_definition_arn: String,
    pub last_status: String,
    pub desired_status: String,
    pub started_by: Option<String>,
    pub group: Option<String>,
    /// The EC2 container instance the task runs on (EC2 launch type).
    pub container_instance_arn: Option<String>,
    /// The capacity provider the task was started on (capacity provider strategies).
    pub capacity_provider_name: Option<String>,
    pub health_status: Option<String>,
    pub created_at: Option<f64>,
    pub started_at: Option<f64>,
    pub stopped_at: Option<f64>,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub last_status: Option<String>,
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
    pub health_status: Option<String>,
}

impl Service {
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    pub fn deployment(&self, id: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.id == id)
    }

    /// Whether ECS deploys the service with a strategy that moves traffic between two target
    /// groups (BLUE_GREEN, LINEAR, CANARY), followed through its service deployments.
    pub fn shifts_traffic(&self) -> bool {
        self.deployment_configuration
            .as_ref()
            .and_then(|c| c.strategy.as_deref())
            .is_some_and(|s| matches!(s, "BLUE_GREEN" | "LINEAR" | "CANARY"))
    }

    pub fn circuit_breaker(&self) -> CircuitBreaker {
        self.deployment_configuration
            .as_ref()
            .and_then(|c| c.deployment_circuit_breaker.clone())
            .unwrap_or_default()
    }
}

impl Task {
    /// The last part of the task ARN, as ECS shows it in events and log streams.
    pub fn id(&self) -> &str {
        short_id(&self.task_arn)
    }
}

/// The part after the last `/` of an ARN (task id, service name).
pub fn short_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `family:revision` of a task definition ARN.
pub fn family_revision(arn: &str) -> &str {
    short_id(arn)
}

/// The family of a task definition ARN or `family:revision`.
pub fn family_of(arn: &str) -> &str {
    let last = short_id(arn);
    last.rsplit_once(':').map(|(f, _)| f).unwrap_or(last)
}

/// The revision number of a task definition ARN or `family:revision`.
pub fn revision_of(arn: &str) -> Option<u64> {
    short_id(arn).rsplit_once(':')?.1.parse().ok()
}
