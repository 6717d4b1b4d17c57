//! Operating what runs: one-off tasks ([`jobs`]), logs ([`logs`]), a shell in a container
//! ([`exec`]), secrets in SSM ([`secrets`]) and a task run on this machine ([`local`]).

pub mod exec;
pub mod jobs;
pub mod local;
pub mod logs;
pub mod roll;
pub mod secrets;
