//! `wharf build`'s work: prepare each image (context, Dockerfile, rendered build args, OCI
//! labels), build independent images in parallel and dependent ones in order; or run the compose
//! tool on a seed project's compose build file with `APP_TAG`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};

use crate::engine::{BuildSpec, Engine};
use crate::error::{Error, Result};
use crate::images::{self, BuildContext, RegistryTarget};
use crate::output::Output;
use crate::project::manifest::Manifest;
use crate::project::render::{self, Inputs};
use crate::settings::Settings;

/// One built image, for the final table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub image: String,
    pub reference: String,
    pub tag: String,
    /// Image ID (the config digest; the registry's manifest digest is known after a push).
    pub digest: String,
    pub size: u64,
    pub seconds: f64,
}

/// Builds `wanted` (all images when empty) of the project at `tag` for `target`'s registry.
pub async fn build_images(
    manifest: &Manifest,
    target: &RegistryTarget,
    tag: &str,
    wanted: &[String],
    engine: &Engine,
    parallel: usize,
    out: &Output,
) -> Result<Vec<Built>> {
    let waves = images::build_waves(manifest, wanted)?;
    // Everything that can be wrong in the project is found before the first build starts.
    let work = tempfile::Builder::new()
        .prefix("wharf-build-")
        .tempdir()
        .map_err(|e| Error::failed(format!("cannot create a temporary folder: {e}")))?;
    let mut specs = Vec::new();
    for wave in &waves {
        let mut prepared = Vec::new();
        for name in wave {
            prepared.push(prepare(manifest, target, tag, name, work.path(), out).await?);
        }
        specs.push(prepared);
    }
    let mut built = Vec::new();
    for wave in specs {
        let results: Vec<Built> = futures::stream::iter(wave.into_iter().map(|(name, spec)| {
            let engine = engine.clone();
            async move {
                let reference = spec.tags[0].clone();
                out.status(format!("{name}: building {reference}"));
                let started = Instant::now();
                let prefix = format!("  [{name}] ");
                let echo = |line: &str| out.verbose(format!("{prefix}{line}"));
                let image = engine.build(&name, &spec, &echo).await?;
                let seconds = started.elapsed().as_secs_f64();
                out.status(format!("{name}: built in {seconds:.1}s"));
                Ok::<_, Error>(Built {
                    image: name,
                    reference,
                    tag: tag.to_string(),
                    digest: image.id,
                    size: image.size,
                    seconds,
                })
            }
        }))
        .buffer_unordered(parallel)
        .try_collect()
        .await?;
        built.extend(results);
    }
    built.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(built)
}

/// Resolves one image's build: the context (checked out when it is a git URL), the Dockerfile,
/// rendered build args and labels.
async fn prepare(
    manifest: &Manifest,
    target: &RegistryTarget,
    tag: &str,
    name: &str,
    work: &Path,
    out: &Output,
) -> Result<(String, BuildSpec)> {
    let image = &manifest.doc.images[name];
    let inputs = Inputs {
        manifest,
        env: &target.env,
        tag: Some(tag),
        region: target.region.clone(),
        account: target.account.clone(),
        tf: None,
        ssm: None,
        offline: false,
    };
    let context_text = match &image.context {
        Some(c) => render::render_value(&inputs, &format!("context of image `{name}`"), c)?,
        None => ".".to_string(),
    };
    let mut labels: Vec<(String, String)> = Vec::new();
    let context_dir = match images::parse_context(manifest, &context_text) {
        BuildContext::Folder(dir) => {
            if !dir.is_dir() {
                let message = format!(
                    "image `{name}`: build context {} is not a folder",
                    dir.display()
                );
                return Err(match &image.context {
                    Some(c) => manifest.error_at(c.span(), &message),
                    None => Error::usage(message),
                });
            }
            let root = std::fs::canonicalize(&dir).unwrap_or(dir.clone());
            if let Some((full, _, _)) = images::git_revision(&root) {
                labels.push(("org.opencontainers.image.revision".into(), full));
            }
            dir
        }
        BuildContext::Git {
            url,
            reference,
            subdir,
        } => {
            let checkout = work.join(name);
            out.status(format!("{name}: fetching {reference} of {url}"));
            let revision = fetch_git(name, &url, &reference, &checkout).await?;
            labels.push(("org.opencontainers.image.revision".into(), revision));
            labels.push(("org.opencontainers.image.source".into(), url.clone()));
            let dir = match &subdir {
                Some(s) => checkout.join(s),
                None => checkout,
            };
            if !dir.is_dir() {
                return Err(Error::usage(format!(
                    "image `{name}`: {url} at {reference} has no folder `{}`",
                    subdir.unwrap_or_default()
                )));
            }
            dir
        }
    };
    labels.push(("org.opencontainers.image.version".into(), tag.to_string()));
    labels.extend(image.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    let dockerfile_name = image
        .dockerfile
        .as_ref()
        .map(|d| d.get_ref().as_str())
        .unwrap_or("Dockerfile");
    let dockerfile = context_dir.join(dockerfile_name);
    if !dockerfile.is_file() {
        let message = format!(
            "image `{name}`: Dockerfile {} does not exist",
            dockerfile.display()
        );
        let span = image
            .dockerfile
            .as_ref()
            .map(|d| d.span())
            .or(image.context.as_ref().map(|c| c.span()));
        return Err(match span {
            Some(s) => manifest.error_at(s, &message),
            None => Error::usage(message),
        }
        .with_hint("`dockerfile` is relative to the image's `context` (default: Dockerfile)"));
    }
    let mut args = Vec::new();
    for (key, value) in &image.args {
        let v = render::render_value(
            &inputs,
            &format!("build arg {key} of image `{name}`"),
            value,
        )?;
        args.push((key.clone(), v));
    }
    let reference = images::image_ref(manifest, name, target, tag)?;
    Ok((
        name.to_string(),
        BuildSpec {
            tags: vec![reference.to_string()],
            context: context_dir,
            dockerfile,
            target: image.target.clone(),
            platform: image.platform.clone(),
            args,
            labels,
            iidfile: work.join(format!("{name}.iid")),
        },
    ))
}

/// Fetches `reference` (a tag, branch or commit) of `url` into `dir`; returns the commit.
async fn fetch_git(name: &str, url: &str, reference: &str, dir: &Path) -> Result<String> {
    let git = |args: Vec<String>| async move {
        tokio::process::Command::new("git")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
    };
    let d = dir.display().to_string();
    let steps: Vec<Vec<String>> = vec![
        vec!["init".into(), "-q".into(), d.clone()],
        vec![
            "-C".into(),
            d.clone(),
            "fetch".into(),
            "-q".into(),
            "--depth".into(),
            "1".into(),
            url.into(),
            reference.into(),
        ],
        vec![
            "-C".into(),
            d.clone(),
            "-c".into(),
            "advice.detachedHead=false".into(),
            "checkout".into(),
            "-q".into(),
            "FETCH_HEAD".into(),
        ],
        vec!["-C".into(), d.clone(), "rev-parse".into(), "HEAD".into()],
    ];
    let mut last = String::new();
    for step in steps {
        let output = git(step).await.map_err(|e| {
            Error::failed(format!(
                "image `{name}`: cannot run git for the build context: {e}"
            ))
            .with_hint("install git, or use a folder as the context")
        })?;
        if !output.status.success() {
            return Err(Error::failed(format!(
                "image `{name}`: cannot fetch `{reference}` of {url}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        last = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    Ok(last)
}

/// The environment a compose build file sees: wharf's own, plus `APP_TAG`.
pub fn compose_env(tag: &str) -> Vec<(String, String)> {
    vec![("APP_TAG".to_string(), tag.to_string())]
}

/// Images a compose build file builds (services with both `build` and `image`): (service, reference).
pub async fn compose_images(
    engine: &Engine,
    file: &Path,
    tag: &str,
) -> Result<Vec<(String, String)>> {
    let doc = engine.compose_config(file, &compose_env(tag)).await?;
    let mut found = Vec::new();
    if let Some(services) = doc.get("services").and_then(|s| s.as_mapping()) {
        for (name, service) in services {
            let (Some(name), Some(image)) =
                (name.as_str(), service.get("image").and_then(|i| i.as_str()))
            else {
                continue;
            };
            if service.get("build").is_some() {
                found.push((name.to_string(), image.to_string()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Runs the compose tool's build on `file` with `APP_TAG=tag` added to the environment.
pub async fn compose_build(
    engine: &Engine,
    file: &Path,
    tag: &str,
    services: &[String],
    out: &Output,
) -> Result<Vec<Built>> {
    let images = compose_images(engine, file, tag).await?;
    for s in services {
        if !images.iter().any(|(name, _)| name == s) {
            let known: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::usage(format!(
                "no service `{s}` with a build and an image in {} (services: {})",
                file.display(),
                known.join(", ")
            )));
        }
    }
    out.status(format!("building {} with APP_TAG={tag}", file.display()));
    let started = Instant::now();
    let echo = |line: &str| out.verbose(format!("  {line}"));
    engine
        .compose_build(file, services, &compose_env(tag), &echo)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let mut built = Vec::new();
    for (service, reference) in images {
        if !services.is_empty() && !services.contains(&service) {
            continue;
        }
        let local = engine.inspect(&reference).await?.unwrap_or_default();
        built.push(Built {
            image: service,
            tag: images::ImageRef::parse(&reference)
                .map(|r| r.tag)
                .unwrap_or_else(|| tag.to_string()),
            reference,
            digest: local.id,
            size: local.size,
            seconds,
        });
    }
    out.status(format!("built in {seconds:.1}s"));
    Ok(built)
}

/// Where a compose file's relative paths start (for messages).
pub fn compose_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// What to build: `wharf build`'s flags, and the pipeline's build stage.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Images to build (all when empty); with a compose build file, its services.
    pub images: Vec<String>,
    /// Image tag (default: the git short SHA).
    pub tag: Option<String>,
    /// Container engine (default: the project's, else docker when it answers, else podman).
    pub engine: Option<String>,
}

/// What a build made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub tag: String,
    pub images: Vec<Built>,
}

impl BuildReport {
    /// The table of image, tag, digest, size and duration (or the JSON document).
    pub fn print(&self, out: &Output) {
        if out.is_json() {
            out.json(&serde_json::json!({ "tag": self.tag, "images": self.images }));
            return;
        }
        let rows: Vec<Vec<String>> = self
            .images
            .iter()
            .map(|b| {
                vec![
                    b.image.clone(),
                    b.tag.clone(),
                    images::short_digest(&b.digest),
                    images::human_size(b.size),
                    format!("{:.1}s", b.seconds),
                ]
            })
            .collect();
        println!(
            "{}",
            images::table(&["IMAGE", "TAG", "DIGEST", "SIZE", "DURATION"], &rows)
        );
    }
}

/// Builds the project's images (or its compose build file with `APP_TAG`) for `ctx`'s
/// environment (its registry names the images).
pub async fn build(ctx: &Settings, args: &BuildOptions) -> Result<BuildReport> {
    let manifest = Manifest::load(&ctx.file)?;
    let tag = images::resolve_tag(&manifest, args.tag.as_deref())?;
    let compose = images::compose_file(&manifest)?;
    let env = match &compose {
        Some(_) => None,
        None => Some(
            images::choose_env(&manifest, ctx.env.as_deref())?.ok_or_else(|| {
                Error::usage(format!(
                    "{} has no [images] and no compose build file ({}) to build",
                    manifest.path.display(),
                    images::SEED_COMPOSE_FILE
                ))
            })?,
        ),
    };
    if compose.is_none() && manifest.doc.images.is_empty() {
        return Err(Error::usage(format!(
            "{} has no [images] and no compose build file ({}) to build",
            manifest.path.display(),
            images::SEED_COMPOSE_FILE
        )));
    }
    // Project mistakes come before looking for an engine.
    if compose.is_none() {
        images::build_waves(&manifest, &args.images)?;
    }
    let engine =
        Engine::detect_for_build(images::preferred_engine(&manifest, args.engine.as_deref())?)
            .await?;
    ctx.out.verbose(format!(
        "engine: {}{}",
        engine.program(),
        if engine.buildx { " (buildx)" } else { "" }
    ));
    let built = match (&compose, env) {
        (Some(file), _) => compose_build(&engine, file, &tag, &args.images, &ctx.out).await?,
        (None, Some(env)) => {
            let target = RegistryTarget::for_env(ctx, &manifest, &env).await?;
            build_images(
                &manifest,
                &target,
                &tag,
                &args.images,
                &engine,
                images::parallelism(&manifest),
                &ctx.out,
            )
            .await?
        }
        (None, None) => unreachable!("an environment was chosen above"),
    };
    Ok(BuildReport { tag, images: built })
}
