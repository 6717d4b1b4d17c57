//! Elastic Load Balancing, as far as wharf reads it: the health of a target group's targets.

use serde_json::{json, Value};

use crate::aws::error;
use crate::error::Result;

/// The targets of `target_group` (an ARN) with their state and ELB's reason, one JSON object
/// each: `target_group`, `target`, `port`, `state`, `reason`.
pub async fn target_health(
    client: &aws_sdk_elasticloadbalancingv2::Client,
    target_group: &str,
) -> Result<Vec<Value>> {
    let answer = client
        .describe_target_health()
        .target_group_arn(target_group)
        .send()
        .await
        .map_err(|e| error("elbv2:DescribeTargetHealth", e))?;
    Ok(answer
        .target_health_descriptions()
        .iter()
        .map(|d| {
            json!({
                "target_group": target_group,
                "target": d.target().and_then(|t| t.id()).unwrap_or_default(),
                "port": d.target().and_then(|t| t.port()),
                "state": d.target_health().and_then(|t| t.state()).map(|s| s.as_str().to_string()),
                "reason": d.target_health().and_then(|t| t.description()).map(str::to_string),
            })
        })
        .collect())
}
