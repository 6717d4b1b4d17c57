//! EC2 Auto Scaling, as far as `wharf cluster roll` uses it: which group an instance belongs
//! to and which launch template version it was launched from, the group's version, and the
//! termination that keeps the desired capacity (so the group launches a replacement).

use std::collections::HashMap;

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_autoscaling::Client;

use crate::aws::error;
use crate::error::{Error, Result};

/// An instance as its Auto Scaling group sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupInstance {
    pub instance_id: String,
    pub group: String,
    /// The launch template version the instance was launched from.
    pub launch_template_version: Option<String>,
}

/// An Auto Scaling group's launch template and capacity.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub launch_template_id: Option<String>,
    pub launch_template_name: Option<String>,
    /// As the group names it: a number, `$Latest` or `$Default`.
    pub launch_template_version: Option<String>,
    pub desired_capacity: i32,
}

/// The groups of `instance_ids` (instances in no group are left out).
pub async fn instances(
    client: &Client,
    instance_ids: &[String],
) -> Result<HashMap<String, GroupInstance>> {
    let mut out = HashMap::new();
    // DescribeAutoScalingInstances takes at most 50 instance ids per call.
    for batch in instance_ids.chunks(50) {
        let answer = client
            .describe_auto_scaling_instances()
            .set_instance_ids(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| error("autoscaling:DescribeAutoScalingInstances", e))?;
        for i in answer.auto_scaling_instances() {
            let (Some(id), Some(group)) = (i.instance_id(), i.auto_scaling_group_name()) else {
                continue;
            };
            out.insert(
                id.to_string(),
                GroupInstance {
                    instance_id: id.to_string(),
                    group: group.to_string(),
                    launch_template_version: i
                        .launch_template()
                        .and_then(|t| t.version())
                        .map(str::to_string),
                },
            );
        }
    }
    Ok(out)
}

/// The Auto Scaling group `name`.
pub async fn group(client: &Client, name: &str) -> Result<Group> {
    let answer = client
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(|e| error("autoscaling:DescribeAutoScalingGroups", e))?;
    let g = answer
        .auto_scaling_groups()
        .first()
        .ok_or_else(|| Error::aws(format!("Auto Scaling group {name} does not exist")))?;
    let lt = g.launch_template().cloned().or_else(|| {
        g.mixed_instances_policy()
            .and_then(|p| p.launch_template())
            .and_then(|t| t.launch_template_specification())
            .cloned()
    });
    Ok(Group {
        name: name.to_string(),
        launch_template_id: lt
            .as_ref()
            .and_then(|t| t.launch_template_id())
            .map(str::to_string),
        launch_template_name: lt
            .as_ref()
            .and_then(|t| t.launch_template_name())
            .map(str::to_string),
        launch_template_version: lt.as_ref().and_then(|t| t.version()).map(str::to_string),
        desired_capacity: g.desired_capacity().unwrap_or(0),
    })
}

/// Makes `group` launch from launch template version `version` from now on.
pub async fn set_launch_template_version(
    client: &Client,
    group: &Group,
    version: &str,
) -> Result<()> {
    let spec = LaunchTemplateSpecification::builder()
        .set_launch_template_id(group.launch_template_id.clone())
        .set_launch_template_name(if group.launch_template_id.is_some() {
            None
        } else {
            group.launch_template_name.clone()
        })
        .version(version)
        .build();
    client
        .update_auto_scaling_group()
        .auto_scaling_group_name(&group.name)
        .launch_template(spec)
        .send()
        .await
        .map_err(|e| error("autoscaling:UpdateAutoScalingGroup", e))?;
    Ok(())
}

/// Terminates `instance_id` without decrementing the desired capacity: the group launches a
/// replacement.
pub async fn terminate_keeping_capacity(client: &Client, instance_id: &str) -> Result<()> {
    client
        .terminate_instance_in_auto_scaling_group()
        .instance_id(instance_id)
        .should_decrement_desired_capacity(false)
        .send()
        .await
        .map_err(|e| error("autoscaling:TerminateInstanceInAutoScalingGroup", e))?;
    Ok(())
}
