//! The project: `wharf.toml` and the task-definition templates, read, rendered and checked
//! offline. Nothing here waits on a rollout; the only AWS reads are the ones rendering needs
//! (Terraform outputs, SSM parameter names, the config bucket's listing).
//!
//! Read in this order: [`manifest`] (the project file with the location of every value),
//! [`render`] (templates per environment), [`taskdef`] (checks of a rendered task definition),
//! [`normalize`] (the canonical form that rendered and live definitions are compared in),
//! [`config_files`] (a service's config folder, hashed and synced to S3), [`snippet`] (source
//! excerpts with a caret for errors).

pub mod config_files;
pub mod connect;
pub mod import;
pub mod manifest;
pub mod normalize;
pub mod render;
pub mod schema;
pub mod snippet;
pub mod stack;
pub mod taskdef;
pub mod template_hints;
pub mod tolerant;
pub mod unresolved;
