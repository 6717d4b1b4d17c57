//! One file per verb. A command parses its arguments, calls the core, and prints; it does not
//! decide anything the core could decide, and makes no AWS call written inline.

pub mod completions;
pub mod init;
pub mod render;
pub mod validate;
