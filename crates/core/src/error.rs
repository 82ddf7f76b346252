//! The core's error type. Each error names the Clerk error code and the kind of
//! failure; `latch-api` alone turns the kind into an HTTP status.

use std::fmt;

/// What went wrong, in the terms an HTTP adapter needs to pick a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was understood but its content is refused (422).
    Unprocessable,
    /// The request cannot apply to the resource's current state (400).
    BadRequest,
    /// The resource does not exist or is not the caller's (404).
    NotFound,
    /// The caller is not authenticated (401).
    Unauthenticated,
    /// The caller may not do this (403).
    Forbidden,
    /// The request conflicts with the current state (409).
    Conflict,
    /// The request body is over the size limit (413).
    PayloadTooLarge,
    /// The path exists but not with this method (405).
    MethodNotAllowed,
    /// Too many requests; retry after this many seconds (429).
    TooManyRequests { retry_after_secs: u64 },
    /// A dependency is down (503).
    Unavailable,
    /// A bug or an unexpected adapter failure (500).
    Internal,
}

/// Clerk's error codes, as the SDKs know them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    FormIdentifierNotFound,
    FormIdentifierExists,
    FormPasswordIncorrect,
    FormPasswordLengthTooShort,
    FormPasswordSizeInBytesExceeded,
    FormParamNil,
    FormParamFormatInvalid,
    FormParamValueInvalid,
    StrategyForUserInvalid,
    StrategyNotSupported,
    VerificationExpired,
    VerificationFailed,
    ResourceNotFound,
    AuthenticationInvalid,
    UserLocked,
    UserBanned,
    DevBrowserUnauthenticated,
    Conflict,
    FormCodeIncorrect,
    TooManyRequests,
    CodeDeliveryFailed,
    IdentifierAlreadySignedIn,
    OriginInvalid,
    RequestBodyTooLarge,
    MethodNotAllowed,
    Internal,
    ServiceUnavailable,
    FeatureNotEnabled,
    TotpAlreadyEnabled,
    OAuthAccessDenied,
    OAuthProviderError,
    OAuthTokenExchangeError,
    OAuthProviderUnavailable,
    OAuthStateInvalid,
    ExternalAccountNotFound,
    ExternalAccountMismatch,
    OAuthClientMismatch,
}

impl ErrorCode {
    /// The code as it travels on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FormIdentifierNotFound => "form_identifier_not_found",
            Self::FormIdentifierExists => "form_identifier_exists",
            Self::FormPasswordIncorrect => "form_password_incorrect",
            Self::FormPasswordLengthTooShort => "form_password_length_too_short",
            Self::FormPasswordSizeInBytesExceeded => "form_password_size_in_bytes_exceeded",
            Self::FormParamNil => "form_param_nil",
            Self::FormParamFormatInvalid => "form_param_format_invalid",
            Self::FormParamValueInvalid => "form_param_value_invalid",
            Self::StrategyForUserInvalid => "strategy_for_user_invalid",
            Self::StrategyNotSupported => "strategy_not_supported",
            Self::VerificationExpired => "verification_expired",
            Self::VerificationFailed => "verification_failed",
            Self::ResourceNotFound => "resource_not_found",
            Self::AuthenticationInvalid => "authentication_invalid",
            Self::UserLocked => "user_locked",
            Self::UserBanned => "user_banned",
            Self::DevBrowserUnauthenticated => "dev_browser_unauthenticated",
            Self::Conflict => "conflict",
            Self::FormCodeIncorrect => "form_code_incorrect",
            Self::TooManyRequests => "too_many_requests",
            Self::CodeDeliveryFailed => "code_delivery_failed",
            Self::IdentifierAlreadySignedIn => "identifier_already_signed_in",
            Self::OriginInvalid => "origin_invalid",
            Self::RequestBodyTooLarge => "request_body_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal_clerk_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::FeatureNotEnabled => "feature_not_enabled",
            Self::TotpAlreadyEnabled => "totp_already_enabled",
            Self::OAuthAccessDenied => "oauth_access_denied",
            Self::OAuthProviderError => "oauth_provider_error",
            Self::OAuthTokenExchangeError => "oauth_token_exchange_error",
            Self::OAuthProviderUnavailable => "oauth_provider_unavailable",
            Self::OAuthStateInvalid => "oauth_state_invalid",
            Self::ExternalAccountNotFound => "external_account_not_found",
            Self::ExternalAccountMismatch => "external_account_mismatch",
            Self::OAuthClientMismatch => "oauth_client_mismatch",
        }
    }
}

/// An error of a use case: a kind, a Clerk code, a short and a long message, and
/// the parameter it concerns, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub kind: ErrorKind,
    pub code: ErrorCode,
    pub message: String,
    pub long_message: String,
    pub param_name: Option<String>,
    /// Further `meta` entries (e.g. `session_id`).
    pub meta: Vec<(&'static str, serde_json::Value)>,
}

impl Error {
    pub fn new(
        kind: ErrorKind,
        code: ErrorCode,
        message: &str,
        long_message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code,
            message: message.to_owned(),
            long_message: long_message.into(),
            param_name: None,
            meta: Vec::new(),
        }
    }

    /// Names the request parameter the error is about.
    pub fn param(mut self, name: &str) -> Self {
        self.param_name = Some(name.to_owned());
        self
    }

    /// Adds a `meta` entry.
    pub fn with_meta(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        self.meta.push((key, value.into()));
        self
    }

    pub fn param_nil(name: &str) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamNil,
            "is missing",
            format!("{name} must be included."),
        )
        .param(name)
    }

    pub fn param_format_invalid(name: &str, why: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamFormatInvalid,
            "is invalid",
            why,
        )
        .param(name)
    }

    pub fn param_value_invalid(name: &str, why: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamValueInvalid,
            "is invalid",
            why,
        )
        .param(name)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            ErrorCode::ResourceNotFound,
            "not found",
            format!("The requested {what} was not found."),
        )
    }

    pub fn identifier_not_found() -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormIdentifierNotFound,
            "Couldn't find your account.",
            "Couldn't find your account.",
        )
        .param("identifier")
    }

    pub fn password_incorrect() -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormPasswordIncorrect,
            "Password is incorrect. Try again, or use another method.",
            "Password is incorrect. Try again, or use another method.",
        )
        .param("password")
    }

    pub fn identifier_exists(param: &str) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormIdentifierExists,
            "That identifier is taken. Please try another.",
            format!("That {param} is taken. Please try another."),
        )
        .param(param)
    }

    pub fn internal(context: &str) -> Self {
        Self::new(
            ErrorKind::Internal,
            ErrorCode::Internal,
            "Oops, an unexpected error occurred",
            format!("An internal error occurred ({context})."),
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            ErrorCode::ServiceUnavailable,
            "Service unavailable",
            "A storage dependency is unavailable. Please try again shortly.",
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.long_message)
    }
}

impl std::error::Error for Error {}

/// What a storage adapter reports; the core turns it into [`Error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique identifier (email address, phone number, username) is taken.
    #[error("duplicate {0:?}")]
    Duplicate(crate::model::IdentifierKind),
    /// An external account (provider and subject) is linked to another user.
    #[error("external account linked to another user")]
    ExternalAccountTaken,
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// Another request changed the record first (a lost compare-and-set).
    #[error("conflict")]
    Conflict,
    /// The store cannot be reached or timed out.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the text is for logs only.
    #[error("store failure: {0}")]
    Other(String),
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Duplicate(kind) => Error::identifier_exists(kind.param_name()),
            StoreError::ExternalAccountTaken => Error::new(
                ErrorKind::Unprocessable,
                ErrorCode::ExternalAccountMismatch,
                "Another account",
                "This account at the provider is linked to another user.",
            ),
            StoreError::NotFound => Error::not_found("resource"),
            StoreError::Conflict => Error::new(
                ErrorKind::Conflict,
                ErrorCode::Conflict,
                "Conflict",
                "Another request changed this resource at the same time. Please retry.",
            ),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                Error::unavailable()
            }
            StoreError::Other(detail) => {
                tracing::error!(%detail, "store failure");
                Error::internal("store")
            }
        }
    }
}
