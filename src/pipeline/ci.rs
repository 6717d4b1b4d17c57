//! `wharf ci`'s decision: which CI system runs us (branch, tag, commit from its variables), and
//! which `[ci]` rule matches, with the stages it runs.

use crate::error::{Error, Result};
use crate::pipeline::{all_stages, deploy_stages, image_stages, Stage};
use crate::project::manifest::Manifest;

/// What the CI system says about the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CiInfo {
    /// github-actions, circleci, gitlab-ci, jenkins, or none (flags only).
    pub system: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub commit: Option<String>,
    /// A pull (merge) request build: only rules with `pull_requests = true` match it.
    pub pull_request: bool,
}

/// Reads branch, tag and commit from the variables of GitHub Actions, CircleCI, GitLab CI or
/// Jenkins (`var` looks a variable up; empty values count as unset).
pub fn detect_ci(var: &dyn Fn(&str) -> Option<String>) -> CiInfo {
    let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    if get("GITHUB_ACTIONS").as_deref() == Some("true") {
        let reference = get("GITHUB_REF").unwrap_or_default();
        let ref_type = get("GITHUB_REF_TYPE");
        let name = get("GITHUB_REF_NAME");
        let (mut branch, mut tag) = (None, None);
        if let Some(t) = reference.strip_prefix("refs/tags/") {
            tag = Some(t.to_string());
        } else if let Some(b) = reference.strip_prefix("refs/heads/") {
            branch = Some(b.to_string());
        } else if ref_type.as_deref() == Some("tag") {
            tag = name;
        } else {
            // Pull requests: the head branch.
            branch = get("GITHUB_HEAD_REF").or(name);
        }
        let event = get("GITHUB_EVENT_NAME").unwrap_or_default();
        return CiInfo {
            system: "github-actions".into(),
            branch,
            tag,
            commit: get("GITHUB_SHA"),
            pull_request: event.starts_with("pull_request") || reference.starts_with("refs/pull/"),
        };
    }
    if get("CIRCLECI").as_deref() == Some("true") {
        return CiInfo {
            system: "circleci".into(),
            branch: get("CIRCLE_BRANCH"),
            tag: get("CIRCLE_TAG"),
            commit: get("CIRCLE_SHA1"),
            pull_request: get("CIRCLE_PULL_REQUEST").is_some() || get("CIRCLE_PR_NUMBER").is_some(),
        };
    }
    if get("GITLAB_CI").as_deref() == Some("true") {
        let tag = get("CI_COMMIT_TAG");
        return CiInfo {
            system: "gitlab-ci".into(),
            branch: if tag.is_some() {
                None
            } else {
                get("CI_COMMIT_BRANCH").or(get("CI_COMMIT_REF_NAME"))
            },
            tag,
            commit: get("CI_COMMIT_SHA"),
            pull_request: get("CI_MERGE_REQUEST_IID").is_some()
                || get("CI_PIPELINE_SOURCE").as_deref() == Some("merge_request_event"),
        };
    }
    if get("JENKINS_URL").is_some() || get("JENKINS_HOME").is_some() {
        let tag = get("TAG_NAME");
        // A multibranch pipeline's pull request: CHANGE_ID is its number, CHANGE_BRANCH its head.
        let pull_request = get("CHANGE_ID").is_some();
        let branch = if tag.is_some() {
            None
        } else if pull_request && get("CHANGE_BRANCH").is_some() {
            get("CHANGE_BRANCH")
        } else {
            get("BRANCH_NAME").or_else(|| {
                get("GIT_BRANCH").map(|b| {
                    b.strip_prefix("origin/")
                        .or_else(|| b.strip_prefix("refs/heads/"))
                        .unwrap_or(&b)
                        .to_string()
                })
            })
        };
        return CiInfo {
            system: "jenkins".into(),
            branch,
            tag,
            commit: get("GIT_COMMIT"),
            pull_request,
        };
    }
    CiInfo {
        system: "none".into(),
        ..CiInfo::default()
    }
}

/// `*` (any run of characters) and `?` (one character) glob match of the whole text.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The actions a CI rule may name.
pub const CI_ACTIONS: &[&str] = &["build", "deploy", "all", "promote", "apply"];

/// What `wharf ci` will do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Index of the matching rule in `[[ci.rules]]` (1-based), and its pattern.
    pub rule: usize,
    pub matched: String,
    pub action: String,
    pub env: Option<String>,
    pub tag: String,
    pub stages: Vec<&'static str>,
    #[serde(skip)]
    pub stage_list: Vec<Stage>,
}

/// Checks the `[ci]` rules against the project (actions, environments); errors are located.
pub fn check_rules(manifest: &Manifest) -> Result<()> {
    let Some(ci) = &manifest.doc.ci else {
        return Ok(());
    };
    for rule in &ci.rules {
        let action = rule.action.get_ref();
        if !CI_ACTIONS.contains(&action.as_str()) {
            let mut m = format!(
                "ci rule action \"{action}\" is not one of {}",
                CI_ACTIONS.join(", ")
            );
            if let Some(s) = crate::text::did_you_mean(action, CI_ACTIONS.iter().copied()) {
                m.push_str(&format!("; did you mean \"{s}\"?"));
            }
            return Err(manifest.error_at(rule.action.span(), &m));
        }
        if rule.branch.is_some() == rule.tag.is_some() {
            return Err(manifest.error_at(
                rule.action.span(),
                "a ci rule needs exactly one of `branch` or `tag` (a pattern such as \"main\" or \"*-prod\")",
            ));
        }
        match (&rule.env, action.as_str()) {
            (None, "build") => {}
            (None, _) => {
                return Err(manifest.error_at(
                    rule.action.span(),
                    &format!("ci rule with action \"{action}\" needs `env`"),
                ))
            }
            (Some(env), _) => {
                if !manifest.doc.environments.contains_key(env.get_ref()) {
                    return Err(manifest.error_at(
                        env.span(),
                        &format!(
                            "ci rule names environment `{}`, which is not in [environments]",
                            env.get_ref()
                        ),
                    ));
                }
            }
        }
        match (&rule.from, action.as_str()) {
            (None, "promote") => {
                return Err(manifest.error_at(
                    rule.action.span(),
                    "ci rule with action \"promote\" needs `from` (the environment whose image is promoted)",
                ))
            }
            (Some(from), _) if !manifest.doc.environments.contains_key(from.get_ref()) => {
                return Err(manifest.error_at(
                    from.span(),
                    &format!("ci rule names environment `{}`, which is not in [environments]", from.get_ref()),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The first rule matching the CI info, and the stages it runs. None when no rule matches.
pub fn decide(manifest: &Manifest, info: &CiInfo) -> Result<Option<Decision>> {
    check_rules(manifest)?;
    let Some(ci) = &manifest.doc.ci else {
        return Err(Error::usage(format!(
            "{} has no [ci] rules",
            manifest.path.display()
        ))
        .with_hint("add [[ci.rules]] entries, for example branch = \"main\", env = \"dev\", action = \"deploy\" (see docs/ci.md)"));
    };
    let found = ci.rules.iter().enumerate().find_map(|(i, rule)| {
        let allows_pull_requests = rule.pull_requests.as_ref().is_some_and(|p| *p.get_ref());
        if info.pull_request && !allows_pull_requests {
            return None;
        }
        match (&rule.branch, &rule.tag, &info.branch, &info.tag) {
            (Some(p), None, Some(b), _) if glob_match(p.get_ref(), b) => {
                Some((i, rule, format!("branch {b} ~ \"{}\"", p.get_ref())))
            }
            (None, Some(p), _, Some(t)) if glob_match(p.get_ref(), t) => {
                Some((i, rule, format!("tag {t} ~ \"{}\"", p.get_ref())))
            }
            _ => None,
        }
    });
    let Some((index, rule, matched)) = found else {
        return Ok(None);
    };
    let commit = info.commit.clone().unwrap_or_default();
    let image_tag = match &ci.image_tag {
        Some(t) => {
            let mut jinja = minijinja::Environment::new();
            jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
            jinja
                .render_str(
                    t.get_ref(),
                    minijinja::context! {
                        commit => commit,
                        short_commit => commit.chars().take(7).collect::<String>(),
                        branch => info.branch.clone().unwrap_or_default(),
                        git_tag => info.tag.clone().unwrap_or_default(),
                    },
                )
                .map_err(|e| {
                    manifest.error_at(t.span(), &format!("cannot render image_tag: {e} (it may use commit, short_commit, branch, git_tag)"))
                })?
        }
        None => commit.chars().take(7).collect(),
    };
    if image_tag.is_empty() {
        return Err(Error::usage(
            "no image tag: the CI variables give no commit; pass --commit SHA (or set [ci] image_tag)",
        ));
    }
    let env = rule.env.as_ref().map(|e| e.get_ref().clone());
    let stage_list = match rule.action.get_ref().as_str() {
        "build" => vec![Stage::Build, Stage::Push],
        "deploy" => {
            let mut s = image_stages(manifest)?;
            s.extend(deploy_stages(manifest));
            s
        }
        "all" => all_stages(manifest, env.as_deref().unwrap_or_default())?,
        "promote" => {
            let mut s = vec![Stage::Promote {
                from: rule
                    .from
                    .as_ref()
                    .map(|f| f.get_ref().clone())
                    .unwrap_or_default(),
            }];
            s.extend(deploy_stages(manifest));
            s
        }
        _ => vec![Stage::Apply],
    };
    Ok(Some(Decision {
        rule: index + 1,
        matched,
        action: rule.action.get_ref().clone(),
        env,
        tag: image_tag,
        stages: stage_list.iter().map(Stage::name).collect(),
        stage_list,
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> CiInfo {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect_ci(&|k| map.get(k).cloned())
    }

    #[test]
    fn globs() {
        assert!(glob_match("*-staging", "1.2.0-staging"));
        assert!(!glob_match("*-staging", "1.2.0-prod"));
        assert!(glob_match("main", "main"));
        assert!(!glob_match("main", "maint"));
        assert!(glob_match("release/*", "release/2024.1"));
        assert!(glob_match("v?.*", "v1.0"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn ci_systems_are_read() {
        let gh = vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REF", "refs/tags/1.0-prod"),
            ("GITHUB_SHA", "abc"),
        ]);
        assert_eq!(
            (gh.system.as_str(), gh.tag.as_deref(), gh.branch),
            ("github-actions", Some("1.0-prod"), None)
        );
        let circle = vars(&[
            ("CIRCLECI", "true"),
            ("CIRCLE_BRANCH", "main"),
            ("CIRCLE_SHA1", "def"),
        ]);
        assert_eq!(
            (circle.branch.as_deref(), circle.commit.as_deref()),
            (Some("main"), Some("def"))
        );
        let gl = vars(&[
            ("GITLAB_CI", "true"),
            ("CI_COMMIT_TAG", "2-staging"),
            ("CI_COMMIT_REF_NAME", "2-staging"),
            ("CI_COMMIT_SHA", "1"),
        ]);
        assert_eq!((gl.tag.as_deref(), gl.branch), (Some("2-staging"), None));
        let j = vars(&[
            ("JENKINS_URL", "http://j"),
            ("GIT_BRANCH", "origin/main"),
            ("GIT_COMMIT", "9"),
        ]);
        assert_eq!(
            (j.system.as_str(), j.branch.as_deref()),
            ("jenkins", Some("main"))
        );
        assert_eq!(vars(&[]).system, "none");
    }

    #[test]
    fn pull_requests_are_recognised_on_each_system() {
        let gh = vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_REF", "refs/pull/7/merge"),
            ("GITHUB_HEAD_REF", "main"),
        ]);
        assert_eq!(
            (gh.pull_request, gh.branch.as_deref()),
            (true, Some("main"))
        );
        let push = vars(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_EVENT_NAME", "push"),
            ("GITHUB_REF", "refs/heads/main"),
        ]);
        assert!(!push.pull_request);
        assert!(
            vars(&[
                ("CIRCLECI", "true"),
                ("CIRCLE_BRANCH", "main"),
                ("CIRCLE_PULL_REQUEST", "https://x/pull/3")
            ])
            .pull_request
        );
        assert!(
            vars(&[
                ("GITLAB_CI", "true"),
                ("CI_COMMIT_REF_NAME", "main"),
                ("CI_MERGE_REQUEST_IID", "4")
            ])
            .pull_request
        );
        let j = vars(&[
            ("JENKINS_URL", "http://j"),
            ("BRANCH_NAME", "PR-9"),
            ("CHANGE_ID", "9"),
            ("CHANGE_BRANCH", "main"),
        ]);
        assert_eq!((j.pull_request, j.branch.as_deref()), (true, Some("main")));
        assert!(!vars(&[("JENKINS_URL", "http://j"), ("BRANCH_NAME", "main")]).pull_request);
    }
}
