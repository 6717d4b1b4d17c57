//! One file per verb. A command parses its arguments, calls the core, and prints; it does not
//! decide anything the core could decide, and makes no AWS call written inline.

pub mod all;
pub mod apply;
pub mod build;
pub mod ci;
pub mod completions;
pub mod deploy;
pub mod diff;
pub mod env;
pub mod exec;
pub mod init;
pub mod local;
pub mod logs;
pub mod plan;
pub mod promote;
pub mod push;
pub mod redeploy;
pub mod render;
pub mod rollback;
pub mod run;
pub mod secrets;
pub mod status;
pub mod unlock;
pub mod validate;
pub mod wait;
