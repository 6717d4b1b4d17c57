//! wharf's integration tests: one binary (it links once against the AWS SDK), a module per
//! topic, as ripgrep's `tests/` is laid out. `support` holds the shared fixtures; the end-to-end
//! modules need the local test bed (`scripts/testbed up`) and fail loudly without it.
//!
//! Run one topic with a filter: `cargo test --test suite deploy_e2e::`.

mod support;

mod cli_foundation;
mod corpus;
mod deploy_e2e;
mod deploy_engine;
mod deploy_faults;
mod deploy_lock;
mod deploy_plain_moto;
mod ec2_capacity_e2e;
mod editor_support;
mod images_e2e;
mod importers;
mod leak_scan;
mod operate_config_e2e;
mod operate_exec_e2e;
mod operate_local_e2e;
mod operate_run_e2e;
mod operate_secrets_e2e;
mod pipeline_e2e;
mod stack_acceptance_e2e;
mod strategies_e2e;
mod terraform_apply_e2e;
mod terraform_e2e;
mod terraform_modules;
mod terraform_switch_e2e;
