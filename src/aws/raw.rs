//! Reading ECS answers as the JSON AWS sent.
//!
//! Task definitions are written by users in AWS's own JSON shape, and wharf compares, diffs and
//! prints them in that shape. Converting every field through the SDK's typed structs and back
//! would be thousands of lines and would silently drop fields the SDK version does not know. So the
//! SDK still carries every call (credentials, signing, retries, endpoints, error parsing), and
//! wharf reads the response body as JSON with an interceptor, and, for RegisterTaskDefinition,
//! hands the SDK the validated JSON document as the request body.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::{Error, Result};

/// Captures the body of the last response of one call.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    body: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Capture {
    pub fn new() -> Self {
        Self::default()
    }

    /// The captured body parsed as JSON, after the call has returned successfully.
    pub fn json(&self, operation: &str) -> Result<serde_json::Value> {
        let body = self
            .body
            .lock()
            .map_err(|_| Error::aws(format!("{operation}: response capture poisoned")))?
            .take()
            .ok_or_else(|| Error::aws(format!("{operation}: AWS sent no response body")))?;
        serde_json::from_slice(&body).map_err(|e| {
            Error::aws(format!(
                "{operation}: AWS sent a body that is not JSON: {e}"
            ))
        })
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "wharf::aws::raw::Capture"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if let Some(bytes) = context.response().and_then(|r| r.body().bytes()) {
            if let Ok(mut slot) = self.body.lock() {
                *slot = Some(bytes.to_vec());
            }
        }
        Ok(())
    }
}

/// Replaces a request's JSON body with `document` (used for RegisterTaskDefinition, whose input
/// the user wrote in AWS's JSON shape). Runs before signing, so the signature covers it.
#[derive(Debug, Clone)]
pub struct ReplaceBody {
    document: Arc<Vec<u8>>,
}

impl ReplaceBody {
    pub fn new(document: &serde_json::Value) -> Self {
        ReplaceBody {
            document: Arc::new(serde_json::to_vec(document).expect("JSON values serialize")),
        }
    }
}

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "wharf::aws::raw::ReplaceBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let request = context.request_mut();
        let len = self.document.len();
        *request.body_mut() = SdkBody::from(self.document.as_ref().clone());
        request
            .headers_mut()
            .insert("content-length", len.to_string());
        Ok(())
    }
}
