//! wharf ships containerized applications to AWS ECS across an application's environments.
//!
//! The library is the product; `main.rs` only calls [`cli::main`]. Read the modules in this order:
//!
//! - [`manifest`]: the project file, `wharf.toml`, loaded with the location of every value.
//! - [`render`]: task-definition templates (minijinja) rendered per environment.
//! - [`taskdef`]: checks of a rendered task definition against the RegisterTaskDefinition shape.
//! - [`normalize`]: task definitions and services brought to one canonical form so that rendered
//!   and live versions compare equal when AWS only filled in defaults.
//! - [`plan`]: what a deploy will do, as data, before anything is sent.
//! - [`rollout`]: the state machine that reads ECS snapshots and says progressing, done or failed.
//! - [`watch`]: the loop that polls ECS for many services at once and feeds [`rollout`].
//! - [`aws`]: the edge to AWS (SDK clients built once per environment, errors made readable).
//! - [`commands`]: one file per verb; each parses, calls the core, prints.
//! - [`error`] and [`diag`]: errors written for the user, with exit codes and source locations.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod config_files;
pub mod deploy;
pub mod diag;
pub mod diagnose;
pub mod diff;
pub mod docker_socket;
pub mod ecs;
pub mod engine;
pub mod error;
pub mod exec;
pub mod images;
pub mod jobs;
pub mod local;
pub mod lock;
pub mod logs;
pub mod manifest;
pub mod normalize;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod render;
pub mod rollout;
pub mod secrets;
pub mod taskdef;
pub mod terraform;
pub mod view;
pub mod watch;

/// Lower-case hexadecimal of `bytes` (digests in S3 ETags, registry digests, cache names).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
