//! Templates: task-definition files and templated values of `wharf.toml` rendered per environment.
//!
//! Templates use Jinja syntax (minijinja) with strict undefined behaviour: a name that does not
//! exist is an error naming the file, line and name, never an empty string. Templates see
//! `app`, `env`, `tag`, `service` or `job`, `region`, `account`, `vars.*`, `tf.*`, `config.*` (a
//! service with config files), and the
//! functions `image(name)`, `secret(name)`, `ssm(path)` and `env_var(name, default)`.
//!
//! Rendering is pure over [`Inputs`]: values that come from AWS (Terraform outputs, SSM values,
//! the account) are passed in. Offline (`wharf validate`) they are replaced by markers and listed
//! in [`Rendered::unresolved`]. [`Resolved::fetch`] is the edge that gathers them from AWS and
//! Terraform for `render` and `deploy`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::value::{Object, Value};
use minijinja::{ErrorKind, UndefinedBehavior};
use serde_json::Map;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::project::manifest::{Manifest, UnitKind};

/// A service or a job of the project, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit<'a> {
    Service(&'a str),
    Job(&'a str),
}

impl<'a> Unit<'a> {
    pub fn name(&self) -> &'a str {
        match self {
            Unit::Service(n) | Unit::Job(n) => n,
        }
    }
    pub fn kind(&self) -> UnitKind {
        match self {
            Unit::Service(_) => UnitKind::Service,
            Unit::Job(_) => UnitKind::Job,
        }
    }
    /// The services named by `keys`.
    pub fn services(keys: &'a [String]) -> Vec<Unit<'a>> {
        keys.iter().map(|k| Unit::Service(k.as_str())).collect()
    }
    /// The service or job called `name` in `manifest`, or a usage error with a suggestion.
    pub fn find(manifest: &Manifest, name: &'a str) -> Result<Unit<'a>> {
        match manifest.unit_kind(name) {
            Some(UnitKind::Service) => Ok(Unit::Service(name)),
            Some(UnitKind::Job) => Ok(Unit::Job(name)),
            None => Err(manifest.unknown_unit(name)),
        }
    }
}

/// Values that come from outside the project file. Offline (validate): tf/ssm/account are None
/// and the renderer substitutes a marker and records the name in [`Rendered::unresolved`].
pub struct Inputs<'a> {
    pub manifest: &'a Manifest,
    pub env: &'a str,
    pub tag: Option<&'a str>,
    /// Overrides the environment's `region`.
    pub region: Option<String>,
    /// Overrides the environment's `account`.
    pub account: Option<String>,
    /// Terraform output name -> value.
    pub tf: Option<Map<String, serde_json::Value>>,
    pub ssm: Option<&'a dyn SsmLookup>,
    pub offline: bool,
}

/// Reads SSM parameter values for `ssm(path)`. Implementations refuse SecureString parameters.
pub trait SsmLookup: Send + Sync {
    fn get(&self, path: &str) -> Result<String>;
}

/// A rendered, checked task definition.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The template file.
    pub file: PathBuf,
    /// RegisterTaskDefinition input (AWS-filled fields dropped, cpu/memory overrides applied).
    pub task_definition: serde_json::Value,
    /// Names that need AWS and were left as markers (offline only): `tf.x`, `ssm(/p)`, `account`, `tag`.
    pub unresolved: Vec<String>,
    /// Names passed to `secret()`.
    pub secrets: Vec<String>,
    /// The service's config files (`[services.NAME.config]`), whose hash is in every container.
    pub config: Option<crate::project::config_files::Prepared>,
}

use crate::project::unresolved::is_unresolved;
use crate::project::unresolved::{marker, MARKER_CLOSE, MARKER_OPEN};

/// Renders the task definition of `unit`, applies the cpu/memory overrides of the project file
/// and checks it ([`crate::project::taskdef::check`]).
pub fn render_unit(inputs: &Inputs, unit: Unit) -> Result<Rendered> {
    let manifest = inputs.manifest;
    let effective = manifest.effective(inputs.env, unit.kind(), unit.name())?;
    let file = manifest.resolve_path(effective.task_definition.get_ref());
    let source = crate::project::snippet::read_text(&file, "task definition").map_err(|e| {
        if e.contains("-->") {
            // Located in the template itself (not UTF-8).
            Error::usage(e)
        } else {
            manifest.error_at(effective.task_definition.span(), &e)
        }
    })?;
    let config = match unit {
        Unit::Service(key) => {
            let render = |what: &str, template: &Spanned<String>| {
                render_value_for(inputs, Some(unit), what, template).map(|(value, _)| value)
            };
            crate::project::config_files::prepare(manifest, inputs.env, key, &render)?
        }
        Unit::Job(_) => None,
    };
    let state = State::new(inputs, Some(unit), effective.vars.clone())?;
    if let Some(c) = &config {
        if let Ok(mut slot) = state.config.lock() {
            *slot = Some(c.template_value());
        }
    }
    let (templating, delimiters) = match unit {
        Unit::Service(k) => manifest
            .doc
            .services
            .get(k)
            .map(|s| (s.templating.as_ref(), s.template_delimiters.as_ref())),
        Unit::Job(k) => manifest
            .doc
            .jobs
            .get(k)
            .map(|j| (j.templating.as_ref(), j.template_delimiters.as_ref())),
    }
    .unwrap_or((None, None));
    let text = if templating.is_some_and(|t| !*t.get_ref()) {
        // Used as written: `{{`, `{%` and `{#` are plain text.
        source.clone()
    } else {
        let syntax = match delimiters {
            Some(d) => Some(
                d.get_ref()
                    .syntax()
                    .map_err(|why| manifest.error_at(d.span(), &why))?,
            ),
            None => None,
        };
        render_template(inputs, &state, &file, &source, syntax)?
    };
    state.scan(&text);
    let text = quote_bare_markers(&text);
    let label = if text.lines().count() == source.lines().count() {
        file.clone()
    } else {
        PathBuf::from(format!("{} (as rendered)", file.display()))
    };
    let parsed: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        let offset = offset_of(&text, e.line(), e.column());
        let what = e.to_string();
        let what = what.split(" at line ").next().unwrap_or(&what);
        Error::usage(crate::project::snippet::snippet(
            &label,
            &text,
            offset..offset + 1,
            &format!("error: task definition is not valid JSON after rendering: {what}"),
        ))
        .with_hint(
            "check quotes and commas around {{ }} expressions; values are inserted as written",
        )
    })?;
    let wrapped = parsed.get("taskDefinition").is_some();
    let mut task_definition = crate::project::taskdef::strip_read_only(parsed);
    if let Some(c) = &config {
        crate::project::config_files::inject_hash(&mut task_definition, &c.files.hash);
    }
    let mut overridden: Vec<(&str, &Spanned<String>)> = Vec::new();
    if let Some(obj) = task_definition.as_object_mut() {
        for (field, value) in [("cpu", effective.cpu), ("memory", effective.memory)] {
            if let Some(v) = value {
                obj.insert(
                    field.to_string(),
                    serde_json::Value::String(v.get_ref().clone()),
                );
                overridden.push((field, v));
            }
        }
    }
    let problems = crate::project::taskdef::check(&task_definition, effective.launch_type);
    if !problems.is_empty() {
        let spans = crate::project::taskdef::json_spans(&text);
        let errors: Vec<String> = problems
            .iter()
            .map(|p| {
                if let Some((_, v)) = overridden.iter().find(|(f, _)| *f == p.path) {
                    return manifest
                        .error_at(
                            v.span(),
                            &format!(
                                "{} (set in {}): {}",
                                p.path,
                                manifest.path.display(),
                                p.message
                            ),
                        )
                        .message;
                }
                let located = if wrapped {
                    crate::project::taskdef::problem_span(
                        &spans,
                        &crate::project::taskdef::Problem {
                            path: if p.path.is_empty() {
                                "taskDefinition".into()
                            } else {
                                format!("taskDefinition.{}", p.path)
                            },
                            message: p.message.clone(),
                        },
                    )
                } else {
                    crate::project::taskdef::problem_span(&spans, p)
                };
                let message = format!("error: {}: {p}", file.display());
                match located {
                    Some(span) => crate::project::snippet::snippet(&label, &text, span, &message),
                    None => message,
                }
            })
            .collect();
        return Err(Error::usage(errors.join("\n\n")));
    }
    let (unresolved, secrets) = state.finish();
    Ok(Rendered {
        file,
        task_definition,
        unresolved,
        secrets,
        config,
    })
}

/// Renders a templated value of the project file (cluster, service name, target group ARN, ...).
/// `what` says which value, for error messages (for example "cluster of environment dev").
pub fn render_value(inputs: &Inputs, what: &str, template: &Spanned<String>) -> Result<String> {
    render_value_for(inputs, None, what, template).map(|(s, _)| s)
}

/// Like [`render_value`], for a value that belongs to a service or job (so the template sees
/// `service`/`job` and its vars). Also returns the names left unresolved (offline).
pub fn render_value_for(
    inputs: &Inputs,
    unit: Option<Unit>,
    what: &str,
    template: &Spanned<String>,
) -> Result<(String, Vec<String>)> {
    let manifest = inputs.manifest;
    let vars = match unit {
        Some(u) => manifest.effective(inputs.env, u.kind(), u.name())?.vars,
        None => {
            let mut v = crate::project::manifest::to_json_map(&manifest.doc.vars);
            v.extend(crate::project::manifest::to_json_map(
                &manifest.environment(inputs.env)?.vars,
            ));
            v
        }
    };
    let text = template.get_ref();
    if !text.contains("{{") && !text.contains("{%") {
        return Ok((text.clone(), Vec::new()));
    }
    let state = State::new(inputs, unit, vars)?;
    let env = state.environment();
    let rendered = env.render_str(text, ()).map_err(|e| {
        let span = template.span();
        // The value starts after its opening quote; minijinja's range is within the value.
        let start = span.start + 1 + e.range().map(|r| r.start).unwrap_or(0);
        let end = span.start + 1 + e.range().map(|r| r.end).unwrap_or(text.len());
        let message = describe_error(&state, &e, text);
        manifest.error_at(start..end.min(span.end), &format!("in {what}: {message}"))
    })?;
    if rendered.trim().is_empty() {
        return Err(manifest.error_at(
            template.span(),
            &format!("{what} renders to an empty string"),
        ));
    }
    state.scan(&rendered);
    let (unresolved, _) = state.finish();
    Ok((rendered, unresolved))
}

/// Renders `source` (the file `file`) with everything `state` provides; SSM values in two passes.
fn render_template(
    inputs: &Inputs,
    state: &Arc<State>,
    file: &Path,
    source: &str,
    syntax: Option<minijinja::syntax::SyntaxConfig>,
) -> Result<String> {
    let name = file.display().to_string();
    let default_syntax = syntax.is_none();
    let run = |state: &Arc<State>| -> Result<String> {
        let mut env = state.environment();
        if let Some(syntax) = &syntax {
            env.set_syntax(syntax.clone());
        }
        env.render_named_str(&name, source, ()).map_err(|e| {
            let message = describe_error(state, &e, source);
            let mut span = e.range().or_else(|| {
                e.line().map(|l| {
                    let start = offset_of(source, l, 1);
                    start..start + 1
                })
            });
            let mut hint = None;
            if e.kind() == ErrorKind::SyntaxError && default_syntax {
                // A construct left open is reported where the file ends; point at its start.
                let at_the_end = e.detail().is_some_and(|d| d.contains("unexpected end of"));
                if let Some(open) =
                    crate::project::template_hints::unclosed(source).filter(|_| at_the_end)
                {
                    span = Some(open.span.clone());
                    hint = open.hint();
                }
                hint = hint.or_else(|| {
                    crate::project::template_hints::literal_syntax(source, span.clone())
                });
            }
            // An invisible byte-order mark pasted into the middle of a file.
            if hint.is_none()
                && span.as_ref().is_some_and(|r| {
                    let from = (0..=r.start.min(source.len()))
                        .rev()
                        .find(|i| source.is_char_boundary(*i))
                        .unwrap_or(0);
                    source[from..].starts_with('\u{feff}')
                })
            {
                hint = Some("an invisible byte-order mark (U+FEFF) stands here, often left by pasting files together; delete it".to_string());
            }
            if e.kind() == ErrorKind::UnknownFunction && default_syntax {
                hint = crate::project::template_hints::literal_syntax(source, span.clone());
            }
            let error = match span {
                Some(span) => crate::project::snippet::snippet(
                    file,
                    source,
                    span,
                    &format!("error: {message}"),
                ),
                None => format!("error: {name}: {message}"),
            };
            match hint {
                Some(h) => Error::usage(error).with_hint(h),
                None => Error::usage(error),
            }
        })
    };
    let text = run(state)?;
    let wanted = state
        .ssm_wanted
        .lock()
        .map(|w| w.clone())
        .unwrap_or_default();
    if wanted.is_empty() || inputs.offline {
        return Ok(text);
    }
    let Some(lookup) = inputs.ssm else {
        return Err(Error::usage(format!(
            "{name}: ssm({:?}) needs AWS, and no SSM client was given",
            wanted[0]
        )));
    };
    let mut values = HashMap::new();
    for path in wanted {
        let value = lookup.get(&path)?;
        values.insert(path, value);
    }
    if let Ok(mut slot) = state.ssm_values.lock() {
        *slot = Some(values);
    }
    run(state)
}

/// What a template sees, and what rendering recorded.
#[derive(Debug)]
struct State {
    app: String,
    env: String,
    tag: Option<String>,
    region: Option<String>,
    account: Option<String>,
    registry: Option<String>,
    images: BTreeMap<String, String>,
    unit: Option<(UnitKind, String)>,
    vars: Map<String, serde_json::Value>,
    /// `config` for a service with config files: bucket, prefix, uri, hash.
    config: Mutex<Option<serde_json::Value>>,
    tf: Option<Map<String, serde_json::Value>>,
    offline: bool,
    unresolved: Mutex<Vec<String>>,
    secrets: Mutex<Vec<String>>,
    ssm_wanted: Mutex<Vec<String>>,
    /// Filled between the two passes.
    ssm_values: Mutex<Option<HashMap<String, String>>>,
}

impl State {
    fn new(
        inputs: &Inputs,
        unit: Option<Unit>,
        vars: Map<String, serde_json::Value>,
    ) -> Result<Arc<State>> {
        let manifest = inputs.manifest;
        let environment = manifest.environment(inputs.env)?;
        Ok(Arc::new(State {
            app: manifest.app().to_string(),
            env: inputs.env.to_string(),
            tag: inputs.tag.map(str::to_string),
            region: inputs
                .region
                .clone()
                .or_else(|| environment.region.as_ref().map(|r| r.get_ref().clone())),
            account: inputs
                .account
                .clone()
                .or_else(|| environment.account.as_ref().map(|a| a.get_ref().clone())),
            registry: environment.registry.as_ref().map(|r| r.get_ref().clone()),
            images: manifest
                .doc
                .images
                .iter()
                .map(|(k, v)| (k.clone(), v.repository.get_ref().clone()))
                .collect(),
            unit: unit.map(|u| (u.kind(), u.name().to_string())),
            vars,
            tf: inputs.tf.clone(),
            offline: inputs.offline,
            unresolved: Mutex::default(),
            secrets: Mutex::default(),
            ssm_wanted: Mutex::default(),
            ssm_values: Mutex::default(),
            config: Mutex::default(),
        }))
    }

    fn record(&self, list: &Mutex<Vec<String>>, name: &str) {
        if let Ok(mut l) = list.lock() {
            if !l.iter().any(|n| n == name) {
                l.push(name.to_string());
            }
        }
    }

    /// The value, or offline a marker recorded as unresolved, or None.
    fn or_marker(&self, value: Option<&String>, name: &str) -> Option<String> {
        match value {
            Some(v) => Some(v.clone()),
            None if self.offline => Some(marker(name)),
            None => None,
        }
    }

    /// Notes every marker in `text` as unresolved (so only names a template used are listed).
    fn scan(&self, text: &str) {
        for piece in text.split(MARKER_OPEN).skip(1) {
            if let Some(end) = piece.find(MARKER_CLOSE) {
                self.record(&self.unresolved, &piece[..end]);
            }
        }
    }

    fn finish(&self) -> (Vec<String>, Vec<String>) {
        let take = |m: &Mutex<Vec<String>>| m.lock().map(|v| v.clone()).unwrap_or_default();
        (take(&self.unresolved), take(&self.secrets))
    }

    fn environment(self: &Arc<Self>) -> minijinja::Environment<'static> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        // Values go in as written; minijinja would JSON-quote them in `.json` files otherwise.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_global("app", self.app.clone());
        env.add_global("env", self.env.clone());
        if let Some(tag) = self.or_marker(self.tag.as_ref(), "tag") {
            env.add_global("tag", tag);
        }
        if let Some(region) = self.or_marker(self.region.as_ref(), "region") {
            env.add_global("region", region);
        }
        if let Some(account) = self.or_marker(self.account.as_ref(), "account") {
            env.add_global("account", account);
        }
        match &self.unit {
            Some((UnitKind::Service, n)) => env.add_global("service", n.clone()),
            Some((UnitKind::Job, n)) => env.add_global("job", n.clone()),
            None => {}
        }
        env.add_global("vars", Value::from_serialize(&self.vars));
        if let Some(config) = self.config.lock().ok().and_then(|c| c.clone()) {
            env.add_global("config", Value::from_serialize(&config));
        }
        env.add_global(
            "tf",
            Value::from_object(TfOutputs {
                state: self.clone(),
            }),
        );

        let s = self.clone();
        env.add_function(
            "image",
            move |name: String| -> std::result::Result<String, minijinja::Error> {
                s.image(&name)
                    .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, m))
            },
        );
        let s = self.clone();
        env.add_function(
            "secret",
            move |name: String| -> std::result::Result<String, minijinja::Error> {
                s.secret(&name)
                    .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, m))
            },
        );
        let s = self.clone();
        env.add_function(
            "ssm",
            move |path: String| -> std::result::Result<String, minijinja::Error> {
                s.ssm(&path)
                    .map_err(|m| minijinja::Error::new(ErrorKind::InvalidOperation, m))
            },
        );
        env.add_function(
            "env_var",
            |name: String, default: Option<String>| -> std::result::Result<String, minijinja::Error> {
                match (std::env::var(&name), default) {
                    (Ok(v), _) => Ok(v),
                    (Err(_), Some(d)) => Ok(d),
                    (Err(_), None) => Err(minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("environment variable {name} is not set (give a default: env_var('{name}', 'value'))"),
                    )),
                }
            },
        );
        env
    }

    fn need(
        &self,
        value: Option<&String>,
        name: &str,
        why: &str,
    ) -> std::result::Result<String, String> {
        self.or_marker(value, name).ok_or_else(|| match name {
            "tag" => format!("{why} needs an image tag: pass --tag"),
            "account" => format!(
                "{why} needs the AWS account: set `account` for environment `{}`",
                self.env
            ),
            _ => format!(
                "{why} needs `{name}`: set `{name}` for environment `{}` or pass --{name}",
                self.env
            ),
        })
    }

    fn image(&self, name: &str) -> std::result::Result<String, String> {
        let Some(repository) = self.images.get(name) else {
            let known: Vec<&str> = self.images.keys().map(String::as_str).collect();
            let mut message = format!(
                "image('{name}'): no image `{name}` in [images] (images: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
            if let Some(s) = crate::text::did_you_mean(name, known.iter().copied()) {
                message.push_str(&format!("; did you mean '{s}'?"));
            }
            return Err(message);
        };
        let why = format!("image('{name}')");
        let last = repository.rsplit('/').next().unwrap_or("");
        let pinned = repository.contains('@') || last.contains(':');
        let first = repository.split('/').next().unwrap_or("");
        let full = repository.contains('/')
            && (first.contains('.') || first.contains(':') || first == "localhost");
        let base = if full {
            repository.clone()
        } else {
            let registry = match &self.registry {
                Some(r) => r.clone(),
                None => {
                    let account = self.need(self.account.as_ref(), "account", &why)?;
                    let region = self.need(self.region.as_ref(), "region", &why)?;
                    format!("{account}.dkr.ecr.{region}.amazonaws.com")
                }
            };
            format!("{}/{repository}", registry.trim_end_matches('/'))
        };
        if pinned {
            return Ok(base);
        }
        let tag = self.need(self.tag.as_ref(), "tag", &why)?;
        if !is_unresolved(&tag) && !valid_tag(&tag) {
            return Err(format!(
                "`{tag}` is not a valid image tag (letters, digits, `_`, `.`, `-`; up to 128; not starting with `.` or `-`)"
            ));
        }
        Ok(format!("{base}:{tag}"))
    }

    fn secret(&self, name: &str) -> std::result::Result<String, String> {
        let name = name.trim_start_matches('/');
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
        {
            return Err(format!(
                "secret('{name}'): a secret name uses letters, digits, `_`, `.`, `-` and `/`"
            ));
        }
        self.record(&self.secrets, name);
        let why = format!("secret('{name}')");
        let region = self.need(self.region.as_ref(), "region", &why)?;
        let account = self.need(self.account.as_ref(), "account", &why)?;
        Ok(format!(
            "arn:aws:ssm:{region}:{account}:parameter/{}/{}/{name}",
            self.app, self.env
        ))
    }

    fn ssm(&self, path: &str) -> std::result::Result<String, String> {
        let full = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("/{}/{}/{path}", self.app, self.env)
        };
        if self.offline {
            return Ok(marker(&format!("ssm({full})")));
        }
        if let Ok(values) = self.ssm_values.lock() {
            if let Some(values) = values.as_ref() {
                return values
                    .get(&full)
                    .cloned()
                    .ok_or_else(|| format!("ssm('{path}'): parameter {full} was not fetched"));
            }
        }
        // First pass: note the path; the value comes in the second pass.
        self.record(&self.ssm_wanted, &full);
        Ok(marker(&format!("ssm({full})")))
    }
}

/// Terraform outputs as `tf.NAME`; offline every name is an unresolved marker.
#[derive(Debug)]
struct TfOutputs {
    state: Arc<State>,
}

impl Object for TfOutputs {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let unresolved = || Value::from_object(UnresolvedOutput(format!("tf.{name}")));
        match &self.state.tf {
            // Known only after apply (a plan's outputs): the marker, and its parts too.
            Some(map) => map.get(name).map(|v| match v.as_str() {
                Some(s) if is_unresolved(s) => unresolved(),
                _ => Value::from_serialize(v),
            }),
            None if self.state.offline => Some(unresolved()),
            None => None,
        }
    }
}

/// A Terraform output whose value is not known here (offline, or only after apply): it renders
/// as its marker, and an attribute or item of it is unresolved in turn (`tf.services.web`,
/// `tf.subnet_ids[0]`), so templates that reach into map and list outputs validate offline.
#[derive(Debug)]
struct UnresolvedOutput(String);

impl Object for UnresolvedOutput {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let path = match (key.as_str(), key.as_i64()) {
            (Some(k), _) => format!("{}.{k}", self.0),
            (None, Some(i)) => format!("{}[{i}]", self.0),
            _ => format!("{}[{key}]", self.0),
        };
        Some(Value::from_object(UnresolvedOutput(path)))
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&marker(&self.0))
    }
}

fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !tag.starts_with(['.', '-'])
}

/// Names every template sees, for suggestions.
const GLOBALS: &[&str] = &[
    "app", "env", "tag", "service", "job", "region", "account", "vars", "tf", "image", "secret",
    "ssm", "env_var",
];

/// A minijinja error as one sentence for the user.
fn describe_error(state: &State, e: &minijinja::Error, source: &str) -> String {
    let expr = e.range().and_then(|r| source.get(r)).map(|s| {
        s.trim()
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .trim()
            .to_string()
    });
    match e.kind() {
        ErrorKind::UndefinedError => {
            let expr = expr.unwrap_or_default();
            let head = expr
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                .next()
                .unwrap_or("")
                .to_string();
            explain_undefined(state, &head)
        }
        _ => {
            let detail = e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string());
            match e.kind() {
                ErrorKind::SyntaxError => format!("template syntax error: {detail}"),
                ErrorKind::UnknownFunction => {
                    let name = expr
                        .as_deref()
                        .and_then(|x| x.split('(').next())
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    let mut m = format!("unknown function `{name}`");
                    if let Some(s) =
                        crate::text::did_you_mean(&name, ["image", "secret", "ssm", "env_var"])
                    {
                        m.push_str(&format!("; did you mean `{s}`?"));
                    }
                    m
                }
                _ => detail,
            }
        }
    }
}

fn explain_undefined(state: &State, name: &str) -> String {
    let mut parts = name.splitn(2, '.');
    let first = parts.next().unwrap_or("");
    let rest = parts.next().unwrap_or("").split('.').next().unwrap_or("");
    match first {
        "tag" => "`tag` is not set: pass --tag".to_string(),
        "account" => format!(
            "`account` is unknown: set `account` for environment `{}` (or let wharf ask STS)",
            state.env
        ),
        "region" => format!("`region` is not set for environment `{}`", state.env),
        "tf" if state.tf.is_none() => format!(
            "`{name}` needs Terraform outputs, and none are available: configure [terraform] in wharf.toml and make sure `terraform` is on PATH"
        ),
        "tf" => {
            let known: Vec<&str> = state.tf.iter().flat_map(|m| m.keys().map(String::as_str)).collect();
            let mut m = format!("Terraform output `{rest}` does not exist (outputs: {})", known.join(", "));
            if let Some(s) = crate::text::did_you_mean(rest, known.iter().copied()) {
                m.push_str(&format!("; did you mean `tf.{s}`?"));
            }
            m
        }
        "vars" => {
            let known: Vec<&str> = state.vars.keys().map(String::as_str).collect();
            let mut m = format!(
                "`vars.{rest}` is not defined (vars: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            );
            if let Some(s) = crate::text::did_you_mean(rest, known.iter().copied()) {
                m.push_str(&format!("; did you mean `vars.{s}`?"));
            }
            m
        }
        "service" | "job" => format!("`{first}` is undefined here (this template is not rendered for a {first})"),
        _ => {
            let mut m = format!("`{name}` is undefined");
            if let Some(s) = crate::text::did_you_mean(first, GLOBALS.iter().copied()) {
                m.push_str(&format!("; did you mean `{s}`?"));
            } else {
                m.push_str("; templates see app, env, tag, service, job, region, account, vars.*, tf.*, image(), secret(), ssm(), env_var()");
            }
            m
        }
    }
}

/// Byte offset of a 1-based line and column.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1).min(l.len());
        }
        offset += l.len();
    }
    text.len()
}

/// Offline, a marker may stand where a number was expected (`"containerPort": {{ tf.port }}`):
/// quote such markers so the document still parses, as a string the checks skip.
fn quote_bare_markers(text: &str) -> String {
    if !text.contains(MARKER_OPEN) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_string && rest.starts_with(MARKER_OPEN) {
            let end = rest
                .find(MARKER_CLOSE)
                .map(|i| i + MARKER_CLOSE.len_utf8())
                .unwrap_or(rest.len());
            out.push('"');
            out.push_str(&rest[..end]);
            out.push('"');
            rest = &rest[end..];
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// SSM values fetched before rendering.
#[derive(Debug, Default, Clone)]
pub struct PrefetchedSsm {
    /// Path -> value, or why it cannot be used.
    pub values: HashMap<String, std::result::Result<String, String>>,
}

impl SsmLookup for PrefetchedSsm {
    fn get(&self, path: &str) -> Result<String> {
        match self.values.get(path) {
            Some(Ok(v)) => Ok(v.clone()),
            Some(Err(why)) => Err(Error::usage(why.clone())),
            None => Err(Error::usage(format!(
                "SSM parameter {path} was not fetched"
            ))),
        }
    }
}

/// Records the paths asked for and answers with markers (the first pass of [`Resolved::fetch`]).
#[derive(Default)]
struct CollectSsm(Mutex<Vec<String>>);

impl SsmLookup for CollectSsm {
    fn get(&self, path: &str) -> Result<String> {
        if let Ok(mut v) = self.0.lock() {
            v.push(path.to_string());
        }
        Ok(marker(&format!("ssm({path})")))
    }
}

/// Everything a render needs from AWS and Terraform for one environment.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub region: String,
    pub account: String,
    pub tf: Option<Map<String, serde_json::Value>>,
    pub ssm: PrefetchedSsm,
}

impl Resolved {
    /// Reads the account (STS, unless wharf.toml names it), Terraform outputs (see
    /// [`crate::project::stack::outputs`]) and the SSM parameters that `units` use.
    pub async fn fetch(
        manifest: &Manifest,
        env: &str,
        tag: Option<&str>,
        clients: &crate::aws::Clients,
        units: &[Unit<'_>],
    ) -> Result<Resolved> {
        Self::fetch_with(manifest, env, tag, clients, units, None).await
    }

    /// Like [`Resolved::fetch`], with the Terraform outputs given (`wharf plan` passes the
    /// outputs of its saved plan) instead of read from the state.
    pub async fn fetch_with(
        manifest: &Manifest,
        env: &str,
        tag: Option<&str>,
        clients: &crate::aws::Clients,
        units: &[Unit<'_>],
        tf: Option<Map<String, serde_json::Value>>,
    ) -> Result<Resolved> {
        let environment = manifest.environment(env)?;
        let account = match &environment.account {
            Some(a) => a.get_ref().clone(),
            None => clients.account().await?,
        };
        let tf = match tf {
            Some(given) => Some(given),
            None => crate::project::stack::outputs(manifest, env, &clients.config).await?,
        };
        let mut resolved = Resolved {
            region: clients.region.clone(),
            account,
            tf,
            ssm: PrefetchedSsm::default(),
        };
        let collect = CollectSsm::default();
        for unit in units {
            let mut inputs = resolved.inputs(manifest, env, tag);
            inputs.ssm = Some(&collect);
            render_unit(&inputs, *unit)?;
        }
        let mut paths = collect.0.into_inner().unwrap_or_default();
        paths.sort();
        paths.dedup();
        for chunk in paths.chunks(10) {
            let out = clients
                .ssm
                .get_parameters()
                .set_names(Some(chunk.to_vec()))
                .with_decryption(false)
                .send()
                .await
                .map_err(|e| crate::aws::error("ssm:GetParameters", e))?;
            for p in out.parameters() {
                let name = p.name().unwrap_or_default().to_string();
                let value = if p.r#type() == Some(&aws_sdk_ssm::types::ParameterType::SecureString)
                {
                    Err(format!(
                        "ssm('{name}') is a SecureString parameter; its value would be printed in the task definition. \
                         Reference it with secret() in `secrets` instead, so ECS injects it at run time"
                    ))
                } else {
                    Ok(p.value().unwrap_or_default().to_string())
                };
                resolved.ssm.values.insert(name, value);
            }
            for missing in out.invalid_parameters() {
                resolved.ssm.values.insert(
                    missing.clone(),
                    Err(format!("SSM parameter {missing} does not exist")),
                );
            }
        }
        Ok(resolved)
    }

    /// Inputs for rendering online with what was fetched.
    pub fn inputs<'a>(
        &'a self,
        manifest: &'a Manifest,
        env: &'a str,
        tag: Option<&'a str>,
    ) -> Inputs<'a> {
        Inputs {
            manifest,
            env,
            tag,
            region: Some(self.region.clone()),
            account: Some(self.account.clone()),
            tf: self.tf.clone(),
            ssm: Some(&self.ssm),
            offline: false,
        }
    }
}

/// Offline inputs for `validate`: nothing from AWS; the account only when wharf.toml names it.
pub fn offline_inputs<'a>(
    manifest: &'a Manifest,
    env: &'a str,
    tag: Option<&'a str>,
) -> Inputs<'a> {
    Inputs {
        manifest,
        env,
        tag,
        region: None,
        account: None,
        tf: None,
        ssm: None,
        offline: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(template: &str, extra: &str) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("web.json"), template).unwrap();
        let toml = format!(
            "app = \"shop\"\n[images.app]\nrepository = \"shop/app\"\n[vars]\nlevel = \"info\"\n\
             [environments.dev]\nregion = \"us-east-1\"\n[services.web]\ntask_definition = \"web.json\"\n{extra}"
        );
        let path = dir.path().join("wharf.toml");
        std::fs::write(&path, &toml).unwrap();
        let m = Manifest::load(&path).unwrap();
        (dir, m)
    }

    const TD: &str = r#"{"family": "{{ app }}-{{ env }}", "containerDefinitions": [{"name": "web", "image": "{{ image('app') }}", "memory": 128,
"environment": [{"name": "L", "value": "{{ vars.level }}"}], "secrets": [{"name": "DB", "valueFrom": "{{ secret('db') }}"}]}]}"#;

    fn online<'a>(m: &'a Manifest, tag: Option<&'a str>) -> Inputs<'a> {
        Inputs {
            manifest: m,
            env: "dev",
            tag,
            region: None,
            account: Some("123456789012".into()),
            tf: None,
            ssm: None,
            offline: false,
        }
    }

    #[test]
    fn renders_images_secrets_and_vars() {
        let (_d, m) = project(TD, "");
        let r = render_unit(&online(&m, Some("v1")), Unit::Service("web")).unwrap();
        let c = &r.task_definition["containerDefinitions"][0];
        assert_eq!(
            c["image"],
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/app:v1"
        );
        assert_eq!(
            c["secrets"][0]["valueFrom"],
            "arn:aws:ssm:us-east-1:123456789012:parameter/shop/dev/db"
        );
        assert_eq!(c["environment"][0]["value"], "info");
        assert_eq!(r.secrets, ["db"]);
        assert_eq!(r.task_definition["family"], "shop-dev");
    }

    #[test]
    fn offline_marks_what_needs_aws() {
        let (_d, m) = project(&TD.replace("{{ vars.level }}", "{{ tf.level }}"), "");
        let r = render_unit(&offline_inputs(&m, "dev", None), Unit::Service("web")).unwrap();
        assert_eq!(r.unresolved, ["account", "tag", "tf.level"]);
    }

    #[test]
    fn offline_parts_of_map_and_list_outputs_are_unresolved_too() {
        let (_d, m) = project(
            &TD.replace(
                "{{ vars.level }}",
                "{{ tf.services.web }} {{ tf.subnet_ids[0] }} {{ tf.services[service] }}",
            ),
            "",
        );
        let r = render_unit(&offline_inputs(&m, "dev", None), Unit::Service("web")).unwrap();
        assert_eq!(
            r.task_definition["containerDefinitions"][0]["environment"][0]["value"],
            format!(
                "{} {} {}",
                marker("tf.services.web"),
                marker("tf.subnet_ids[0]"),
                marker("tf.services.web")
            )
        );
        assert_eq!(
            r.unresolved,
            ["account", "tag", "tf.services.web", "tf.subnet_ids[0]"]
        );
    }

    #[test]
    fn a_missing_tag_online_says_to_pass_one() {
        let (_d, m) = project(TD, "");
        let e = render_unit(&online(&m, None), Unit::Service("web"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("image('app') needs an image tag: pass --tag"),
            "{e}"
        );
        assert!(e.contains("web.json:1:"), "{e}");
    }

    #[test]
    fn undefined_names_are_located_errors() {
        let (_d, m) = project(&TD.replace("{{ vars.level }}", "{{ vars.lvl }}"), "");
        let e = render_unit(&online(&m, Some("v1")), Unit::Service("web"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`vars.lvl` is not defined (vars: level)"), "{e}");
        assert!(e.contains("web.json:2:"), "{e}");
    }

    #[test]
    fn ssm_values_come_from_the_lookup() {
        struct Fixed;
        impl SsmLookup for Fixed {
            fn get(&self, path: &str) -> Result<String> {
                assert_eq!(path, "/shop/dev/level");
                Ok("debug".into())
            }
        }
        let (_d, m) = project(&TD.replace("{{ vars.level }}", "{{ ssm('level') }}"), "");
        let mut inputs = online(&m, Some("v1"));
        inputs.ssm = Some(&Fixed);
        let r = render_unit(&inputs, Unit::Service("web")).unwrap();
        assert_eq!(
            r.task_definition["containerDefinitions"][0]["environment"][0]["value"],
            "debug"
        );
    }

    #[test]
    fn bare_markers_keep_json_valid() {
        let (_d, m) = project(
            &TD.replace(
                "\"name\": \"web\",",
                "\"name\": \"web\", \"memory\": {{ tf.mem }},",
            ),
            "",
        );
        let r = render_unit(&offline_inputs(&m, "dev", Some("v1")), Unit::Service("web")).unwrap();
        assert!(r.unresolved.contains(&"tf.mem".to_string()));
    }

    #[test]
    fn values_render_with_locations() {
        let (_d, m) = project(TD, "");
        let t = Spanned::new(0..0, "{{ app }}-{{ env }}".to_string());
        assert_eq!(
            render_value(&online(&m, None), "cluster", &t).unwrap(),
            "shop-dev"
        );
        let t = m.doc.services["web"].task_definition.clone();
        let bad = Spanned::new(t.span(), "{{ nope }}".to_string());
        let e = render_value(&online(&m, None), "cluster", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.contains("in cluster: `nope` is undefined"), "{e}");
    }
}
