//! The project connected to one environment: wharf.toml, the environment's SDK clients (after
//! the account guard), the template inputs resolved from Terraform outputs and SSM, and the
//! cluster. Deploys, jobs, logs, exec and local runs all start from a [`Connected`].

use crate::aws::ecs::Ecs;
use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::project::manifest::{Environment, Manifest};
use crate::project::render::{self, Resolved, Unit};
use crate::settings::Settings;

/// An environment wharf is connected to: the project, the SDK clients, the resolved template
/// inputs and the cluster.
pub struct Connected {
    pub manifest: Manifest,
    pub env_name: String,
    pub clients: Clients,
    pub resolved: Resolved,
    pub ecs: Ecs,
    pub tag: Option<String>,
}

impl Connected {
    /// Loads the project, connects to `--env`, checks the account guard, reads Terraform outputs
    /// and the SSM values `units` need, and renders the cluster name. Every verb that acts on
    /// an environment's ECS starts here.
    pub async fn open(
        ctx: &Settings,
        tag: Option<String>,
        units: &[Unit<'_>],
    ) -> Result<Connected> {
        Self::open_with_outputs(ctx, tag, units, None).await
    }

    /// Like [`Connected::open`], with the Terraform outputs given instead of read from the
    /// environment's state (`wharf plan`: the outputs its saved plan would leave).
    pub async fn open_with_outputs(
        ctx: &Settings,
        tag: Option<String>,
        units: &[Unit<'_>],
        tf: Option<crate::terraform::Outputs>,
    ) -> Result<Connected> {
        let manifest = Manifest::load(&ctx.file)?;
        let env_name = ctx.env_name()?.to_string();
        let environment = manifest.environment(&env_name)?;
        let clients = Clients::connect(&environment.aws(ctx)).await?;
        clients
            .check_account(&env_name, environment.account_guard())
            .await?;
        let resolved =
            Resolved::fetch_with(&manifest, &env_name, tag.as_deref(), &clients, units, tf).await?;
        // The environment's `cluster`, else Terraform's `cluster_name` output (the seed layout),
        // else ECS's default cluster.
        let cluster = match &environment.cluster {
            Some(c) => {
                let inputs = resolved.inputs(&manifest, &env_name, tag.as_deref());
                render::render_value(&inputs, "cluster", c)?
            }
            None => resolved
                .tf
                .as_ref()
                .and_then(|tf| tf.get("cluster_name"))
                .and_then(|v| v.as_str())
                .unwrap_or("default")
                .to_string(),
        };
        let ecs = Ecs::new(clients.ecs.clone(), cluster);
        Ok(Connected {
            manifest,
            env_name,
            clients,
            resolved,
            ecs,
            tag,
        })
    }

    pub fn environment(&self) -> &Environment {
        &self.manifest.doc.environments[&self.env_name]
    }

    /// The services Terraform owns: the entries of its `services` output (label -> ECS name)
    /// that wharf.toml does not deploy itself.
    pub fn terraform_services(&self) -> Result<Vec<(String, String)>> {
        let Some(tf) = &self.resolved.tf else {
            return Ok(Vec::new());
        };
        Ok(crate::terraform::services_output(tf)?
            .into_iter()
            .filter(|(label, _)| !self.manifest.doc.services.contains_key(label))
            .collect())
    }

    /// ECS service names of the services a command acts on: the ones `named` (all when none),
    /// among the `[services]` of wharf.toml (in rollout order) and the services Terraform owns
    /// (a name is a label of its `services` output or the ECS name).
    pub fn select_service_names(&self, named: &[String]) -> Result<Vec<String>> {
        let owned = self.terraform_services()?;
        let doc = &self.manifest.doc;
        if doc.services.is_empty() && owned.is_empty() {
            return Err(Error::usage(format!(
                "{} defines no services, and Terraform reports none (no `services` output)",
                self.manifest.path.display()
            ))
            .with_hint("add [services.NAME] to wharf.toml, or a `services` output (label = ECS service name) to the Terraform configuration"));
        }
        let order: Vec<String> = self
            .manifest
            .service_order()
            .into_iter()
            .map(str::to_string)
            .collect();
        if named.is_empty() {
            let mut names = self.service_names(&order)?;
            names.extend(owned.into_iter().map(|(_, name)| name));
            return Ok(names);
        }
        let mut names = Vec::new();
        for n in named {
            if doc.services.contains_key(n) {
                names.extend(self.service_names(std::slice::from_ref(n))?);
            } else if let Some((_, name)) = owned.iter().find(|(l, e)| l == n || e == n) {
                names.push(name.clone());
            } else if owned.is_empty() {
                return Err(self.manifest.unknown_unit(n));
            } else {
                let mut known: Vec<&str> = order.iter().map(String::as_str).collect();
                known.extend(owned.iter().map(|(l, _)| l.as_str()));
                let error = Error::usage(format!(
                    "no service `{n}` in {} or in Terraform's `services` output (known: {})",
                    self.manifest.path.display(),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
                return Err(match crate::text::did_you_mean(n, known.iter().copied()) {
                    Some(s) => error.with_hint(format!("did you mean `{s}`?")),
                    None => error,
                });
            }
        }
        Ok(names)
    }

    /// ECS service names of `keys` (the `name` template, or the key).
    pub fn service_names(&self, keys: &[String]) -> Result<Vec<String>> {
        let inputs = self
            .resolved
            .inputs(&self.manifest, &self.env_name, self.tag.as_deref());
        keys.iter()
            .map(|k| match &self.manifest.doc.services[k].name {
                Some(n) => render::render_value(&inputs, "service name", n),
                None => Ok(k.clone()),
            })
            .collect()
    }
}
