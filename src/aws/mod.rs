//! The edge to AWS: SDK clients built once per environment, and AWS errors made readable.
//!
//! Clients come from the standard credential chain (environment, profiles, SSO, web identity,
//! instance roles) with the environment's region, profile and endpoint. Nothing else in wharf
//! builds an SDK client.

pub mod autoscaling;
pub mod ecs;
pub mod elb;
pub mod model;
pub mod pace;
pub mod raw;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::client::result::SdkError;

use crate::error::{Error, Result};
use crate::settings::AwsTarget;

/// SDK clients for one environment.
#[derive(Clone, Debug)]
pub struct Clients {
    pub config: SdkConfig,
    pub region: String,
    pub ecs: aws_sdk_ecs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub sts: aws_sdk_sts::Client,
}

impl Clients {
    /// Builds the clients for `target` (the flags and the environment's settings resolved by
    /// [`crate::settings::Settings::aws`]); what it leaves unset comes from the standard AWS
    /// environment variables and config files.
    pub async fn connect(target: &AwsTarget) -> Result<Clients> {
        // Five attempts (the SDK's default is three) ride out short bursts of throttling and 5xx
        // without making a wrong endpoint slow to report.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5));
        if let Some(profile) = &target.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &target.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &target.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
            Error::usage("no AWS region: set `region` for the environment in wharf.toml, pass --region, or set AWS_REGION")
        })?;
        Ok(Clients {
            region,
            ecs: aws_sdk_ecs::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&config),
            sts: aws_sdk_sts::Client::new(&config),
            config,
        })
    }

    /// An S3 client (built on demand: most commands never touch S3).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.config)
    }

    /// An EC2 Auto Scaling client (built on demand: only `cluster roll` uses it).
    pub fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.config)
    }

    /// The account the credentials belong to (STS GetCallerIdentity).
    pub async fn account(&self) -> Result<String> {
        let who = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| error("sts:GetCallerIdentity", e))?;
        who.account
            .ok_or_else(|| Error::aws("sts:GetCallerIdentity returned no account"))
    }

    /// Refuses to go on when the environment names an account and the credentials are another's.
    pub async fn check_account(&self, env_name: &str, expected: Option<&str>) -> Result<()> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let actual = self.account().await?;
        if actual != expected {
            return Err(Error::aws(format!(
                "environment `{env_name}` is account {expected}, but the credentials in use are for account {actual}; refusing to act"
            ))
            .with_hint("pick the right profile (--profile, or `profile` in wharf.toml) or credentials"));
        }
        Ok(())
    }
}

/// An S3 client for `config`; custom endpoints (the local test bed, S3-compatible stores) get
/// path-style URLs.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(config);
    if config.endpoint_url().is_some() {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// One readable line for an AWS SDK error from `operation` (for example `ecs:DescribeServices`).
///
/// Throttling that outlived the SDK's retries, denied access, missing credentials and unreachable
/// endpoints are AWS errors (exit 3).
pub fn error<E, R>(operation: &str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    match &err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let code = e.code().unwrap_or("UnknownError");
            let message = e.message().unwrap_or("no message");
            let hint = hint_for_code(code);
            let mut error = Error::aws(format!("{operation} failed: {code}: {message}"));
            if is_throttling(code) || service.raw().status().is_server_error() {
                error = error.retryable();
            }
            match hint {
                Some(h) => error.with_hint(h),
                None => error,
            }
        }
        SdkError::DispatchFailure(d) => {
            let detail = crate::error::chain(&err);
            let what = if d.is_timeout() {
                "timed out connecting to AWS"
            } else if d.is_io() {
                "could not reach AWS"
            } else {
                "could not send the request"
            };
            Error::aws(format!("{operation} failed: {what}: {detail}"))
                .with_hint("check the network, the region, and the environment's endpoint_url")
                .retryable()
        }
        SdkError::TimeoutError(_) => {
            Error::aws(format!("{operation} failed: the request timed out")).retryable()
        }
        SdkError::ResponseError(_) => {
            Error::aws(format!("{operation} failed: {}", crate::error::chain(&err))).retryable()
        }
        SdkError::ConstructionFailure(_) => {
            let detail = crate::error::chain(&err);
            let e = Error::aws(format!("{operation} failed: {detail}"));
            if detail.contains("credentials") {
                e.with_hint("no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or log in with `aws sso login`")
            } else {
                e
            }
        }
        _ => Error::aws(format!("{operation} failed: {}", crate::error::chain(&err))),
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
    )
}

fn hint_for_code(code: &str) -> Option<&'static str> {
    match code {
        "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
            Some("the credentials in use lack this permission; check the IAM policy")
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            Some("the credentials have expired; refresh them (for SSO: `aws sso login`)")
        }
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => {
            Some("the credentials are not valid for this account or endpoint")
        }
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded" => {
            Some("AWS kept throttling after retries; try again, or deploy fewer services at once")
        }
        "ClusterNotFoundException" => Some("check the environment's `cluster` in wharf.toml"),
        _ => None,
    }
}

/// The error and its sources joined, most specific last.
/// Responses that carry an HTTP status (every SDK response does).
pub trait HasStatus {
    fn status(&self) -> aws_smithy_runtime_api::http::StatusCode;
}

impl HasStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn status(&self) -> aws_smithy_runtime_api::http::StatusCode {
        aws_smithy_runtime_api::client::orchestrator::HttpResponse::status(self)
    }
}
