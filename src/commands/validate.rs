//! `wharf validate [--env E]`: checks the project file and renders every template for every
//! environment (or one), offline. Values that need AWS are reported as unresolved.

use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::project::render::{self, Unit};
use crate::settings::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image tag to render with (without one, `tag` is reported as unresolved).
    #[arg(long)]
    pub tag: Option<String>,
}

/// What validation found for one environment.
#[derive(Debug, Default, serde::Serialize)]
pub struct EnvironmentReport {
    pub environment: String,
    pub units: Vec<UnitReport>,
}

#[derive(Debug, serde::Serialize)]
pub struct UnitReport {
    pub name: String,
    pub kind: &'static str,
    pub file: String,
    pub unresolved: Vec<String>,
    pub secrets: Vec<String>,
}

pub async fn run(ctx: &Settings, args: Args) -> Result<i32> {
    let manifest = Manifest::load(&ctx.file)?;
    let envs: Vec<&str> = match ctx.env.as_deref() {
        Some(e) => {
            manifest.environment(e)?;
            vec![e]
        }
        None => manifest
            .doc
            .environments
            .keys()
            .map(String::as_str)
            .collect(),
    };
    if envs.is_empty() {
        ctx.out.warn(format!(
            "{} defines no [environments.*]; only the file itself was checked",
            manifest.path.display()
        ));
    }
    let mut errors: Vec<String> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut reports = Vec::new();
    for env in &envs {
        let (report, mut errs, mut warns) =
            validate_environment(&manifest, env, args.tag.as_deref());
        errors.append(&mut errs);
        for w in warns.drain(..) {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        reports.push(report);
    }
    for w in &warnings {
        ctx.out.warn(w);
    }
    if !errors.is_empty() {
        errors.dedup();
        return Err(Error::usage(errors.join("\n\n")));
    }
    if ctx.out.is_json() {
        ctx.out.json(&serde_json::json!({
            "ok": true,
            "file": manifest.path.display().to_string(),
            "environments": reports,
            "warnings": warnings,
        }));
    } else {
        for r in &reports {
            for u in &r.units {
                let mut line = format!("ok  {:<8} {} {}", r.environment, u.kind, u.name);
                if !u.unresolved.is_empty() {
                    line.push_str(&format!(
                        "  (unresolved until deploy: {})",
                        u.unresolved.join(", ")
                    ));
                }
                println!("{line}");
            }
        }
        let units = manifest.doc.services.len() + manifest.doc.jobs.len();
        println!(
            "{} is valid: {} service(s)/job(s) in {} environment(s)",
            manifest.path.display(),
            units,
            envs.len()
        );
    }
    Ok(0)
}

/// Renders everything of one environment offline; returns the report, errors and warnings.
pub fn validate_environment(
    manifest: &Manifest,
    env: &str,
    tag: Option<&str>,
) -> (EnvironmentReport, Vec<String>, Vec<String>) {
    let inputs = render::offline_inputs(manifest, env, tag);
    let mut report = EnvironmentReport {
        environment: env.to_string(),
        units: Vec::new(),
    };
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let check_value =
        |unit: Option<Unit>, what: String, t: &toml::Spanned<String>, errors: &mut Vec<String>| {
            if let Err(e) = render::render_value_for(&inputs, unit, &what, t) {
                errors.push(e.to_string());
            }
        };
    let environment = &manifest.doc.environments[env];
    if let Some(cluster) = &environment.cluster {
        check_value(
            None,
            format!("`cluster` of environment {env}"),
            cluster,
            &mut errors,
        );
    }
    for (name, image) in &manifest.doc.images {
        for (arg, t) in &image.args {
            check_value(
                None,
                format!("build arg {arg} of image {name}"),
                t,
                &mut errors,
            );
        }
    }
    let units = manifest
        .doc
        .services
        .keys()
        .map(|n| Unit::Service(n))
        .chain(manifest.doc.jobs.keys().map(|n| Unit::Job(n)));
    for unit in units {
        if let Unit::Service(name) = unit {
            let service = &manifest.doc.services[name];
            if let Some(n) = &service.name {
                check_value(
                    Some(unit),
                    format!("`name` of service {name}"),
                    n,
                    &mut errors,
                );
            }
            for lb in &service.load_balancers {
                check_value(
                    Some(unit),
                    format!("target_group_arn of service {name}"),
                    &lb.target_group_arn,
                    &mut errors,
                );
            }
            for r in &service.service_registries {
                check_value(
                    Some(unit),
                    format!("registry_arn of service {name}"),
                    &r.registry_arn,
                    &mut errors,
                );
            }
        }
        match render::render_unit(&inputs, unit) {
            Ok(rendered) => {
                // One warning per entry, naming the parameter exactly as the variable is
                // spelled (SSM names are case-sensitive).
                for (container, name) in
                    crate::operate::secrets::suspicious_environment(&rendered.task_definition)
                {
                    warnings.push(format!(
                        "{}: container `{container}` sets {name} in plain `environment`; if it is a secret, store it with `wharf secrets set {name}` and reference it with secret(\"{name}\") in `secrets`",
                        rendered.file.display()
                    ));
                }
                report.units.push(UnitReport {
                    name: unit.name().to_string(),
                    kind: unit.kind().noun(),
                    file: rendered.file.display().to_string(),
                    unresolved: rendered.unresolved,
                    secrets: rendered.secrets,
                });
            }
            Err(e) => errors.push(format!(
                "{}\n  (environment `{env}`, {} `{}`)",
                e,
                unit.kind().noun(),
                unit.name()
            )),
        }
    }
    (report, errors, warnings)
}
