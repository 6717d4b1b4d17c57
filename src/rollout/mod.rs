//! Deploying: what will change ([`plan`]), carrying it out under the environment's [`lock`]
//! ([`deploy`]), and following ECS until every service is steady or failed: the poll loop
//! ([`watch`]) feeds snapshots to the state machine ([`state`]), which the live view ([`view`])
//! shows and [`diagnose`] explains when a rollout fails.

pub mod capacity;
pub mod deploy;
pub mod diagnose;
pub mod lock;
pub mod plan;
pub mod smoke_check;
pub mod stages;
pub mod state;
pub mod view;
pub mod watch;
