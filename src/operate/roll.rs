//! `wharf cluster roll`: replace a cluster's EC2 container instances (a new AMI, a new launch
//! template version) one batch at a time without a service dropping below its
//! minimumHealthyPercent.
//!
//! A batch is drained (ECS moves its service tasks elsewhere within each service's deployment
//! configuration), the services are waited on until steady, the instances are terminated
//! through their Auto Scaling group without decrementing its capacity (so it launches
//! replacements), and the replacements are waited on until they register with the cluster.
//! The choice of instances and batches is a plan (data, printed by `--dry-run`, tested without
//! AWS); the roll executes it.
//!
//! Ctrl-C or a timeout while a batch drains sets it back to ACTIVE: no instance is left drained
//! without a replacement. Once terminated, an instance's replacement comes from its group
//! whatever wharf does. A second run picks up what is still outdated, and instances left
//! DRAINING (a killed run) first.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::aws::autoscaling::{self, Group, GroupInstance};
use crate::aws::ecs::{Described, Ecs};
use crate::aws::model::ContainerInstance;
use crate::error::{Error, Result};
use crate::interrupt::Interrupt;
use crate::settings::Settings;

/// Which instances to replace.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Selection {
    /// Instances not launched from their group's launch template version (a number).
    #[default]
    OutdatedTemplate,
    /// Instances whose AMI (`ecs.ami-id`) is not this one.
    NotAmi(String),
    /// Instances not launched from this launch template version (the groups are moved to it).
    NotVersion(String),
    /// Every instance.
    All,
}

#[derive(Debug, Clone)]
pub struct RollOptions {
    pub selection: Selection,
    pub batch_size: usize,
    pub dry_run: bool,
    /// Per batch: for the drain, and for the replacements to register.
    pub timeout: Duration,
}

/// One container instance as the roll sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub instance: ContainerInstance,
    pub group: Option<GroupInstance>,
}

impl Member {
    fn id(&self) -> &str {
        &self.instance.ec2_instance_id
    }

    fn describe(&self) -> String {
        format!(
            "{} ({}{})",
            self.id(),
            self.instance.attribute("ecs.ami-id").unwrap_or("AMI ?"),
            self.group
                .as_ref()
                .and_then(|g| g.launch_template_version.as_deref())
                .map(|v| format!(", launch template version {v}"))
                .unwrap_or_default()
        )
    }
}

/// What a roll will do.
#[derive(Debug, Clone, PartialEq)]
pub struct RollPlan {
    pub batches: Vec<Vec<Member>>,
    /// Instances left alone, with why.
    pub kept: Vec<(Member, String)>,
    /// Groups to move to a launch template version first: (group, version).
    pub set_version: Vec<(String, String)>,
}

/// Chooses the instances to replace and cuts them into batches, oldest first; instances already
/// DRAINING (an interrupted roll) come first whatever the selection.
pub fn plan(
    members: &[Member],
    groups: &HashMap<String, Group>,
    selection: &Selection,
    batch_size: usize,
) -> Result<RollPlan> {
    let mut chosen = Vec::new();
    let mut kept = Vec::new();
    let mut set_version = Vec::new();
    if let Selection::NotVersion(v) = selection {
        for g in groups.values() {
            if g.launch_template_version.as_deref() != Some(v.as_str()) {
                set_version.push((g.name.clone(), v.clone()));
            }
        }
        set_version.sort();
    }
    for m in members {
        let Some(gi) = &m.group else {
            kept.push((
                m.clone(),
                "not in an Auto Scaling group: wharf cannot replace it".to_string(),
            ));
            continue;
        };
        let outdated = m.instance.status == "DRAINING"
            || match selection {
                Selection::All => true,
                Selection::NotAmi(ami) => m.instance.attribute("ecs.ami-id") != Some(ami.as_str()),
                Selection::NotVersion(v) => {
                    gi.launch_template_version.as_deref() != Some(v.as_str())
                }
                Selection::OutdatedTemplate => {
                    let group = groups.get(&gi.group);
                    let want = group.and_then(|g| g.launch_template_version.clone());
                    match want {
                        Some(v) if v.parse::<u64>().is_ok() => gi.launch_template_version.as_deref() != Some(v.as_str()),
                        other => {
                            return Err(Error::usage(format!(
                                "Auto Scaling group {} launches launch template version {}: wharf cannot tell which instances are older",
                                gi.group,
                                other.as_deref().unwrap_or("(none: no launch template)")
                            ))
                            .with_hint("name what to replace: --ami AMI, --replace-with VERSION, or --all"))
                        }
                    }
                }
            };
        if outdated {
            chosen.push(m.clone());
        } else {
            kept.push((m.clone(), "up to date".to_string()));
        }
    }
    chosen.sort_by(|a, b| {
        (a.instance.status != "DRAINING")
            .cmp(&(b.instance.status != "DRAINING"))
            .then(
                a.instance
                    .registered_at
                    .partial_cmp(&b.instance.registered_at)
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
    });
    let batches = chosen
        .chunks(batch_size.max(1))
        .map(|c| c.to_vec())
        .collect();
    Ok(RollPlan {
        batches,
        kept,
        set_version,
    })
}

impl RollPlan {
    pub fn to_json(&self) -> Value {
        json!({
            "set_launch_template_version": self.set_version.iter()
                .map(|(g, v)| json!({"group": g, "version": v})).collect::<Vec<_>>(),
            "batches": self.batches.iter().map(|b| b.iter().map(member_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "kept": self.kept.iter().map(|(m, why)| json!({"instance": member_json(m), "why": why})).collect::<Vec<_>>(),
        })
    }

    /// The plan for people, one line each.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (g, v) in &self.set_version {
            out.push(format!(
                "Auto Scaling group {g}: launch from launch template version {v}"
            ));
        }
        for (i, b) in self.batches.iter().enumerate() {
            let names: Vec<String> = b.iter().map(Member::describe).collect();
            out.push(format!(
                "batch {}/{}: {}",
                i + 1,
                self.batches.len(),
                names.join(", ")
            ));
        }
        for (m, why) in &self.kept {
            out.push(format!("kept: {}: {why}", m.describe()));
        }
        if self.batches.is_empty() {
            out.push("nothing to replace".to_string());
        }
        out
    }
}

fn member_json(m: &Member) -> Value {
    json!({
        "ec2_instance_id": m.instance.ec2_instance_id,
        "container_instance_arn": m.instance.container_instance_arn,
        "status": m.instance.status,
        "ami": m.instance.attribute("ecs.ami-id"),
        "group": m.group.as_ref().map(|g| g.group.clone()),
        "launch_template_version": m.group.as_ref().and_then(|g| g.launch_template_version.clone()),
    })
}

/// The cluster's instances with their groups, and those groups.
pub async fn survey(
    ecs: &Ecs,
    asg: &aws_sdk_autoscaling::Client,
) -> Result<(Vec<Member>, HashMap<String, Group>)> {
    let instances = ecs.container_instances().await?;
    let ids: Vec<String> = instances
        .iter()
        .map(|i| i.ec2_instance_id.clone())
        .collect();
    let mut by_id = autoscaling::instances(asg, &ids).await?;
    let mut groups = HashMap::new();
    let names: HashSet<String> = by_id.values().map(|g| g.group.clone()).collect();
    for name in names {
        groups.insert(name.clone(), autoscaling::group(asg, &name).await?);
    }
    let members = instances
        .into_iter()
        .map(|i| Member {
            group: by_id.remove(&i.ec2_instance_id),
            instance: i,
        })
        .collect();
    Ok((members, groups))
}

const POLL: Duration = Duration::from_millis(500);

/// Runs `plan`: batch by batch, drain → services steady → terminate → replacements registered.
/// Returns the instances replaced.
pub async fn execute(
    ctx: &Settings,
    ecs: &Ecs,
    asg: &aws_sdk_autoscaling::Client,
    groups: &HashMap<String, Group>,
    plan: &RollPlan,
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<Vec<String>> {
    for (name, version) in &plan.set_version {
        autoscaling::set_launch_template_version(asg, &groups[name], version).await?;
        ctx.out.status(format!(
            "Auto Scaling group {name} now launches launch template version {version}"
        ));
    }
    let mut replaced = Vec::new();
    let total = plan.batches.len();
    for (i, batch) in plan.batches.iter().enumerate() {
        let label = format!("batch {}/{total}", i + 1);
        let arns: Vec<String> = batch
            .iter()
            .map(|m| m.instance.container_instance_arn.clone())
            .collect();
        let ids: Vec<String> = batch.iter().map(|m| m.id().to_string()).collect();
        let before = ecs.container_instances().await?;
        let capacity = before
            .iter()
            .filter(|c| c.status == "ACTIVE" || c.status == "DRAINING")
            .count();
        ecs.set_container_instances_state(&arns, true).await?;
        ctx.out
            .status(format!("{label}: draining {}", ids.join(", ")));
        if let Err(e) = wait_drained(ctx, ecs, &arns, timeout, interrupt, &label).await {
            // Nothing of this batch is terminated yet: give it back to the scheduler.
            ecs.set_container_instances_state(&arns, false).await?;
            ctx.out
                .status(format!("{label}: {} set back to ACTIVE", ids.join(", ")));
            return Err(e);
        }
        for id in &ids {
            autoscaling::terminate_keeping_capacity(asg, id).await?;
        }
        ctx.out.status(format!(
            "{label}: terminated {} (their Auto Scaling groups launch replacements)",
            ids.join(", ")
        ));
        let known: HashSet<String> = before.iter().map(|c| c.ec2_instance_id.clone()).collect();
        wait_replacements(ctx, ecs, &ids, &known, capacity, timeout, interrupt, &label).await?;
        replaced.extend(ids);
    }
    Ok(replaced)
}

/// Until no service task runs on `arns` and every service of the cluster is steady.
async fn wait_drained(
    ctx: &Settings,
    ecs: &Ecs,
    arns: &[String],
    timeout: Duration,
    interrupt: &Interrupt,
    label: &str,
) -> Result<()> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        if interrupt.is_set() {
            return Err(Error::interrupted(format!(
                "{label}: interrupted while draining"
            )));
        }
        let running = ecs.list_tasks(None, None, false).await?;
        let tasks = ecs.describe_tasks(&running).await?;
        let left = tasks
            .iter()
            .filter(|t| {
                t.container_instance_arn
                    .as_ref()
                    .is_some_and(|a| arns.contains(a))
                    && t.group
                        .as_deref()
                        .is_some_and(|g| g.starts_with("service:"))
            })
            .count();
        let unsteady = unsteady_services(ecs).await?;
        let now = if left > 0 {
            format!("{left} service tasks still on the drained instances")
        } else if !unsteady.is_empty() {
            format!("waiting for {} to be steady", unsteady.join(", "))
        } else {
            ctx.out.status(format!("{label}: drained; services steady"));
            return Ok(());
        };
        if now != last {
            ctx.out.status(format!("{label}: {now}"));
            last = now;
        }
        if start.elapsed() >= timeout {
            return Err(Error::timeout(format!(
                "{label}: not drained after {}: {last}",
                humantime::format_duration(timeout)
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = interrupt.wait() => {}
        }
    }
}

/// Services of the cluster that are not steady (one deployment, running = desired, none pending).
async fn unsteady_services(ecs: &Ecs) -> Result<Vec<String>> {
    let names = ecs.list_services().await?;
    let mut out = Vec::new();
    for d in ecs.describe_services(&names).await? {
        if let Described::Found(s, _) = d {
            if s.deployments.len() != 1
                || s.running_count != s.desired_count
                || s.pending_count != 0
            {
                out.push(s.service_name.clone());
            }
        }
    }
    Ok(out)
}

/// Until the terminated instances are gone from the cluster and as many ACTIVE instances as
/// before the batch are registered.
#[allow(clippy::too_many_arguments)]
async fn wait_replacements(
    ctx: &Settings,
    ecs: &Ecs,
    terminated: &[String],
    known: &HashSet<String>,
    capacity: usize,
    timeout: Duration,
    interrupt: &Interrupt,
    label: &str,
) -> Result<()> {
    let start = Instant::now();
    let mut told: HashSet<String> = HashSet::new();
    loop {
        let now = ecs.container_instances().await?;
        for c in &now {
            if !known.contains(&c.ec2_instance_id) && told.insert(c.ec2_instance_id.clone()) {
                ctx.out.status(format!(
                    "{label}: {} registered ({})",
                    c.ec2_instance_id,
                    c.attribute("ecs.ami-id").unwrap_or("AMI ?")
                ));
            }
        }
        let gone = !now.iter().any(|c| terminated.contains(&c.ec2_instance_id));
        let active = now.iter().filter(|c| c.status == "ACTIVE").count();
        if gone && active >= capacity {
            return Ok(());
        }
        if interrupt.is_set() {
            return Err(Error::interrupted(format!(
                "{label}: interrupted while the replacements register (their Auto Scaling groups launch them); run the roll again to go on"
            )));
        }
        if start.elapsed() >= timeout {
            return Err(Error::timeout(format!(
                "{label}: {active} of {capacity} instances ACTIVE after {}: the replacements did not register",
                humantime::format_duration(timeout)
            ))
            .with_hint("check the Auto Scaling group's activities and the instances' ECS agent (ECS_CLUSTER in the user data)"));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = interrupt.wait() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::Attribute;

    fn member(id: &str, status: &str, ami: &str, version: Option<&str>, at: f64) -> Member {
        Member {
            instance: ContainerInstance {
                container_instance_arn: format!("arn:ci/{id}"),
                ec2_instance_id: id.into(),
                status: status.into(),
                attributes: vec![Attribute {
                    name: "ecs.ami-id".into(),
                    value: Some(ami.into()),
                }],
                registered_at: Some(at),
                ..Default::default()
            },
            group: version.map(|v| GroupInstance {
                instance_id: id.into(),
                group: "asg".into(),
                launch_template_version: Some(v.into()),
            }),
        }
    }

    fn groups(version: &str) -> HashMap<String, Group> {
        HashMap::from([(
            "asg".to_string(),
            Group {
                name: "asg".into(),
                launch_template_id: Some("lt-1".into()),
                launch_template_name: None,
                launch_template_version: Some(version.into()),
                desired_capacity: 3,
            },
        )])
    }

    fn ids(plan: &RollPlan) -> Vec<Vec<&str>> {
        plan.batches
            .iter()
            .map(|b| b.iter().map(|m| m.id()).collect())
            .collect()
    }

    #[test]
    fn outdated_instances_in_batches_oldest_first_draining_ones_before() {
        let members = [
            member("i-c", "ACTIVE", "ami-old", Some("1"), 3.0),
            member("i-a", "ACTIVE", "ami-old", Some("1"), 1.0),
            member("i-new", "ACTIVE", "ami-new", Some("2"), 0.5),
            member("i-d", "DRAINING", "ami-new", Some("2"), 4.0),
            member("i-x", "ACTIVE", "ami-old", None, 0.1),
        ];
        let p = plan(&members, &groups("2"), &Selection::OutdatedTemplate, 2).unwrap();
        assert_eq!(ids(&p), vec![vec!["i-d", "i-a"], vec!["i-c"]]);
        let kept: Vec<&str> = p.kept.iter().map(|(m, _)| m.id()).collect();
        assert_eq!(kept, vec!["i-new", "i-x"]);
        assert!(p.kept[1].1.contains("not in an Auto Scaling group"));
        assert!(p.set_version.is_empty());
    }

    #[test]
    fn selection_by_ami_version_or_all() {
        let members = [
            member("i-a", "ACTIVE", "ami-old", Some("1"), 1.0),
            member("i-b", "ACTIVE", "ami-new", Some("1"), 2.0),
        ];
        let p = plan(
            &members,
            &groups("1"),
            &Selection::NotAmi("ami-new".into()),
            1,
        )
        .unwrap();
        assert_eq!(ids(&p), vec![vec!["i-a"]]);
        let p = plan(
            &members,
            &groups("1"),
            &Selection::NotVersion("3".into()),
            1,
        )
        .unwrap();
        assert_eq!(ids(&p), vec![vec!["i-a"], vec!["i-b"]]);
        assert_eq!(p.set_version, vec![("asg".to_string(), "3".to_string())]);
        let p = plan(&members, &groups("1"), &Selection::All, 5).unwrap();
        assert_eq!(ids(&p), vec![vec!["i-a", "i-b"]]);
        let p = plan(&members, &groups("1"), &Selection::OutdatedTemplate, 1).unwrap();
        assert!(p.batches.is_empty());
        let lines = p.lines();
        assert!(lines
            .contains(&"kept: i-b (ami-new, launch template version 1): up to date".to_string()));
        assert_eq!(lines.last().unwrap(), "nothing to replace");
    }

    #[test]
    fn a_group_on_latest_needs_a_selection() {
        let members = [member("i-a", "ACTIVE", "ami-old", Some("1"), 1.0)];
        let e = plan(
            &members,
            &groups("$Latest"),
            &Selection::OutdatedTemplate,
            1,
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("$Latest"), "{}", e.message);
    }
}
