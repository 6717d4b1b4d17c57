//! One file per verb. A command turns its flags into the core's options, calls the core, and
//! prints; it does not decide anything the core could decide. AWS calls go through the edge
//! ([`crate::aws`]): no command builds an SDK request itself.

pub mod all;
pub mod apply;
pub mod build;
pub mod ci;
pub mod cluster;
pub mod completions;
pub mod deploy;
pub mod diff;
pub mod env;
pub mod exec;
pub mod init;
pub mod local;
pub mod logs;
pub mod man;
pub mod plan;
pub mod promote;
pub mod push;
pub mod redeploy;
pub mod render;
pub mod rollback;
pub mod run;
pub mod schema;
pub mod secrets;
pub mod status;
pub mod unlock;
pub mod validate;
pub mod wait;
