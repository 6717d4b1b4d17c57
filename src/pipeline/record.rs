//! What wharf records about an environment's tags in SSM Parameter Store, one String parameter
//! per kind, environment and application, whose versions are the history (Parameter Store keeps
//! the last 100 versions of a parameter and drops older unlabelled ones by itself):
//!
//! - `/wharf/applied/<app>/<env>`: the last tag Terraform was applied with successfully
//!   (`wharf apply --tag`, or an `all`/`ci` run whose stages all passed). A run that fails after
//!   its apply stage puts Terraform back on it.
//! - `/wharf/passed/<app>/<env>`: the tags whose deploy (and smoke test, where the services have
//!   one) passed in an `all`/`ci` run. `ci`'s promote from that environment requires the tag to
//!   be among them.

use crate::error::Result;
use crate::project::manifest::Manifest;
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Applied,
    Passed,
}

impl Record {
    fn folder(self) -> &'static str {
        match self {
            Record::Applied => "applied",
            Record::Passed => "passed",
        }
    }
    fn description(self) -> &'static str {
        match self {
            Record::Applied => "the last tag wharf applied with Terraform successfully",
            Record::Passed => "tags whose deploy and smoke test passed in a wharf all/ci run",
        }
    }
}

/// The parameter of `kind` for `app`'s environment `env`.
pub fn parameter(kind: Record, app: &str, env: &str) -> String {
    format!("/wharf/{}/{app}/{env}", kind.folder())
}

async fn place(ctx: &Settings, env: &str, kind: Record) -> Result<(aws_sdk_ssm::Client, String)> {
    let manifest = Manifest::load(&ctx.file)?;
    let environment = manifest.environment(env)?;
    let ctx = ctx.for_env(env);
    let clients = crate::aws::Clients::connect(&environment.aws(&ctx)).await?;
    Ok((
        clients.ssm.clone(),
        parameter(kind, manifest.doc.app.get_ref(), env),
    ))
}

/// The latest tag recorded; `None` when nothing was recorded.
pub async fn latest(ctx: &Settings, env: &str, kind: Record) -> Result<Option<String>> {
    let (ssm, name) = place(ctx, env, kind).await?;
    latest_in(&ssm, &name).await
}

async fn latest_in(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Option<String>> {
    match ssm.get_parameter().name(name).send().await {
        Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            Ok(None)
        }
        Err(e) => Err(crate::aws::error("ssm:GetParameter", e)),
    }
}

/// Whether `tag` is one of the recorded versions (the last 100).
pub async fn ever(ctx: &Settings, env: &str, kind: Record, tag: &str) -> Result<bool> {
    let (ssm, name) = place(ctx, env, kind).await?;
    let mut next: Option<String> = None;
    loop {
        let page = ssm
            .get_parameter_history()
            .name(&name)
            .max_results(50)
            .set_next_token(next.take())
            .send()
            .await;
        let page = match page {
            Ok(p) => p,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(crate::aws::error("ssm:GetParameterHistory", e)),
        };
        if page
            .parameters()
            .iter()
            .any(|p| p.value.as_deref() == Some(tag))
        {
            return Ok(true);
        }
        match page.next_token {
            Some(t) if !t.is_empty() => next = Some(t),
            _ => return Ok(false),
        }
    }
}

/// Records `tag` (a new version, unless it is the latest already). A failure to write is a
/// warning: what was recorded has succeeded.
pub async fn put(ctx: &Settings, env: &str, kind: Record, tag: &str) {
    let result = async {
        let (ssm, name) = place(ctx, env, kind).await?;
        if latest_in(&ssm, &name).await?.as_deref() == Some(tag) {
            return Ok(());
        }
        ssm.put_parameter()
            .name(&name)
            .value(tag)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .description(kind.description())
            .send()
            .await
            .map_err(|e| crate::aws::error("ssm:PutParameter", e))?;
        ctx.out.verbose(format!("recorded {tag} in {name}"));
        Ok::<(), crate::error::Error>(())
    }
    .await;
    if let Err(e) = result {
        let consequence = match kind {
            Record::Applied => "a later failed `wharf all` cannot put Terraform back on it",
            Record::Passed => "`wharf ci` will not promote it from here without --force",
        };
        ctx.out.warn(format!(
            "cannot record {tag} for `{env}`: {}; {consequence}",
            e.message
        ));
    }
}
