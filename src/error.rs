//! wharf's error type: what went wrong, written for the user, and the exit code it maps to.
//!
//! Exit codes are part of the interface (the README lists them, and `wharf --help` says them): 0 success, 1 the operation failed,
//! 2 usage or project-file error, 3 AWS error, 4 timed out, 130 interrupted.

use std::fmt;

/// The class of an error, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The operation ran and failed (deploy rolled back, build failed): exit 1.
    Failed,
    /// Bad flags, a bad project file, template or task definition: exit 2.
    Usage,
    /// AWS said no: credentials, permissions, throttling that did not clear: exit 3.
    Aws,
    /// Waiting ran out of time: exit 4.
    Timeout,
    /// Ctrl-C: exit 130.
    Interrupted,
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Failed => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Aws => 3,
            ErrorKind::Timeout => 4,
            ErrorKind::Interrupted => 130,
        }
    }
}

/// An error for the user: a message (already including any source snippet) and an optional hint.
#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    /// An AWS error worth another try (throttling, 5xx, a dropped connection).
    pub retryable: bool,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            retryable: false,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
    pub fn aws(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Aws, message)
    }
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Timeout, message)
    }
    pub fn interrupted(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Interrupted, message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    pub fn retryable(mut self) -> Self {
        self.retryable = true;
        self
    }
    pub fn exit_code(&self) -> i32 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// An error and its causes on one line ("dispatch failure: connection refused"), each cause
/// left out when an earlier part already says it.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
