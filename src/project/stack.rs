//! The project's Terraform stack for one environment, as wharf.toml says (`[terraform]`, or a
//! seed-layout `terraform/` folder next to it), and its outputs for templates. Running
//! Terraform is [`crate::terraform`]'s.

use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::terraform::{Outputs, Stack, DEFAULT_TAG_VAR, SEED_DIR};

/// The Terraform configuration of `manifest` for `env`: `[terraform]`, or a seed-layout
/// `terraform/` folder next to wharf.toml. None when the project has no Terraform.
pub fn of(manifest: &Manifest, env: &str) -> Result<Option<Stack>> {
    let Some(tf) = &manifest.doc.terraform else {
        let dir = manifest.resolve_path(SEED_DIR);
        if !dir.is_dir() {
            return Ok(None);
        }
        let var_file = format!("terraform.{env}.tfvars");
        return Ok(Some(Stack {
            var_file: dir.join(&var_file).is_file().then_some(var_file),
            dir,
            workspace: env.to_string(),
            tag_var: DEFAULT_TAG_VAR.into(),
            state: None,
            workspace_key_prefix: "env:".into(),
        }));
    };
    let dir = manifest.resolve_path(tf.dir.get_ref());
    let var_file = match &tf.var_file {
        Some(v) => {
            let name = render_env(manifest, env, v)?;
            if !dir.join(&name).is_file() {
                return Err(manifest.error_at(
                    v.span(),
                    &format!(
                        "var file {} for environment `{env}` does not exist",
                        dir.join(&name).display()
                    ),
                ));
            }
            Some(name)
        }
        None => {
            let name = format!("terraform.{env}.tfvars");
            dir.join(&name).is_file().then_some(name)
        }
    };
    let state = match &tf.state {
        Some(s) => Some(render_env(manifest, env, s)?),
        None => None,
    };
    Ok(Some(Stack {
        dir,
        workspace: env.to_string(),
        var_file,
        tag_var: tf.tag_var.clone().unwrap_or_else(|| DEFAULT_TAG_VAR.into()),
        state,
        workspace_key_prefix: tf
            .workspace_key_prefix
            .clone()
            .unwrap_or_else(|| "env:".into()),
    }))
}

/// Like [`of`], or a usage error when the project has no Terraform.
pub fn require(manifest: &Manifest, env: &str) -> Result<Stack> {
    of(manifest, env)?.ok_or_else(|| {
        Error::usage(format!(
            "{} has no [terraform] table and there is no {SEED_DIR}/ folder next to it",
            manifest.path.display()
        ))
        .with_hint("add [terraform] with dir = \"path/to/terraform\" (see docs/terraform.md)")
    })
}

/// `{{ env }}` and `{{ app }}` in a `[terraform]` value.
fn render_env(manifest: &Manifest, env: &str, value: &toml::Spanned<String>) -> Result<String> {
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    jinja
        .render_str(
            value.get_ref(),
            minijinja::context! { env => env, app => manifest.app() },
        )
        .map_err(|e| {
            manifest.error_at(
                value.span(),
                &format!(
                    "cannot render this value: {e} (it may use {{{{ env }}}} and {{{{ app }}}})"
                ),
            )
        })
}

/// Terraform outputs of `env` for templates (`tf.*`): `terraform output -json` when a binary is
/// on PATH, else the state itself. None when the project has no Terraform.
pub async fn outputs(
    manifest: &Manifest,
    env: &str,
    sdk: &aws_config::SdkConfig,
) -> Result<Option<Outputs>> {
    let Some(project) = of(manifest, env)? else {
        return Ok(None);
    };
    crate::terraform::outputs(&project, sdk).await.map(Some)
}
