//! What a command runs with, resolved once from the global flags (and their environment
//! variables) before any verb runs: the environment, the project file, the AWS profile and
//! region, the answer to confirmations, and how to print. Below every other module, so the core
//! never reads clap's types.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::output::{Format, Output};

/// The settings of one run of wharf.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--env`: the environment to act on, when the verb acts on one.
    pub env: Option<String>,
    /// `--file`: the project file.
    pub file: PathBuf,
    /// `--profile`: wins over the environment's `profile`.
    pub profile: Option<String>,
    /// `--region`: wins over the environment's `region`.
    pub region: Option<String>,
    /// `--yes`: confirmations are answered yes.
    pub yes: bool,
    /// How to print: text or JSON, colours, verbosity.
    pub out: Output,
}

impl Settings {
    /// The `--env` value, required by verbs that act on one environment.
    pub fn env_name(&self) -> Result<&str> {
        self.env.as_deref().ok_or_else(|| {
            Error::usage("this command needs an environment: pass --env NAME (or set WHARF_ENV)")
        })
    }

    /// The same settings acting on `env`, printing text (a pipeline stage's view).
    pub fn for_env(&self, env: &str) -> Settings {
        let mut settings = self.clone();
        settings.env = Some(env.to_string());
        settings.out.format = Format::Text;
        settings
    }

    /// Where AWS calls for an environment go: the flags win over the environment's own
    /// `profile`, `region` and `endpoint_url` (given here), which win over the SDK's defaults.
    pub fn aws(
        &self,
        profile: Option<&str>,
        region: Option<&str>,
        endpoint_url: Option<&str>,
    ) -> AwsTarget {
        AwsTarget {
            profile: self.profile.clone().or_else(|| profile.map(str::to_string)),
            region: self.region.clone().or_else(|| region.map(str::to_string)),
            endpoint_url: endpoint_url.map(str::to_string),
        }
    }
}

/// The profile, region and endpoint that an environment's AWS clients are built with; `None`
/// leaves the choice to the SDK (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, config files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsTarget {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}
