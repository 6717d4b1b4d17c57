//! The project connected to one environment: wharf.toml, the environment's SDK clients (after
//! the account guard), the template inputs resolved from Terraform outputs and SSM, and the
//! cluster. Deploys, jobs, logs, exec and local runs all start from a [`Connected`].

use crate::aws::ecs::Ecs;
use crate::aws::Clients;
use crate::error::Result;
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
        let manifest = Manifest::load(&ctx.file)?;
        let env_name = ctx.env_name()?.to_string();
        let environment = manifest.environment(&env_name)?;
        let clients = Clients::connect(&environment.aws(ctx)).await?;
        clients
            .check_account(&env_name, environment.account_guard())
            .await?;
        let resolved =
            Resolved::fetch(&manifest, &env_name, tag.as_deref(), &clients, units).await?;
        let cluster = match &environment.cluster {
            Some(c) => {
                let inputs = resolved.inputs(&manifest, &env_name, tag.as_deref());
                render::render_value(&inputs, "cluster", c)?
            }
            None => "default".to_string(),
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
