//! Images: what `wharf build`, `push` and `promote` act on, decided from the project file.
//!
//! This module owns the pure part: which environment and registry an image belongs to, its full
//! reference at a tag, the default tag (git short SHA, `-dirty`), build contexts (a folder, or a
//! git URL with a ref and subfolder), the build order from `image('x')` in build args (and the
//! cycle error), and compose mode. The engine is [`crate::engine`]; ECR and the registry API are
//! [`ecr`] and [`registry`]; the verbs' work is in [`build`], [`push`] and [`promote`]; [`check`]
//! makes sure the images a deploy or a run is about to register exist.

pub mod build;
pub mod check;
pub mod ecr;
pub mod progress;
pub mod promote;
pub mod push;
pub mod registry;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::project::manifest::Manifest;
use crate::settings::Settings;

/// Where the compose build file of a seed project lives when wharf.toml does not say.
pub const SEED_COMPOSE_FILE: &str = "build/docker-compose.build.yml";

/// Default number of images built or pushed at once.
pub const DEFAULT_PARALLEL: usize = 4;

/// A full image reference: `host/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.host, self.repository, self.tag)
    }
}

impl ImageRef {
    /// Parses `host/repo[:tag]`; the host must be a registry host (has `.` or `:`, or localhost).
    pub fn parse(reference: &str) -> Option<ImageRef> {
        let (host, rest) = reference.split_once('/')?;
        if !(host.contains('.') || host.contains(':') || host == "localhost") {
            return None;
        }
        let rest = rest.split('@').next().unwrap_or(rest);
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, "latest"),
        };
        Some(ImageRef {
            host: host.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }

    /// `host/repository` (how RepoDigests name an image).
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }
}

/// The registry an environment pushes to.
#[derive(Debug, Clone)]
pub struct RegistryTarget {
    pub env: String,
    /// `ACCOUNT.dkr.ecr.REGION.amazonaws.com`, or the environment's `registry`.
    pub registry: String,
    pub account: Option<String>,
    pub region: Option<String>,
}

impl RegistryTarget {
    /// The registry of `env` from what is known; `account` comes from STS when wharf.toml does
    /// not name it and the registry is not set.
    pub fn new(
        manifest: &Manifest,
        env: &str,
        account: Option<String>,
        region: Option<String>,
    ) -> Result<RegistryTarget> {
        let environment = manifest.environment(env)?;
        let account = environment
            .account
            .as_ref()
            .map(|a| a.get_ref().clone())
            .or(account);
        let region = region.or_else(|| environment.region.as_ref().map(|r| r.get_ref().clone()));
        let registry = match &environment.registry {
            Some(r) => r.get_ref().trim_end_matches('/').to_string(),
            None => {
                let (Some(a), Some(r)) = (&account, &region) else {
                    return Err(Error::usage(format!(
                        "environment `{env}` needs an account and a region for its ECR registry"
                    ))
                    .with_hint("set `account` and `region` (or `registry`) for the environment in wharf.toml"));
                };
                format!("{a}.dkr.ecr.{r}.amazonaws.com")
            }
        };
        Ok(RegistryTarget {
            env: env.to_string(),
            registry,
            account,
            region,
        })
    }

    /// Whether `host` is this environment's ECR registry (so ECR login and repositories apply).
    pub fn is_own(&self, host: &str) -> bool {
        host == self.registry
    }
}

impl RegistryTarget {
    /// The registry of `env`; asks STS for the account only when wharf.toml does not give one.
    pub async fn for_env(ctx: &Settings, manifest: &Manifest, env: &str) -> Result<RegistryTarget> {
        let environment = manifest.environment(env)?;
        let region = ctx
            .region
            .clone()
            .or_else(|| environment.region.as_ref().map(|r| r.get_ref().clone()));
        if environment.registry.is_some() || (environment.account.is_some() && region.is_some()) {
            return RegistryTarget::new(manifest, env, None, region);
        }
        let clients = crate::aws::Clients::connect(&environment.aws(ctx)).await?;
        let account = clients.account().await?;
        RegistryTarget::new(manifest, env, Some(account), Some(clients.region.clone()))
    }
}

/// Whether `host` takes an ECR login: `target`'s registry (the environment's, which may be the
/// test bed's), or any ECR registry.
pub fn takes_ecr_login(target: Option<&RegistryTarget>, host: &str) -> bool {
    target.is_some_and(|t| t.is_own(host)) || host.contains(".dkr.ecr.")
}

/// The reference of image `name` of the project at `tag` in `target`'s registry. A repository
/// given as a full URI keeps its host.
pub fn image_ref(
    manifest: &Manifest,
    name: &str,
    target: &RegistryTarget,
    tag: &str,
) -> Result<ImageRef> {
    let image = manifest
        .doc
        .images
        .get(name)
        .ok_or_else(|| unknown_image(manifest, name))?;
    let repository = image.repository.get_ref();
    if let Some(full) = ImageRef::parse(repository) {
        return Ok(ImageRef {
            tag: tag.to_string(),
            ..full
        });
    }
    Ok(ImageRef {
        host: target.registry.clone(),
        repository: repository.clone(),
        tag: tag.to_string(),
    })
}

/// A usage error for an image that is not in `[images]`, with a suggestion.
pub fn unknown_image(manifest: &Manifest, name: &str) -> Error {
    let known: Vec<&str> = manifest.doc.images.keys().map(String::as_str).collect();
    let e = Error::usage(format!(
        "no image `{name}` in [images] of {} (images: {})",
        manifest.path.display(),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ));
    match crate::text::did_you_mean(name, known.iter().copied()) {
        Some(s) => e.with_hint(format!("did you mean `{s}`?")),
        None => e,
    }
}

/// The environment to use: `--env`, else the only one the project has; None when the project
/// has no environments at all (a seed project that only builds).
pub fn choose_env(manifest: &Manifest, flag: Option<&str>) -> Result<Option<String>> {
    if let Some(env) = flag {
        manifest.environment(env)?;
        return Ok(Some(env.to_string()));
    }
    let names: Vec<&String> = manifest.doc.environments.keys().collect();
    match names.as_slice() {
        [] => Ok(None),
        [only] => Ok(Some(only.to_string())),
        many => Err(Error::usage(format!(
            "which environment's registry? pass --env ({})",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Checks a tag against the registry rules (letters, digits, `_ . -`, up to 128 characters).
pub fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(Error::usage(format!(
            "`{tag}` is not a valid image tag (letters, digits, `_`, `.`, `-`; up to 128; not starting with `.` or `-`)"
        )))
    }
}

/// The git revision of the project folder: (full SHA, short SHA, has uncommitted changes).
pub fn git_revision(dir: &Path) -> Option<(String, String, bool)> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let full = git(&["rev-parse", "HEAD"])?;
    let short = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some((full, short, dirty))
}

/// `--tag`, else the git short SHA of the project (with `-dirty` when the tree has uncommitted
/// changes).
pub fn resolve_tag(manifest: &Manifest, flag: Option<&str>) -> Result<String> {
    if let Some(tag) = flag {
        check_tag(tag)?;
        return Ok(tag.to_string());
    }
    let root = std::fs::canonicalize(&manifest.root).unwrap_or_else(|_| manifest.root.clone());
    match git_revision(&root) {
        Some((_, short, dirty)) => Ok(if dirty { format!("{short}-dirty") } else { short }),
        None => Err(Error::usage(format!(
            "no image tag: pass --tag (the default, the git short SHA, needs {} to be in a git repository)",
            root.display()
        ))),
    }
}

/// A build context: a folder, or a git repository at a ref, with a subfolder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    Folder(PathBuf),
    Git {
        url: String,
        reference: String,
        subdir: Option<String>,
    },
}

/// Parses a rendered `context` (`URL#REF:SUBDIR` for git, as docker writes it).
pub fn parse_context(manifest: &Manifest, context: &str) -> BuildContext {
    let is_git = ["https://", "http://", "git@", "git://", "ssh://", "file://"]
        .iter()
        .any(|p| context.starts_with(p))
        || context
            .split('#')
            .next()
            .is_some_and(|u| u.ends_with(".git"));
    if !is_git {
        return BuildContext::Folder(manifest.resolve_path(context));
    }
    let (url, fragment) = context.split_once('#').unwrap_or((context, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let url = if url.starts_with('/') || url.contains("://") || url.starts_with("git@") {
        url.to_string()
    } else {
        // A relative path to a local repository, relative to the project folder.
        manifest.resolve_path(url).display().to_string()
    };
    BuildContext::Git {
        url,
        reference: if reference.is_empty() {
            "HEAD".into()
        } else {
            reference.to_string()
        },
        subdir: (!subdir.is_empty()).then(|| subdir.trim_matches('/').to_string()),
    }
}

/// Images that the build args of `name` refer to with `image('x')`.
fn referenced_images(
    args: &BTreeMap<String, toml::Spanned<String>>,
) -> Vec<(String, std::ops::Range<usize>)> {
    let mut found = Vec::new();
    for value in args.values() {
        let text = value.get_ref();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("image(") {
            let after = rest[at + 6..].trim_start();
            let quote = after.chars().next();
            if let Some(q @ ('\'' | '"')) = quote {
                if let Some(end) = after[1..].find(q) {
                    found.push((after[1..1 + end].to_string(), value.span()));
                }
            }
            rest = &rest[at + 6..];
        }
    }
    found
}

/// The images to build, in waves: every image of a wave depends only on earlier waves. Unknown
/// names in `image('x')` and cycles are usage errors located in wharf.toml.
pub fn build_waves(manifest: &Manifest, wanted: &[String]) -> Result<Vec<Vec<String>>> {
    for name in wanted {
        if !manifest.doc.images.contains_key(name) {
            return Err(unknown_image(manifest, name));
        }
    }
    let mut deps: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, image) in &manifest.doc.images {
        let mut list = Vec::new();
        for (dep, span) in referenced_images(&image.args) {
            let Some((key, _)) = manifest.doc.images.get_key_value(&dep) else {
                let mut message = format!(
                    "build arg of image `{name}` uses image('{dep}'), which is not in [images]"
                );
                if let Some(s) =
                    crate::text::did_you_mean(&dep, manifest.doc.images.keys().map(String::as_str))
                {
                    message.push_str(&format!("; did you mean '{s}'?"));
                }
                return Err(manifest.error_at(span, &message));
            };
            if key == name {
                return Err(manifest.error_at(
                    span,
                    &format!("image `{name}` uses image('{name}') in its own build args: a cycle"),
                ));
            }
            list.push(key.as_str());
        }
        deps.insert(name.as_str(), list);
    }
    if let Some(cycle) = find_cycle(&deps) {
        return Err(Error::usage(format!(
            "images depend on each other in a cycle through image() in build args: {}",
            cycle.join(" -> ")
        ))
        .with_hint(
            "an image can only use images built before it; remove one of these build args",
        ));
    }
    // Everything wanted plus what it needs.
    let mut selected: Vec<&str> = if wanted.is_empty() {
        deps.keys().copied().collect()
    } else {
        wanted.iter().map(String::as_str).collect()
    };
    let mut i = 0;
    while i < selected.len() {
        for d in deps.get(selected[i]).cloned().unwrap_or_default() {
            if !selected.contains(&d) {
                selected.push(d);
            }
        }
        i += 1;
    }
    let mut waves: Vec<Vec<String>> = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    while done.len() < selected.len() {
        let mut wave: Vec<&str> = selected
            .iter()
            .copied()
            .filter(|n| !done.contains(n) && deps[n].iter().all(|d| done.contains(d)))
            .collect();
        wave.sort();
        done.extend(&wave);
        waves.push(wave.into_iter().map(str::to_string).collect());
    }
    Ok(waves)
}

fn find_cycle(deps: &BTreeMap<&str, Vec<&str>>) -> Option<Vec<String>> {
    fn visit<'a>(
        deps: &BTreeMap<&'a str, Vec<&'a str>>,
        name: &'a str,
        stack: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| *s == name) {
            let mut cycle: Vec<String> = stack[i..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        if done.contains(&name) {
            return None;
        }
        stack.push(name);
        for d in deps.get(name).into_iter().flatten() {
            if let Some(c) = visit(deps, d, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.push(name);
        None
    }
    let mut done = Vec::new();
    deps.keys()
        .find_map(|n| visit(deps, n, &mut Vec::new(), &mut done))
}

/// The compose build file of the project, when it builds through one: `[build] compose_file`, or
/// the seed's `build/docker-compose.build.yml` when the project has no `[images]`.
pub fn compose_file(manifest: &Manifest) -> Result<Option<PathBuf>> {
    if let Some(file) = manifest
        .doc
        .build
        .as_ref()
        .and_then(|b| b.compose_file.as_ref())
    {
        let path = manifest.resolve_path(file.get_ref());
        if !path.is_file() {
            return Err(manifest.error_at(
                file.span(),
                &format!("compose build file {} does not exist", path.display()),
            ));
        }
        return Ok(Some(path));
    }
    if manifest.doc.images.is_empty() {
        let seed = manifest.resolve_path(SEED_COMPOSE_FILE);
        if seed.is_file() {
            return Ok(Some(seed));
        }
    }
    Ok(None)
}

/// The engine asked for: `--engine`, else `[build] engine`.
pub fn preferred_engine(
    manifest: &Manifest,
    flag: Option<&str>,
) -> Result<Option<crate::engine::EngineKind>> {
    let configured = manifest.doc.build.as_ref().and_then(|b| b.engine.as_ref());
    let (name, span) = match (flag, configured) {
        (Some(f), _) => (f.to_string(), None),
        (None, Some(c)) => (c.get_ref().clone(), Some(c.span())),
        (None, None) => return Ok(None),
    };
    match crate::engine::EngineKind::parse(&name) {
        Some(k) => Ok(Some(k)),
        None => {
            let message = format!("engine `{name}` is not one of docker, podman");
            Err(match span {
                Some(s) => manifest.error_at(s, &message),
                None => Error::usage(message),
            })
        }
    }
}

/// How many images build or push at once.
pub fn parallelism(manifest: &Manifest) -> usize {
    manifest
        .doc
        .build
        .as_ref()
        .and_then(|b| b.parallel.as_ref())
        .map(|p| *p.get_ref())
        .unwrap_or(DEFAULT_PARALLEL)
        .max(1)
}

/// `12.3 MB` for a byte count.
pub fn human_size(bytes: u64) -> String {
    if bytes == 0 {
        return "-".into();
    }
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} kB", b / 1e3)
    }
}

/// `sha256:0123456789ab` (12 hex digits), for tables.
pub fn short_digest(digest: &str) -> String {
    match digest.strip_prefix("sha256:") {
        Some(hex) => format!("sha256:{}", &hex[..hex.len().min(12)]),
        None if digest.is_empty() => "-".into(),
        None => digest.to_string(),
    }
}

/// A plain table: a header and rows, columns padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(Path::new("wharf.toml"), text.to_string()).expect("a valid project")
    }

    const IMAGES: &str = "app = \"shop\"\n[environments.dev]\nregion = \"us-east-1\"\naccount = \"123456789012\"\n\
        [images.base]\nrepository = \"shop/base\"\n\
        [images.app]\nrepository = \"shop/app\"\nargs = { BASE = \"{{ image('base') }}\" }\n\
        [images.nginx]\nrepository = \"shop/nginx\"\nargs = { APP = \"{{ image(\\\"app\\\") }}\" }\n\
        [images.other]\nrepository = \"ghcr.io/org/other\"\n";

    #[test]
    fn images_build_in_waves_after_what_their_args_use() {
        let m = manifest(IMAGES);
        assert_eq!(
            build_waves(&m, &[]).unwrap(),
            vec![
                vec!["base".to_string(), "other".into()],
                vec!["app".into()],
                vec!["nginx".into()]
            ]
        );
        assert_eq!(
            build_waves(&m, &["app".into()]).unwrap(),
            vec![vec!["base".to_string()], vec!["app".into()]]
        );
    }

    #[test]
    fn a_cycle_and_an_unknown_image_are_usage_errors() {
        let m = manifest(
            "app = \"a\"\n[images.x]\nrepository = \"x\"\nargs = { Y = \"{{ image('y') }}\" }\n\
             [images.y]\nrepository = \"y\"\nargs = { X = \"{{ image('x') }}\" }\n",
        );
        let e = build_waves(&m, &[]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message.contains("cycle") && e.message.contains("x -> y -> x"),
            "{}",
            e.message
        );
        let m = manifest(
            "app = \"a\"\n[images.x]\nrepository = \"x\"\nargs = { Y = \"{{ image('wat') }}\" }\n",
        );
        let e = build_waves(&m, &[]).unwrap_err();
        assert!(
            e.message.contains("image('wat'), which is not in [images]"),
            "{}",
            e.message
        );
        assert!(e.message.contains("wharf.toml:4"), "{}", e.message);
    }

    #[test]
    fn references_use_the_environment_registry_unless_the_uri_is_full() {
        let m = manifest(IMAGES);
        let t = RegistryTarget::new(&m, "dev", None, None).unwrap();
        assert_eq!(
            image_ref(&m, "app", &t, "1.0.1").unwrap().to_string(),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/app:1.0.1"
        );
        assert_eq!(
            image_ref(&m, "other", &t, "v2").unwrap().to_string(),
            "ghcr.io/org/other:v2"
        );
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/a/b:t"),
            Some(ImageRef {
                host: "127.0.0.1:5000".into(),
                repository: "a/b".into(),
                tag: "t".into()
            })
        );
    }

    #[test]
    fn git_contexts_take_a_ref_and_a_subfolder() {
        let m = manifest("app = \"a\"\n");
        assert_eq!(
            parse_context(&m, "https://github.com/org/repo.git#1.0.1:app"),
            BuildContext::Git {
                url: "https://github.com/org/repo.git".into(),
                reference: "1.0.1".into(),
                subdir: Some("app".into())
            }
        );
        assert_eq!(
            parse_context(&m, "/srv/repo.git"),
            BuildContext::Git {
                url: "/srv/repo.git".into(),
                reference: "HEAD".into(),
                subdir: None
            }
        );
        assert_eq!(
            parse_context(&m, "build/app"),
            BuildContext::Folder("build/app".into())
        );
    }

    #[test]
    fn tags_are_checked() {
        assert!(check_tag("1.0.1").is_ok());
        assert_eq!(check_tag("-x").unwrap_err().exit_code(), 2);
        assert!(check_tag("a b").is_err());
    }
}
