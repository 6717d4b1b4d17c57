//! `wharf push`'s work: check (or create) the ECR repositories, log in with ECR's authorization
//! token, skip images the registry already holds under the tag with the same digest, push the
//! rest in parallel with retries, and check the registry's digest afterwards.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};

use crate::engine::{push_failure_is_transient, Engine, PushOutcome};
use crate::error::{Error, Result};
use crate::images::ecr::{Ecr, LoginCache};
use crate::images::registry::Registry;
use crate::images::ImageRef;
use crate::images::{self, RegistryTarget};
use crate::output::Output;
use crate::project::manifest::Manifest;
use crate::settings::Settings;

/// One image to push.
#[derive(Debug, Clone)]
pub struct PushItem {
    pub image: String,
    pub reference: ImageRef,
    /// Whether the reference is in the environment's ECR registry (login, repositories apply).
    pub ecr: bool,
    /// For `--create-repositories`.
    pub immutable_tags: bool,
}

/// One pushed (or skipped) image, for the final table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    pub image: String,
    pub reference: String,
    pub tag: String,
    pub digest: String,
    pub size: u64,
    pub seconds: f64,
    /// `pushed` or `skipped` (the registry already held this digest under the tag).
    pub outcome: String,
}

/// How many times a push that failed for a transient reason is tried.
const ATTEMPTS: u32 = 3;

pub struct PushWith<'a> {
    pub engine: &'a Engine,
    pub ecr: Option<&'a Ecr>,
    pub create_repositories: bool,
    pub parallel: usize,
    pub out: &'a Output,
    /// Where the ECR login is kept for the next run.
    pub login_cache: Option<&'a LoginCache>,
}

/// The push when nothing needs pushing, without any AWS call: with a cached ECR login (see
/// [`LoginCache`]), every image is inspected and its tag asked of the registry at once. None when
/// any image is not built or not there with the same digest, or anything fails (the full push
/// then runs and reports it). A login is forgotten when the registry fails with it (refused, most
/// likely), so the full push asks ECR for a new one.
pub async fn all_held(
    items: &[PushItem],
    engine: &Engine,
    cache: &LoginCache,
    out: &Output,
) -> Option<Vec<Pushed>> {
    let host = &items.first()?.reference.host;
    if !items.iter().all(|i| i.ecr && &i.reference.host == host) {
        return None;
    }
    let login = cache.load()?;
    let registry = login.registry(host);
    let registry = &registry;
    let checks = futures::future::join_all(items.iter().map(|item| async move {
        // The registry is asked while the engine is: the answers meet here.
        let reference = item.reference.to_string();
        let (image, head) = tokio::join!(
            engine.inspect(&reference),
            registry.manifest_digest(&item.reference.repository, &item.reference.tag)
        );
        let Ok(Some(image)) = image else {
            return Check::Absent;
        };
        let held = match head {
            Ok(head) => held_digest(registry, item, &image, head).await,
            Err(e) => Err(e),
        };
        match held {
            Ok(Some(digest)) => Check::Held(digest, image.size),
            Ok(None) => Check::Absent,
            Err(_) => Check::RegistryFailed,
        }
    }))
    .await;
    let mut held = Vec::new();
    for (item, check) in items.iter().zip(checks) {
        match check {
            Check::Held(digest, size) => held.push((item, digest, size)),
            Check::Absent => return None,
            Check::RegistryFailed => {
                cache.forget();
                return None;
            }
        }
    }
    // Said only once every image is known to be held (else the full push says it).
    let mut results: Vec<Pushed> = held
        .into_iter()
        .map(|(item, digest, size)| skipped(item, digest, size, out))
        .collect();
    results.sort_by(|a, b| a.image.cmp(&b.image));
    Some(results)
}

/// One image in [`all_held`].
enum Check {
    /// The registry's digest and the image's size.
    Held(String, u64),
    /// Not built here, or not in the registry as built.
    Absent,
    RegistryFailed,
}

/// The registry's manifest digest when it holds `image` under the item's tag, else None. `head`
/// is the registry's digest for the tag (`HEAD` of the manifest), None when it has no such tag.
///
/// docker records the digest of every push (`RepoDigests`): equal to `head` means the same
/// image. podman's local digest is not the one its push produces (it compresses layers on the
/// way), so otherwise the manifest is read and its config compared with the image ID: the image ID
/// is the digest of the config, which every push carries unchanged.
async fn held_digest(
    registry: &Registry,
    item: &PushItem,
    image: &crate::engine::LocalImage,
    head: Option<String>,
) -> Result<Option<String>> {
    let Some(theirs) = head else {
        return Ok(None);
    };
    let name = item.reference.name();
    let ours = format!("{name}@{theirs}");
    if image.repo_digests.iter().any(|d| d == &ours) {
        return Ok(Some(theirs));
    }
    let (repository, tag) = (&item.reference.repository, &item.reference.tag);
    let Some(manifest) = registry.manifest(repository, tag).await? else {
        return Ok(None);
    };
    let doc: serde_json::Value = serde_json::from_slice(&manifest.body).unwrap_or_default();
    let config = doc["config"]["digest"].as_str().unwrap_or_default();
    let id = image.id.trim_start_matches("sha256:");
    let same = !id.is_empty() && config.strip_prefix("sha256:") == Some(id);
    Ok(same.then_some(manifest.digest))
}

/// Reports and records an image the registry already holds.
fn skipped(item: &PushItem, digest: String, size: u64, out: &Output) -> Pushed {
    out.status(format!(
        "{}: {} already holds {} under {}; skipped",
        item.image,
        item.reference.name(),
        crate::images::short_digest(&digest),
        item.reference.tag
    ));
    Pushed {
        image: item.image.clone(),
        reference: item.reference.to_string(),
        tag: item.reference.tag.clone(),
        digest,
        size,
        seconds: 0.0,
        outcome: "skipped".into(),
    }
}

pub async fn push_images(items: Vec<PushItem>, opts: PushWith<'_>) -> Result<Vec<Pushed>> {
    let PushWith {
        engine,
        ecr,
        create_repositories,
        parallel,
        out,
        login_cache,
    } = opts;
    // Every image must be built here first; the engine and ECR are asked at the same time.
    let inspect_all = async {
        let found = futures::future::try_join_all(items.iter().map(|item| async move {
            let reference = item.reference.to_string();
            let image = engine.inspect(&reference).await?.ok_or_else(|| {
                Error::failed(format!(
                    "image `{}` ({reference}) is not built here",
                    item.image
                ))
                .with_hint(format!(
                    "build it first: wharf build --tag {}",
                    item.reference.tag
                ))
            })?;
            Ok::<_, Error>((item.image.clone(), image))
        }))
        .await?;
        Ok::<_, Error>(found.into_iter().collect::<BTreeMap<_, _>>())
    };
    let ecr_items: Vec<&PushItem> = items.iter().filter(|i| i.ecr).collect();
    let ecr_setup = async {
        if ecr_items.is_empty() {
            return Ok(None);
        }
        let ecr =
            ecr.ok_or_else(|| Error::usage("pushing to ECR needs an environment: pass --env"))?;
        let mut names: Vec<String> = ecr_items
            .iter()
            .map(|i| i.reference.repository.clone())
            .collect();
        names.sort();
        names.dedup();
        let (existing, login) = tokio::join!(ecr.existing_repositories(&names), ecr.login());
        let existing = existing?;
        let missing: Vec<&String> = names.iter().filter(|n| !existing.contains(n)).collect();
        if !missing.is_empty() {
            if !create_repositories {
                let list: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
                return Err(Error::failed(format!(
                    "ECR repository {} does not exist in {}",
                    list.join(", "),
                    ecr_items[0].reference.host
                ))
                .with_hint(
                    "create it (Terraform, or pass --create-repositories to let wharf create it)",
                ));
            }
            for name in missing {
                let immutable = ecr_items
                    .iter()
                    .any(|i| &i.reference.repository == name && i.immutable_tags);
                ecr.create_repository(name, immutable).await?;
                out.status(format!(
                    "created ECR repository {name} (scan on push{})",
                    if immutable { ", immutable tags" } else { "" }
                ));
            }
        }
        let login = login?;
        if let Some(cache) = login_cache {
            cache.store(&login);
        }
        Ok(Some(login))
    };
    let (local, ecr_login) = tokio::join!(inspect_all, ecr_setup);
    let local = local?;
    let ecr_login = ecr_login?;
    let mut registries: BTreeMap<String, Registry> = BTreeMap::new();
    if let Some(login) = &ecr_login {
        for item in &ecr_items {
            let host = &item.reference.host;
            if registries.contains_key(host) {
                continue;
            }
            registries.insert(host.clone(), login.registry(host));
        }
    }

    // What the registry already holds.
    let checks = futures::stream::iter(items.iter().map(|item| {
        let registry = registries.get(&item.reference.host);
        let image = &local[&item.image];
        async move {
            let Some(registry) = registry else {
                return Ok(None);
            };
            let head = registry
                .manifest_digest(&item.reference.repository, &item.reference.tag)
                .await?;
            held_digest(registry, item, image, head).await
        }
    }))
    .buffered(parallel.max(8))
    .try_collect::<Vec<Option<String>>>()
    .await?;

    let mut results = Vec::new();
    let mut to_push = Vec::new();
    for (item, skip) in items.iter().zip(checks) {
        match skip {
            Some(digest) => results.push(skipped(item, digest, local[&item.image].size, out)),
            None => to_push.push(item.clone()),
        }
    }
    if to_push.is_empty() {
        results.sort_by(|a, b| a.image.cmp(&b.image));
        return Ok(results);
    }
    let engine = engine.clone().with_private_auth()?;
    let mut logged_in: Vec<&str> = Vec::new();
    for item in &to_push {
        if let Some(r) = registries.get(&item.reference.host) {
            if !logged_in.contains(&r.host.as_str()) {
                let login = ecr_login
                    .as_ref()
                    .expect("a registry client implies an ECR login");
                engine
                    .login(&r.host, &login.username, &login.password)
                    .await?;
                logged_in.push(&r.host);
            }
        }
    }
    let transfers = crate::images::progress::Transfers::new(out);
    let transfers = &transfers;
    let pushed: Vec<Pushed> = futures::stream::iter(to_push.into_iter().map(|item| {
        let engine = engine.clone();
        let registry = registries.get(&item.reference.host).cloned();
        let size = local[&item.image].size;
        async move {
            let reference = item.reference.to_string();
            out.status(format!("{}: pushing {reference}", item.image));
            let started = Instant::now();
            let prefix = format!("  [{}] ", item.image);
            // The engine's push reports layers, not bytes: the bar's bytes are estimated from
            // the share of layers done.
            let transfer = transfers.start(&item.image, size, true);
            transfer.message("preparing layers".to_string());
            let layers = std::sync::Mutex::new(LayerCount::default());
            let echo = |line: &str| {
                out.verbose(format!("{prefix}{line}"));
                if let Ok(mut l) = layers.lock() {
                    if let Some(done) = l.see(line) {
                        transfer.set_position((size as f64 * done) as u64);
                        transfer.message(format!("{}/{} layers", l.done.len(), l.all.len()));
                    }
                }
            };
            let mut attempt = 1;
            let digest = loop {
                match engine.push(&reference, &echo).await? {
                    PushOutcome::Pushed { digest } => break digest,
                    PushOutcome::Failed(t) if attempt < ATTEMPTS && push_failure_is_transient(&t) => {
                        out.warn(format!("{}: push failed ({}); trying again", item.image, t.tail(1)));
                        tokio::time::sleep(Duration::from_secs(attempt as u64)).await;
                        attempt += 1;
                    }
                    PushOutcome::Failed(t) => {
                        let text = t.tail(12);
                        let lower = text.to_ascii_lowercase();
                        let e = if lower.contains("unauthorized") || lower.contains("denied") || lower.contains("authentication required") {
                            Error::aws(format!("{}: the registry refused the push of {reference}:\n{text}", item.image))
                                .with_hint("the credentials are wrong or expired, or lack ecr:PutImage / ecr:UploadLayerPart")
                        } else {
                            Error::failed(format!("{}: push of {reference} failed after {attempt} attempt(s):\n{text}", item.image))
                        };
                        return Err(e);
                    }
                }
            };
            // The registry must now hold what the engine said it pushed.
            let digest = match &registry {
                Some(r) => {
                    let held = r.manifest_digest(&item.reference.repository, &item.reference.tag).await?;
                    match held {
                        Some(h) if digest.is_empty() || h == digest => h,
                        other => {
                            return Err(Error::failed(format!(
                                "{}: after the push, {} holds {} under {} instead of {digest}",
                                item.image,
                                item.reference.name(),
                                other.unwrap_or_else(|| "nothing".into()),
                                item.reference.tag
                            )))
                        }
                    }
                }
                None => digest,
            };
            transfer.finish();
            let seconds = started.elapsed().as_secs_f64();
            out.status(format!(
                "{}: pushed {} ({} in {seconds:.1}s, {})",
                item.image,
                crate::images::short_digest(&digest),
                images::human_size(size),
                crate::images::progress::rate(size, seconds)
            ));
            Ok::<_, Error>(Pushed {
                image: item.image.clone(),
                reference,
                tag: item.reference.tag.clone(),
                digest,
                size,
                seconds,
                outcome: "pushed".into(),
            })
        }
    }))
    .buffer_unordered(parallel)
    .try_collect()
    .await?;
    results.extend(pushed);
    results.sort_by(|a, b| a.image.cmp(&b.image));
    Ok(results)
}

/// The layers `docker push` names in its plain output (`ID: Preparing`, `ID: Pushed`,
/// `ID: Layer already exists`, `ID: Mounted from ...`).
#[derive(Debug, Default)]
struct LayerCount {
    all: std::collections::BTreeSet<String>,
    done: std::collections::BTreeSet<String>,
}

impl LayerCount {
    /// Takes one output line; the share of layers done when it changed.
    fn see(&mut self, line: &str) -> Option<f64> {
        let (id, status) = line.trim().split_once(": ")?;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        self.all.insert(id.to_string());
        let finished = status == "Pushed"
            || status == "Layer already exists"
            || status.starts_with("Mounted from");
        if finished && !self.done.insert(id.to_string()) {
            return None;
        }
        Some(self.done.len() as f64 / self.all.len() as f64)
    }
}

/// What to push: `wharf push`'s flags, and the pipeline's push stage.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Images to push (all when empty); with a compose build file, its services.
    pub images: Vec<String>,
    /// Image tag (default: the git short SHA).
    pub tag: Option<String>,
    /// Create missing ECR repositories.
    pub create_repositories: bool,
    /// Container engine (default: the project's, else docker when it answers, else podman).
    pub engine: Option<String>,
}

/// What a push did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PushReport {
    pub tag: String,
    pub images: Vec<Pushed>,
}

impl PushReport {
    /// The final table (or JSON document) of a push.
    pub fn print(&self, out: &Output) {
        if out.is_json() {
            out.json(&serde_json::json!({ "tag": self.tag, "images": self.images }));
        } else {
            let rows: Vec<Vec<String>> = self
                .images
                .iter()
                .map(|p| {
                    vec![
                        p.image.clone(),
                        p.tag.clone(),
                        images::short_digest(&p.digest),
                        images::human_size(p.size),
                        format!("{:.1}s", p.seconds),
                        p.outcome.clone(),
                    ]
                })
                .collect();
            println!(
                "{}",
                images::table(
                    &["IMAGE", "TAG", "DIGEST", "SIZE", "DURATION", "RESULT"],
                    &rows
                )
            );
        }
    }
}

/// Pushes built images to the environment's registry (ECR login, repositories created on
/// request), skipping what the registry already holds; with a cached login and nothing new,
/// without asking AWS anything.
pub async fn push(ctx: &Settings, args: &PushOptions) -> Result<PushReport> {
    let manifest = Manifest::load(&ctx.file)?;
    let tag = images::resolve_tag(&manifest, args.tag.as_deref())?;
    let compose = images::compose_file(&manifest)?;
    if compose.is_none() {
        images::build_waves(&manifest, &args.images)?;
        if manifest.doc.images.is_empty() {
            return Err(Error::usage(format!(
                "{} has no [images] and no compose build file ({}) to push",
                manifest.path.display(),
                images::SEED_COMPOSE_FILE
            )));
        }
    }
    let env = images::choose_env(&manifest, ctx.env.as_deref())?;
    let engine =
        Engine::detect(images::preferred_engine(&manifest, args.engine.as_deref())?).await?;
    let target = match &env {
        Some(env) => Some(RegistryTarget::for_env(ctx, &manifest, env).await?),
        None => None,
    };
    let mut items = Vec::new();
    match &compose {
        Some(file) => {
            for (service, reference) in images::build::compose_images(&engine, file, &tag).await? {
                if !args.images.is_empty() && !args.images.contains(&service) {
                    continue;
                }
                let r = ImageRef::parse(&reference).ok_or_else(|| {
                    Error::usage(format!(
                        "service `{service}` of {} names image `{reference}`, which has no registry host to push to",
                        file.display()
                    ))
                })?;
                let ecr = images::takes_ecr_login(target.as_ref(), &r.host);
                items.push(PushItem {
                    image: service,
                    reference: r,
                    ecr,
                    immutable_tags: false,
                });
            }
        }
        None => {
            let target = target
                .as_ref()
                .expect("[images] projects have an environment");
            let names: Vec<String> = if args.images.is_empty() {
                manifest.doc.images.keys().cloned().collect()
            } else {
                args.images.clone()
            };
            for name in names {
                let r = images::image_ref(&manifest, &name, target, &tag)?;
                items.push(PushItem {
                    ecr: images::takes_ecr_login(Some(target), &r.host),
                    immutable_tags: manifest.doc.images[&name].immutable_tags,
                    image: name,
                    reference: r,
                });
            }
        }
    }
    // Unchanged images with a cached ECR login: done without asking AWS anything.
    let login_cache = match (&env, &target) {
        (Some(env), Some(target)) => {
            let profile = manifest
                .environment(env)?
                .aws(ctx)
                .profile
                .or_else(|| std::env::var("AWS_PROFILE").ok());
            LoginCache::for_registry(&target.registry, profile.as_deref())
        }
        _ => None,
    };
    if let Some(cache) = &login_cache {
        if let Some(pushed) = all_held(&items, &engine, cache, &ctx.out).await {
            return Ok(PushReport {
                tag,
                images: pushed,
            });
        }
    }
    let clients = match &env {
        Some(env) => {
            let environment = manifest.environment(env)?;
            Some(crate::aws::Clients::connect(&environment.aws(ctx)).await?)
        }
        None => None,
    };
    let ecr = clients
        .as_ref()
        .map(|c| Ecr::new(&c.config, target.as_ref().and_then(|t| t.account.clone())));
    let pushed = push_images(
        items,
        PushWith {
            engine: &engine,
            ecr: ecr.as_ref(),
            create_repositories: args.create_repositories,
            parallel: images::parallelism(&manifest),
            out: &ctx.out,
            login_cache: login_cache.as_ref(),
        },
    )
    .await?;
    Ok(PushReport {
        tag,
        images: pushed,
    })
}
