//! wharf ships containerized applications to AWS ECS across an application's environments.
//!
//! The library is the product; `main.rs` only calls [`cli::main`]. The layers, top to bottom
//! (docs/architecture.md; `scripts/check-layers` fails the suite on an upward import or a cycle):
//!
//! - [`cli`] (clap types) and [`commands`] (one file per verb: flags into options, call the core,
//!   print).
//! - The core, a folder per concern: [`pipeline`] (Terraform apply, all, ci, smoke tests) over
//!   [`operate`] (jobs, logs, exec, secrets, local run) over [`rollout`] (plan, deploy, watch,
//!   diagnosis, lock) over [`images`] (build, push, promote) over [`project`] (wharf.toml,
//!   templates, task-definition checks).
//! - The edges: [`aws`] (SDK clients, raw JSON capture, ECS model helpers), [`engine`]
//!   (docker/podman), [`terraform`].
//! - Below everything: [`settings`] (what a command runs with, resolved from the flags once),
//!   [`output`], [`error`], [`interrupt`] (Ctrl-C) and [`text`].

pub mod aws;
pub mod cli;
pub mod commands;
pub mod engine;
pub mod error;
pub mod images;
pub mod interrupt;
pub mod operate;
pub mod output;
pub mod pipeline;
pub mod project;
pub mod rollout;
pub mod settings;
pub mod terraform;
pub mod text;
