//! Clerk's error envelope and the one table that turns the core's domain
//! errors into it: the `code`, `message`, `long_message`, `meta` and the
//! HTTP status each error answers with. Errors that only the HTTP edge can
//! raise (a wrong method, a foreign origin, an oversized body) are built here
//! too, as [`ApiError`]s of their own.

use std::fmt;

use latch_core::model::{SettingProblem, SignUpProblem, Strategy};
use latch_core::password::imported::{
    BCRYPT_COSTS, ImportHasher, PBKDF2_SHA256_MAX_ITERATIONS, PBKDF2_SHA512_MAX_ITERATIONS,
    SCRYPT_MAX_N_TIMES_R, SCRYPT_MAX_ROUNDS,
};
use latch_core::{Error, Problem, Resource};
use serde_json::Value;

/// The class of an error, from which the HTTP status follows.
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
    /// The request body did not arrive in time (408).
    RequestTimeout,
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
    SessionReverificationRequired,
    DevBrowserUnauthenticated,
    Conflict,
    FormCodeIncorrect,
    TooManyRequests,
    IdentifierAlreadySignedIn,
    OriginInvalid,
    RequestBodyTooLarge,
    RequestTimeout,
    MethodNotAllowed,
    Internal,
    ServiceUnavailable,
    FeatureNotEnabled,
    TotpAlreadyEnabled,
    VerificationAlreadyVerified,
    DeleteSelfNotEnabled,
    OAuthAccessDenied,
    OAuthProviderError,
    OAuthTokenExchangeError,
    OAuthProviderUnavailable,
    OAuthStateInvalid,
    ExternalAccountNotFound,
    ExternalAccountMismatch,
    OAuthClientMismatch,
    SignUpModeRestricted,
    FormPasswordMatchesIdentifier,
    FormParamUnknown,
    ExternalAccountExists,
    NotAllowedAccess,
    DuplicateRecord,
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
            Self::SessionReverificationRequired => "session_reverification_required",
            Self::DevBrowserUnauthenticated => "dev_browser_unauthenticated",
            Self::Conflict => "conflict",
            Self::FormCodeIncorrect => "form_code_incorrect",
            Self::TooManyRequests => "too_many_requests",
            Self::IdentifierAlreadySignedIn => "identifier_already_signed_in",
            Self::OriginInvalid => "origin_invalid",
            Self::RequestBodyTooLarge => "request_body_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Internal => "internal_clerk_error",
            Self::ServiceUnavailable => "service_unavailable",
            Self::FeatureNotEnabled => "feature_not_enabled",
            Self::TotpAlreadyEnabled => "totp_already_enabled",
            Self::VerificationAlreadyVerified => "verification_already_verified",
            Self::DeleteSelfNotEnabled => "delete_self_not_enabled",
            Self::OAuthAccessDenied => "oauth_access_denied",
            Self::OAuthProviderError => "oauth_provider_error",
            Self::OAuthTokenExchangeError => "oauth_token_exchange_error",
            Self::OAuthProviderUnavailable => "oauth_provider_unavailable",
            Self::OAuthStateInvalid => "oauth_state_invalid",
            Self::ExternalAccountNotFound => "external_account_not_found",
            Self::ExternalAccountMismatch => "external_account_mismatch",
            Self::OAuthClientMismatch => "oauth_client_mismatch",
            Self::SignUpModeRestricted => "sign_up_mode_restricted",
            Self::FormPasswordMatchesIdentifier => "form_password_matches_identifier",
            Self::FormParamUnknown => "form_param_unknown",
            Self::ExternalAccountExists => "external_account_exists",
            Self::NotAllowedAccess => "not_allowed_access",
            Self::DuplicateRecord => "duplicate_record",
        }
    }
}

/// One entry of Clerk's error envelope, with the class that picks its status.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: ErrorCode,
    pub message: String,
    pub long_message: String,
    pub param_name: Option<String>,
    /// Further `meta` entries (e.g. `session_id`).
    pub meta: Vec<(&'static str, Value)>,
}

impl ApiError {
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
    pub fn with_meta(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.meta.push((key, value.into()));
        self
    }

    /// `422 form_param_nil`: a required parameter is absent.
    pub fn param_nil(name: &str) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamNil,
            "is missing",
            format!("{name} must be included."),
        )
        .param(name)
    }

    /// `422 form_param_format_invalid`: a parameter cannot be read.
    pub fn param_format_invalid(name: &str, why: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamFormatInvalid,
            "is invalid",
            why,
        )
        .param(name)
    }

    /// `422 form_param_value_invalid`: a parameter's value is refused.
    pub fn param_value_invalid(name: &str, why: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamValueInvalid,
            "is invalid",
            why,
        )
        .param(name)
    }

    /// `422 form_param_unknown`: a parameter the route does not take.
    pub fn param_unknown(name: &str) -> Self {
        let shown = latch_core::model::truncate(name);
        Self::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamUnknown,
            "is unknown",
            format!("{shown} is not a parameter of this request."),
        )
        .param(&shown)
    }

    /// `404 resource_not_found`, naming what was not found.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            ErrorCode::ResourceNotFound,
            "not found",
            format!("The requested {what} was not found."),
        )
    }

    /// `500 internal_clerk_error`, with a context for logs.
    pub fn internal(context: &str) -> Self {
        Self::new(
            ErrorKind::Internal,
            ErrorCode::Internal,
            "Oops, an unexpected error occurred",
            format!("An internal error occurred ({context})."),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.long_message)
    }
}

impl std::error::Error for ApiError {}

/// Errors only the HTTP edge raises: no use case is involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeError {
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// No route has this path.
    NoRoute,
    /// A cookie-carrying request from an origin the instance does not allow.
    OriginInvalid,
    /// A development browser token that names no client.
    DevBrowserUnauthenticated,
    /// A Backend API call without the right secret key.
    SecretKeyInvalid,
    /// A request body over this many bytes.
    BodyTooLarge { limit: usize },
    /// A request body that did not arrive within the body read timeout.
    BodyTimeout,
    /// A credential given twice with different values (a cookie planted
    /// from a sibling domain beside the browser's own, say): which one is
    /// meant cannot be known, so neither is used.
    AmbiguousCredential(&'static str),
    /// A resource the edge itself does not serve (named for the message).
    NotServed(&'static str),
}

impl From<EdgeError> for ApiError {
    fn from(err: EdgeError) -> Self {
        use ErrorCode as C;
        use ErrorKind as K;
        match err {
            EdgeError::MethodNotAllowed => Self::new(
                K::MethodNotAllowed,
                C::MethodNotAllowed,
                "Method not allowed",
                "This resource does not support this method.",
            ),
            EdgeError::NoRoute => Self::new(
                K::NotFound,
                C::ResourceNotFound,
                "not found",
                "There is no resource at this path.",
            ),
            EdgeError::OriginInvalid => Self::new(
                K::Forbidden,
                C::OriginInvalid,
                "Origin not allowed",
                "Requests with the client cookie must come from an allowed origin (server.allowed_origins).",
            ),
            EdgeError::DevBrowserUnauthenticated => Self::new(
                K::Unauthenticated,
                C::DevBrowserUnauthenticated,
                "Unable to authenticate the development browser",
                "The development browser token is unknown or expired. Create a new one with POST /v1/dev_browser.",
            ),
            EdgeError::SecretKeyInvalid => Self::new(
                K::Unauthenticated,
                C::AuthenticationInvalid,
                "Invalid authentication",
                "The secret key in the Authorization header is missing or invalid.",
            ),
            EdgeError::BodyTooLarge { limit } => Self::new(
                K::PayloadTooLarge,
                C::RequestBodyTooLarge,
                "Request body too large",
                format!("The request body may not exceed {limit} bytes."),
            ),
            EdgeError::BodyTimeout => Self::new(
                K::RequestTimeout,
                C::RequestTimeout,
                "Request timeout",
                "The request body was not received in time.",
            ),
            EdgeError::AmbiguousCredential(name) => Self::new(
                K::Unauthenticated,
                C::AuthenticationInvalid,
                "Invalid authentication",
                format!(
                    "The request carries {name} more than once, with different values; send it once."
                ),
            )
            .param(name),
            EdgeError::NotServed(what) => Self::not_found(what),
        }
    }
}

/// The one mapping from the core's errors to Clerk's wire errors.
impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        use ErrorCode as C;
        use ErrorKind as K;
        let unprocessable =
            |code, message: &str, long: String| Self::new(K::Unprocessable, code, message, long);
        let strategy_invalid = |long: String| {
            Self::new(
                K::Unprocessable,
                C::StrategyForUserInvalid,
                "Invalid verification strategy",
                long,
            )
            .param("strategy")
        };
        let too_many = |retry_after_secs, long: String| {
            Self::new(
                K::TooManyRequests { retry_after_secs },
                C::TooManyRequests,
                "Too many requests",
                long,
            )
        };
        match err {
            Error::MissingParam(param) => Self::param_nil(&param),
            Error::InvalidParam { param, problem } => invalid_param(&param, &problem),
            Error::IdentifierNotFound => unprocessable(
                C::FormIdentifierNotFound,
                "Couldn't find your account.",
                "Couldn't find your account.".into(),
            )
            .param("identifier"),
            Error::IdentifierTaken(kind) => unprocessable(
                C::FormIdentifierExists,
                "That identifier is taken. Please try another.",
                format!(
                    "That {} is taken. Please try another.",
                    kind.param_name().replace('_', " ")
                ),
            )
            .param(kind.param_name()),
            Error::PasswordIncorrect => unprocessable(
                C::FormPasswordIncorrect,
                "Password is incorrect. Try again, or use another method.",
                "Password is incorrect. Try again, or use another method.".into(),
            )
            .param("password"),
            Error::PasswordTooShort { min_chars } => unprocessable(
                C::FormPasswordLengthTooShort,
                "Passwords must be 8 characters or more.",
                format!("Passwords must be {min_chars} characters or more."),
            )
            .param("password"),
            Error::PasswordTooLong { max_bytes } => unprocessable(
                C::FormPasswordSizeInBytesExceeded,
                "Passwords may not exceed 72 bytes.",
                format!(
                    "Passwords may not exceed {max_bytes} bytes. Please choose a shorter password."
                ),
            )
            .param("password"),
            Error::CodeIncorrect => unprocessable(
                C::FormCodeIncorrect,
                "Incorrect code",
                "The code you entered is incorrect.".into(),
            )
            .param("code"),
            Error::CodeExpired => unprocessable(
                C::VerificationExpired,
                "This code has expired",
                "This verification code has expired. Please request a new one.".into(),
            )
            .param("code"),
            Error::CodeAttemptsExhausted => unprocessable(
                C::VerificationFailed,
                "Too many failed attempts",
                "Too many incorrect codes were entered. Please request a new code.".into(),
            )
            .param("code"),
            Error::SecondFactorAttemptsExhausted => unprocessable(
                C::VerificationFailed,
                "Too many failed attempts",
                "Too many incorrect codes were entered. Please sign in again.".into(),
            )
            .param("code"),
            Error::SignInAbandoned => unprocessable(
                C::VerificationExpired,
                "This sign-in has expired",
                "This sign-in attempt was abandoned. Please start a new sign-in.".into(),
            ),
            Error::SignUpAbandoned => unprocessable(
                C::VerificationExpired,
                "This sign-up has expired",
                "This sign-up attempt was abandoned. Please start a new sign-up.".into(),
            ),
            Error::SignUpComplete => unprocessable(
                C::FormParamValueInvalid,
                "is invalid",
                "This sign-up is complete and takes no more steps.".into(),
            ),
            Error::SignUpRestricted => unprocessable(
                C::SignUpModeRestricted,
                "Sign-ups are restricted",
                "This application does not take new sign-ups. Ask an administrator for an \
                 account."
                    .into(),
            ),
            Error::PasswordMatchesIdentifier => unprocessable(
                C::FormPasswordMatchesIdentifier,
                "Passwords may not be one of your identifiers.",
                "Your password may not be your email address, phone number or username. Please \
                 choose another."
                    .into(),
            )
            .param("password"),
            Error::StepNotAllowed { status } => unprocessable(
                C::FormParamValueInvalid,
                "is invalid",
                format!(
                    "This sign-in cannot take this step while its status is {}.",
                    status.as_str()
                ),
            ),
            Error::StrategyNotEnabled(strategy) => strategy_invalid(format!(
                "The verification strategy `{}` is not enabled on this instance.",
                strategy.name()
            )),
            Error::ProviderNotEnabled(name) => strategy_invalid(format!(
                "The provider `{name}` is not enabled on this instance."
            )),
            Error::NoPassword => strategy_invalid(
                "This account has no password. Please use another sign-in method.".into(),
            ),
            Error::StrategyNotForUser(strategy) => strategy_invalid(format!(
                "The verification strategy `{}` is not available for this account.",
                strategy.name()
            )),
            Error::StrategyNotSupported(strategy) => unprocessable(
                C::StrategyNotSupported,
                "Verification strategy not supported",
                format!(
                    "The verification strategy `{}` is not supported by this server yet.",
                    strategy.name()
                ),
            )
            .param("strategy"),
            Error::SecondFactorNotEnabled(strategy) => Self::new(
                K::Forbidden,
                C::FeatureNotEnabled,
                "Not enabled",
                format!(
                    "The {} second factor is not enabled on this instance.",
                    strategy.name()
                ),
            ),
            Error::TotpAlreadyEnabled => Self::new(
                K::BadRequest,
                C::TotpAlreadyEnabled,
                "TOTP already enabled",
                "An authenticator app is already set up. Remove it before adding another.",
            ),
            Error::SelfDeletionDisabled => Self::new(
                K::Forbidden,
                C::DeleteSelfNotEnabled,
                "Not allowed",
                "Deleting your own account is not enabled on this instance.",
            ),
            Error::AlreadyVerified => Self::new(
                K::BadRequest,
                C::VerificationAlreadyVerified,
                "Already verified",
                "This address is already verified.",
            ),
            Error::UserBanned => Self::new(
                K::Forbidden,
                C::UserBanned,
                "Account banned",
                "This account is banned and cannot sign in.",
            ),
            Error::UserLocked { expires_in_secs } => Self::new(
                K::Forbidden,
                C::UserLocked,
                "Account locked",
                "Your account is locked after too many failed attempts. Please try again later.",
            )
            .with_meta("lockout_expires_in_seconds", expires_in_secs),
            Error::AlreadySignedIn { session_id } => Self::new(
                K::BadRequest,
                C::IdentifierAlreadySignedIn,
                "You're already signed in",
                "This account is already signed in on this device.",
            )
            .with_meta("session_id", session_id.as_str()),
            Error::ReverificationRequired {
                level,
                after_minutes,
            } => Self::new(
                K::Forbidden,
                C::SessionReverificationRequired,
                "Additional verification required",
                "This action needs you to verify your identity again.",
            )
            .with_meta(
                "reverification",
                serde_json::json!({
                    "level": match level {
                        latch_core::error::ReverificationLevel::FirstFactor => "first_factor",
                        latch_core::error::ReverificationLevel::SecondFactor => "second_factor",
                    },
                    "after_minutes": after_minutes,
                }),
            ),
            Error::NotSignedIn => Self::new(
                K::Unauthenticated,
                C::AuthenticationInvalid,
                "Not signed in",
                "You need to be signed in to do this.",
            ),
            Error::SessionInactive => Self::new(
                K::Unauthenticated,
                C::AuthenticationInvalid,
                "Session is not active",
                "This session has ended, was revoked or expired. Please sign in again.",
            ),
            Error::NotFound(resource) => Self::not_found(resource_name(resource)),
            Error::ExternalAccountTaken => unprocessable(
                C::ExternalAccountMismatch,
                "Another account",
                "This account at the provider is linked to another user.".into(),
            ),
            Error::ExternalAccountNotFound => unprocessable(
                C::ExternalAccountNotFound,
                "The external account was not found.",
                "No account is linked to this identity yet.".into(),
            ),
            Error::ExternalAccountExists => unprocessable(
                C::ExternalAccountExists,
                "The external account exists.",
                "This account at the provider already belongs to a user: sign in with it instead."
                    .into(),
            ),
            Error::ExternalAccountMismatch => unprocessable(
                C::ExternalAccountMismatch,
                "Another account",
                "The account at the provider belongs to another user than the one signing in."
                    .into(),
            ),
            Error::OAuthClientMismatch => unprocessable(
                C::OAuthClientMismatch,
                "Another browser",
                "This sign-in was started in another browser. Please start it again here.".into(),
            ),
            Error::OAuthAccessDenied => unprocessable(
                C::OAuthAccessDenied,
                "Access denied",
                "You did not allow this application to use your account at the provider.".into(),
            ),
            Error::OAuthProviderError => unprocessable(
                C::OAuthProviderError,
                "The provider refused",
                "The identity provider refused the sign-in. Please try again.".into(),
            ),
            Error::OAuthAnswerRefused => unprocessable(
                C::OAuthTokenExchangeError,
                "The provider's answer was refused",
                "The identity provider's answer could not be verified. Please try again.".into(),
            ),
            Error::OAuthProviderUnavailable => Self::new(
                K::Unavailable,
                C::OAuthProviderUnavailable,
                "The provider is unavailable",
                "The identity provider could not be reached. Please try again shortly.",
            ),
            Error::OAuthStateInvalid { param } => Self::new(
                K::BadRequest,
                C::OAuthStateInvalid,
                "Invalid OAuth state",
                "This sign-in link is unknown, was already used or has expired. Please start again.",
            )
            .param(&param),
            Error::Conflict => Self::new(
                K::Conflict,
                C::Conflict,
                "Conflict",
                "Another request changed this resource at the same time. Please retry.",
            ),
            Error::SettingsVersionStale { expected, current } => Self::new(
                K::Conflict,
                C::Conflict,
                "Settings changed",
                format!(
                    "The change was made against settings version {expected}, but version \
                     {current} is in force now. Read the settings again and retry."
                ),
            )
            .with_meta("current_version", current),
            Error::NotAllowedAccess => Self::new(
                K::Forbidden,
                C::NotAllowedAccess,
                "Access not allowed",
                "This identifier is not allowed to access this application.",
            ),
            Error::AlreadyListed => Self::new(
                K::BadRequest,
                C::DuplicateRecord,
                "Duplicate record",
                "This identifier is on the list already.",
            )
            .param("identifier"),
            Error::Throttled { retry_after_secs } => too_many(
                retry_after_secs,
                format!("Too many requests. Please try again in {retry_after_secs} seconds."),
            ),
            Error::AccountBusy => too_many(
                1,
                "Other attempts for this account are being checked. Please try again in a moment."
                    .into(),
            ),
            Error::CodeRecentlySent { retry_after_secs } => too_many(
                retry_after_secs,
                format!(
                    "A code was just sent. Please wait {retry_after_secs} seconds before asking for another."
                ),
            ),
            Error::Unavailable => Self::new(
                K::Unavailable,
                C::ServiceUnavailable,
                "Service unavailable",
                "A storage dependency is unavailable. Please try again shortly.",
            ),
            Error::Internal(context) => Self::internal(&context),
        }
    }
}

/// A settings change refused at `path`.
fn setting_refused(path: &str, problem: &SettingProblem) -> ApiError {
    let value = |why: String| ApiError::param_value_invalid(path, why);
    match problem {
        SettingProblem::Unknown => ApiError::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamUnknown,
            "is unknown",
            format!("{path} is not a setting."),
        )
        .param(path),
        SettingProblem::WrongType(what) => {
            ApiError::param_format_invalid(path, format!("{path} must be {what}."))
        }
        SettingProblem::OutOfRange { min, max } => {
            value(format!("{path} must be between {min} and {max}."))
        }
        SettingProblem::Pinned => value(format!(
            "{path} is pinned by the configuration file and cannot be changed at runtime."
        )),
        SettingProblem::NoFirstFactor => value(format!(
            "Turning {path} off would leave no way to sign in: keep a first factor with an \
             identifier to use it, or an OAuth provider."
        )),
        SettingProblem::Needs(other) => value(format!("{path} needs {other} on.")),
        SettingProblem::Invalid(what) => value(format!("{path}: {what}.")),
        SettingProblem::SignUp(problem) => value(match problem {
            SignUpProblem::RequiredButOff(field) => format!(
                "{path}: a sign-up cannot require {} while it is off.",
                field.as_str()
            ),
            SignUpProblem::VerificationWithoutStrategy(kind) => format!(
                "{path}: verifying a {} at sign-up needs its codes on.",
                kind.as_str().replace('_', " ")
            ),
            SignUpProblem::NoWayToSignIn => format!(
                "{path}: a sign-up must require a verified email address or phone number used \
                 for sign-in, or a username with a password."
            ),
            SignUpProblem::LegalConsentWithoutTerms => {
                format!("{path}: legal consent needs a terms of service or privacy policy URL.")
            }
        }),
    }
}

/// How a resource is named in `The requested ... was not found.`
fn resource_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Client => "client",
        Resource::Session => "session",
        Resource::SignIn => "sign in",
        Resource::SignUp => "sign up",
        Resource::Handshake => "handshake payload",
        Resource::User => "user",
        Resource::PhoneNumber => "phone number",
        Resource::EmailAddress => "email address",
        Resource::Totp => "totp",
        Resource::ExternalAccount => "external account",
        Resource::WebhookEndpoint => "webhook endpoint",
        Resource::WebhookMessage => "webhook message",
        Resource::ListEntry => "identifier",
        Resource::Record => "resource",
    }
}

/// `422 form_param_format_invalid` for input that cannot be read,
/// `form_param_value_invalid` for input that is read but refused.
fn invalid_param(param: &str, problem: &Problem) -> ApiError {
    let name = |s: &Strategy| s.name();
    let format = |why: String| ApiError::param_format_invalid(param, why);
    let value = |why: String| ApiError::param_value_invalid(param, why);
    match problem {
        Problem::NotEmailAddress => format("email_address must be a valid email address.".into()),
        Problem::NotE164 => format(
            "phone_number must be a valid phone number in E.164 format (+ and country code)."
                .into(),
        ),
        Problem::UsernameLength { min, max } => format(format!(
            "username must be between {min} and {max} characters long."
        )),
        Problem::UsernameCharacters => {
            format("username can only contain letters, numbers, '_' and '-'.".into())
        }
        Problem::TooLong { max_chars } => {
            format(format!("{param} must be at most {max_chars} characters."))
        }
        Problem::TooLarge { max_kib } => format(format!("{param} must be at most {max_kib} KiB.")),
        Problem::NotJsonObject => format(format!("{param} must be a JSON object.")),
        Problem::OutOfRange { min, max } => {
            value(format!("{param} must be between {min} and {max}."))
        }
        Problem::OriginNotAllowed => value(format!(
            "{param} must be an http(s) URL on an origin this instance allows."
        )),
        Problem::TooManyAddresses { max } => value(format!(
            "An account can have at most {max} of these. Remove one first."
        )),
        Problem::TooManyBackupCodes { max } => {
            value(format!("At most {max} backup codes can be given."))
        }
        Problem::HashedBackupCodes => format(
            "Backup codes must be given in plain form; bcrypt digests are not accepted.".into(),
        ),
        Problem::BackupCodeLength { min, max } => format(format!(
            "Each backup code must be {min} to {max} visible ASCII characters."
        )),
        Problem::NotBase32 => {
            format("totp_secret must be base32 (letters A-Z and digits 2-7).".into())
        }
        Problem::TotpSecretSize => format(
            "totp_secret must encode between 128 and 1024 bits (26 to 205 base32 characters)."
                .into(),
        ),
        Problem::NotUserId => format(format!(
            "{param} must be `user_` followed by 1 to {} letters and digits.",
            latch_core::model::UserId::MAX_KEPT_CHARS
        )),
        Problem::UnknownPasswordHasher => value(format!(
            "Supported password hashers: {}.",
            ImportHasher::ALL.map(ImportHasher::name).join(", ")
        )),
        Problem::PasswordAndDigest => {
            value("Give either password or password_digest, not both.".into())
        }
        Problem::DigestTooLong => format("password_digest is too long.".into()),
        Problem::Argon2dDigest => {
            format("argon2d digests are not accepted; use argon2id or argon2i.".into())
        }
        Problem::DigestNotAccepted => format(
            "password_digest is not a valid argon2 PHC string within the accepted cost \
             (memory at most 65536 KiB, at most 10 iterations and 8 lanes, memory x iterations \
             at most 262144, a hash of 16 to 64 bytes)."
                .into(),
        ),
        Problem::MalformedDigest(hasher) => format(format!(
            "password_digest is not a valid {} digest.",
            hasher.name()
        )),
        Problem::DigestTooCostly(hasher) => format(format!(
            "password_digest is costlier than accepted for {}: {}.",
            hasher.name(),
            cost_bound(*hasher)
        )),
        Problem::NotFirstFactor(raw) => {
            value(format!("`{raw}` is not a valid first factor strategy."))
        }
        Problem::NotSecondFactor(raw) => {
            value(format!("`{raw}` is not a valid second factor strategy."))
        }
        Problem::NeedsNoPreparation(s) => value(format!(
            "The {} strategy needs no preparation: attempt it directly.",
            name(s)
        )),
        Problem::NotPrepared(s) => value(format!("Prepare the {} verification first.", name(s))),
        Problem::StrategyNotEnabled(s) => value(format!(
            "The {} strategy is not enabled on this instance.",
            name(s)
        )),
        Problem::IdentifierNotEnabled(kind) => value(format!(
            "Signing in with a {} is not enabled on this instance.",
            kind.as_str().replace('_', " ")
        )),
        Problem::NewPasswordAlreadySet => value("The new password is already set.".into()),
        Problem::ProviderAccountOfAnotherUser => {
            value("The account at the provider belongs to another user than this sign-in's.".into())
        }
        Problem::NotAccountAddress => value(format!(
            "{param} does not name one of this account's addresses."
        )),
        Problem::NoSuchEmailAddress => value("No such email address on this user.".into()),
        Problem::NotCollected => ApiError::new(
            ErrorKind::Unprocessable,
            ErrorCode::FormParamUnknown,
            "is unknown",
            format!("{param} is not collected at sign-up on this instance."),
        )
        .param(param),
        Problem::LastWayIn => {
            value("This is the account's last way to sign in: add another first.".into())
        }
        Problem::LastOperator => {
            value("This is the instance's last operator: grant another first.".into())
        }
        Problem::NotReverificationLevel => {
            value("The level must be one of first_factor, second_factor or multi_factor.".into())
        }
        Problem::NothingToTransfer => value(
            "There is nothing to transfer: no OAuth sign-in or sign-up of this client ended \
             transferable."
                .into(),
        ),
        Problem::NoSuchPhoneNumber => value("No such phone number on this user.".into()),
        Problem::UnverifiedSecondFactorPhone => {
            value("Only a verified phone number can be reserved for the second factor.".into())
        }
        Problem::PrimaryPhoneReserved => value("Make another phone number primary instead.".into()),
        Problem::NotWebhookUrl => format(format!(
            "{param} must be an absolute http or https URL without credentials."
        )),
        Problem::UnknownEventType(name) => {
            value(format!("{name:?} is not an event type this server sends."))
        }
        Problem::NotWebhookSecret => format(format!(
            "{param} must be whsec_ followed by the base64 of 24 to 64 bytes."
        )),
        Problem::EmptyTimeRange => value(format!("{param} must be later than since.")),
        Problem::NotListIdentifier => format(
            "identifier must be an email address, a phone number in E.164 format, or an email \
             domain (example.com)."
                .into(),
        ),
        Problem::SecretKeyConfigured => value(
            "The secret key is set in the configuration file (instance.secret_key): change it \
             there and restart."
                .into(),
        ),
        Problem::TooManyListEntries { max } => value(format!(
            "A list holds at most {max} entries. Remove one first."
        )),
        Problem::Setting(problem) => setting_refused(param, problem),
        Problem::WebhookTargetNotAllowed => value(format!(
            "{param} points at a private, loopback or local address, which this instance does \
             not send webhooks to."
        )),
    }
}

/// The cost bound of an imported digest's hasher, as the README states it.
fn cost_bound(hasher: ImportHasher) -> String {
    match hasher {
        ImportHasher::Bcrypt => format!("a cost of at most {}", BCRYPT_COSTS.end()),
        ImportHasher::Pbkdf2Sha256 | ImportHasher::Pbkdf2Sha256Django => {
            format!("at most {PBKDF2_SHA256_MAX_ITERATIONS} iterations")
        }
        ImportHasher::Pbkdf2Sha512 | ImportHasher::Pbkdf2Sha512Hex => {
            format!("at most {PBKDF2_SHA512_MAX_ITERATIONS} iterations")
        }
        ImportHasher::ScryptFirebase => format!(
            "at most {SCRYPT_MAX_ROUNDS} rounds and 2^memory cost x rounds at most \
             {SCRYPT_MAX_N_TIMES_R}"
        ),
        // argon2 has its own problem; SHA-256 has no cost to bound.
        ImportHasher::Argon2i | ImportHasher::Argon2id | ImportHasher::Sha256 => {
            "see the documented bounds".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use latch_core::model::{IdentifierKind, SessionId, SignInStatus};

    use super::*;

    /// One of every domain error, with every problem of a refused parameter.
    fn every_error() -> Vec<Error> {
        let s = || Strategy::EmailCode;
        let problems = vec![
            Problem::NotEmailAddress,
            Problem::NotE164,
            Problem::UsernameLength { min: 4, max: 64 },
            Problem::UsernameCharacters,
            Problem::TooLong { max_chars: 256 },
            Problem::TooLarge { max_kib: 8 },
            Problem::NotJsonObject,
            Problem::OutOfRange { min: 1, max: 500 },
            Problem::OriginNotAllowed,
            Problem::TooManyBackupCodes { max: 100 },
            Problem::TooManyAddresses { max: 20 },
            Problem::HashedBackupCodes,
            Problem::BackupCodeLength { min: 8, max: 64 },
            Problem::NotBase32,
            Problem::TotpSecretSize,
            Problem::NotUserId,
            Problem::UnknownPasswordHasher,
            Problem::PasswordAndDigest,
            Problem::DigestTooLong,
            Problem::Argon2dDigest,
            Problem::DigestNotAccepted,
            Problem::MalformedDigest(ImportHasher::Bcrypt),
            Problem::DigestTooCostly(ImportHasher::ScryptFirebase),
            Problem::NotFirstFactor("x".into()),
            Problem::NotSecondFactor("x".into()),
            Problem::NeedsNoPreparation(s()),
            Problem::NotPrepared(s()),
            Problem::StrategyNotEnabled(s()),
            Problem::IdentifierNotEnabled(IdentifierKind::PhoneNumber),
            Problem::NewPasswordAlreadySet,
            Problem::ProviderAccountOfAnotherUser,
            Problem::NotAccountAddress,
            Problem::NoSuchEmailAddress,
            Problem::NoSuchPhoneNumber,
            Problem::UnverifiedSecondFactorPhone,
            Problem::PrimaryPhoneReserved,
            Problem::NotCollected,
            Problem::NothingToTransfer,
            Problem::LastWayIn,
            Problem::LastOperator,
            Problem::NotReverificationLevel,
            Problem::NotWebhookUrl,
            Problem::UnknownEventType("x".into()),
            Problem::NotWebhookSecret,
            Problem::EmptyTimeRange,
            Problem::WebhookTargetNotAllowed,
            Problem::NotListIdentifier,
            Problem::TooManyListEntries { max: 10 },
            Problem::SecretKeyConfigured,
            Problem::Setting(SettingProblem::Unknown),
            Problem::Setting(SettingProblem::WrongType("a boolean".into())),
            Problem::Setting(SettingProblem::OutOfRange { min: 1, max: 2 }),
            Problem::Setting(SettingProblem::Pinned),
            Problem::Setting(SettingProblem::NoFirstFactor),
            Problem::Setting(SettingProblem::Needs("x.y".into())),
            Problem::Setting(SettingProblem::Invalid("1 to 2 characters".into())),
            Problem::Setting(SettingProblem::SignUp(SignUpProblem::NoWayToSignIn)),
        ];
        let mut errors: Vec<Error> = problems
            .into_iter()
            .map(|problem| Error::invalid("field", problem))
            .collect();
        errors.extend([
            Error::param_nil("field"),
            Error::IdentifierNotFound,
            Error::IdentifierTaken(IdentifierKind::Username),
            Error::PasswordIncorrect,
            Error::PasswordTooShort { min_chars: 8 },
            Error::PasswordTooLong { max_bytes: 72 },
            Error::CodeIncorrect,
            Error::CodeExpired,
            Error::CodeAttemptsExhausted,
            Error::SecondFactorAttemptsExhausted,
            Error::SignInAbandoned,
            Error::SignUpAbandoned,
            Error::SignUpComplete,
            Error::SignUpRestricted,
            Error::PasswordMatchesIdentifier,
            Error::StepNotAllowed {
                status: SignInStatus::Complete,
            },
            Error::StrategyNotEnabled(s()),
            Error::ProviderNotEnabled("acme".into()),
            Error::NoPassword,
            Error::StrategyNotForUser(s()),
            Error::StrategyNotSupported(Strategy::Passkey),
            Error::SecondFactorNotEnabled(Strategy::Totp),
            Error::TotpAlreadyEnabled,
            Error::AlreadyVerified,
            Error::SelfDeletionDisabled,
            Error::UserBanned,
            Error::UserLocked {
                expires_in_secs: Some(91),
            },
            Error::AlreadySignedIn {
                session_id: SessionId("sess_1".into()),
            },
            Error::NotSignedIn,
            Error::ReverificationRequired {
                level: latch_core::error::ReverificationLevel::SecondFactor,
                after_minutes: 10,
            },
            Error::SessionInactive,
            Error::NotFound(Resource::Client),
            Error::NotFound(Resource::Session),
            Error::NotFound(Resource::SignIn),
            Error::NotFound(Resource::SignUp),
            Error::NotFound(Resource::Handshake),
            Error::NotFound(Resource::User),
            Error::NotFound(Resource::PhoneNumber),
            Error::NotFound(Resource::EmailAddress),
            Error::NotFound(Resource::Totp),
            Error::NotFound(Resource::ExternalAccount),
            Error::NotFound(Resource::Record),
            Error::ExternalAccountTaken,
            Error::ExternalAccountNotFound,
            Error::ExternalAccountExists,
            Error::ExternalAccountMismatch,
            Error::OAuthClientMismatch,
            Error::OAuthAccessDenied,
            Error::OAuthProviderError,
            Error::OAuthAnswerRefused,
            Error::OAuthProviderUnavailable,
            Error::oauth_state_invalid("state"),
            Error::Conflict,
            Error::SettingsVersionStale {
                expected: 1,
                current: 2,
            },
            Error::NotAllowedAccess,
            Error::AlreadyListed,
            Error::NotFound(Resource::ListEntry),
            Error::Throttled {
                retry_after_secs: 3,
            },
            Error::AccountBusy,
            Error::CodeRecentlySent {
                retry_after_secs: 30,
            },
            Error::Unavailable,
            Error::internal("test"),
        ]);
        errors
    }

    /// Which variant an error is; no wildcard arm, so a new variant fails to
    /// compile here until `every_error` and the table cover it.
    fn variant(err: &Error) -> &'static str {
        match err {
            Error::MissingParam(_) => "MissingParam",
            Error::InvalidParam { problem, .. } => problem_variant(problem),
            Error::IdentifierNotFound => "IdentifierNotFound",
            Error::IdentifierTaken(_) => "IdentifierTaken",
            Error::PasswordIncorrect => "PasswordIncorrect",
            Error::PasswordTooShort { .. } => "PasswordTooShort",
            Error::PasswordTooLong { .. } => "PasswordTooLong",
            Error::CodeIncorrect => "CodeIncorrect",
            Error::CodeExpired => "CodeExpired",
            Error::CodeAttemptsExhausted => "CodeAttemptsExhausted",
            Error::SecondFactorAttemptsExhausted => "SecondFactorAttemptsExhausted",
            Error::SignInAbandoned => "SignInAbandoned",
            Error::SignUpAbandoned => "SignUpAbandoned",
            Error::SignUpComplete => "SignUpComplete",
            Error::SignUpRestricted => "SignUpRestricted",
            Error::PasswordMatchesIdentifier => "PasswordMatchesIdentifier",
            Error::StepNotAllowed { .. } => "StepNotAllowed",
            Error::StrategyNotEnabled(_) => "StrategyNotEnabled",
            Error::ProviderNotEnabled(_) => "ProviderNotEnabled",
            Error::NoPassword => "NoPassword",
            Error::StrategyNotForUser(_) => "StrategyNotForUser",
            Error::StrategyNotSupported(_) => "StrategyNotSupported",
            Error::SecondFactorNotEnabled(_) => "SecondFactorNotEnabled",
            Error::TotpAlreadyEnabled => "TotpAlreadyEnabled",
            Error::AlreadyVerified => "AlreadyVerified",
            Error::SelfDeletionDisabled => "SelfDeletionDisabled",
            Error::UserBanned => "UserBanned",
            Error::UserLocked { .. } => "UserLocked",
            Error::AlreadySignedIn { .. } => "AlreadySignedIn",
            Error::NotSignedIn => "NotSignedIn",
            Error::ReverificationRequired { .. } => "ReverificationRequired",
            Error::SessionInactive => "SessionInactive",
            Error::NotFound(_) => "NotFound",
            Error::ExternalAccountTaken => "ExternalAccountTaken",
            Error::ExternalAccountNotFound => "ExternalAccountNotFound",
            Error::ExternalAccountExists => "ExternalAccountExists",
            Error::ExternalAccountMismatch => "ExternalAccountMismatch",
            Error::OAuthClientMismatch => "OAuthClientMismatch",
            Error::OAuthAccessDenied => "OAuthAccessDenied",
            Error::OAuthProviderError => "OAuthProviderError",
            Error::OAuthAnswerRefused => "OAuthAnswerRefused",
            Error::OAuthProviderUnavailable => "OAuthProviderUnavailable",
            Error::OAuthStateInvalid { .. } => "OAuthStateInvalid",
            Error::Conflict => "Conflict",
            Error::SettingsVersionStale { .. } => "SettingsVersionStale",
            Error::NotAllowedAccess => "NotAllowedAccess",
            Error::AlreadyListed => "AlreadyListed",
            Error::Throttled { .. } => "Throttled",
            Error::AccountBusy => "AccountBusy",
            Error::CodeRecentlySent { .. } => "CodeRecentlySent",
            Error::Unavailable => "Unavailable",
            Error::Internal(_) => "Internal",
        }
    }

    fn problem_variant(problem: &Problem) -> &'static str {
        match problem {
            Problem::NotEmailAddress => "NotEmailAddress",
            Problem::NotE164 => "NotE164",
            Problem::UsernameLength { .. } => "UsernameLength",
            Problem::UsernameCharacters => "UsernameCharacters",
            Problem::TooLong { .. } => "TooLong",
            Problem::TooLarge { .. } => "TooLarge",
            Problem::NotJsonObject => "NotJsonObject",
            Problem::OutOfRange { .. } => "OutOfRange",
            Problem::OriginNotAllowed => "OriginNotAllowed",
            Problem::TooManyBackupCodes { .. } => "TooManyBackupCodes",
            Problem::TooManyAddresses { .. } => "TooManyAddresses",
            Problem::HashedBackupCodes => "HashedBackupCodes",
            Problem::BackupCodeLength { .. } => "BackupCodeLength",
            Problem::NotBase32 => "NotBase32",
            Problem::TotpSecretSize => "TotpSecretSize",
            Problem::NotUserId => "NotUserId",
            Problem::UnknownPasswordHasher => "UnknownPasswordHasher",
            Problem::PasswordAndDigest => "PasswordAndDigest",
            Problem::DigestTooLong => "DigestTooLong",
            Problem::Argon2dDigest => "Argon2dDigest",
            Problem::DigestNotAccepted => "DigestNotAccepted",
            Problem::MalformedDigest(_) => "MalformedDigest",
            Problem::DigestTooCostly(_) => "DigestTooCostly",
            Problem::NotFirstFactor(_) => "NotFirstFactor",
            Problem::NotSecondFactor(_) => "NotSecondFactor",
            Problem::NeedsNoPreparation(_) => "NeedsNoPreparation",
            Problem::NotPrepared(_) => "NotPrepared",
            Problem::StrategyNotEnabled(_) => "Problem::StrategyNotEnabled",
            Problem::IdentifierNotEnabled(_) => "IdentifierNotEnabled",
            Problem::NewPasswordAlreadySet => "NewPasswordAlreadySet",
            Problem::ProviderAccountOfAnotherUser => "ProviderAccountOfAnotherUser",
            Problem::NotAccountAddress => "NotAccountAddress",
            Problem::NoSuchEmailAddress => "NoSuchEmailAddress",
            Problem::NoSuchPhoneNumber => "NoSuchPhoneNumber",
            Problem::UnverifiedSecondFactorPhone => "UnverifiedSecondFactorPhone",
            Problem::PrimaryPhoneReserved => "PrimaryPhoneReserved",
            Problem::NotCollected => "NotCollected",
            Problem::NothingToTransfer => "NothingToTransfer",
            Problem::LastWayIn => "LastWayIn",
            Problem::LastOperator => "LastOperator",
            Problem::NotReverificationLevel => "NotReverificationLevel",
            Problem::NotWebhookUrl => "NotWebhookUrl",
            Problem::UnknownEventType(_) => "UnknownEventType",
            Problem::NotWebhookSecret => "NotWebhookSecret",
            Problem::EmptyTimeRange => "EmptyTimeRange",
            Problem::WebhookTargetNotAllowed => "WebhookTargetNotAllowed",
            Problem::NotListIdentifier => "NotListIdentifier",
            Problem::TooManyListEntries { .. } => "TooManyListEntries",
            Problem::SecretKeyConfigured => "SecretKeyConfigured",
            Problem::Setting(_) => "Setting",
        }
    }

    #[test]
    fn the_table_covers_every_domain_error_and_problem() {
        let errors = every_error();
        let seen: BTreeSet<&str> = errors.iter().map(variant).collect();
        // 51 variants besides InvalidParam, plus 50 problems.
        assert_eq!(seen.len(), 51 + 50, "{seen:?}");
    }

    #[test]
    fn no_domain_error_has_an_empty_text() {
        for err in every_error() {
            let wire = ApiError::from(err.clone());
            assert!(!wire.long_message.is_empty(), "{err:?}");
            assert!(!wire.message.is_empty(), "{err:?}");
            assert!(!wire.code.as_str().is_empty(), "{err:?}");
            // Whatever parameter the core names is the one the client is told.
            assert_eq!(wire.param_name.as_deref(), err.param(), "{err:?}");
        }
    }

    #[test]
    fn edge_errors_have_texts_and_their_statuses() {
        for (err, kind) in [
            (EdgeError::MethodNotAllowed, ErrorKind::MethodNotAllowed),
            (EdgeError::NoRoute, ErrorKind::NotFound),
            (EdgeError::OriginInvalid, ErrorKind::Forbidden),
            (
                EdgeError::DevBrowserUnauthenticated,
                ErrorKind::Unauthenticated,
            ),
            (EdgeError::SecretKeyInvalid, ErrorKind::Unauthenticated),
            (
                EdgeError::BodyTooLarge { limit: 1024 },
                ErrorKind::PayloadTooLarge,
            ),
            (EdgeError::BodyTimeout, ErrorKind::RequestTimeout),
            (
                EdgeError::AmbiguousCredential("__client"),
                ErrorKind::Unauthenticated,
            ),
            (EdgeError::NotServed("JWT template"), ErrorKind::NotFound),
        ] {
            let wire = ApiError::from(err.clone());
            assert_eq!(wire.kind, kind, "{err:?}");
            assert!(!wire.long_message.is_empty(), "{err:?}");
            assert!(!wire.message.is_empty(), "{err:?}");
        }
    }

    #[test]
    fn data_reaches_the_wire() {
        let locked = ApiError::from(Error::UserLocked {
            expires_in_secs: Some(91),
        });
        assert_eq!(
            (locked.kind, locked.code),
            (ErrorKind::Forbidden, ErrorCode::UserLocked)
        );
        assert_eq!(
            locked.meta,
            vec![("lockout_expires_in_seconds", serde_json::json!(91))]
        );
        let forever = ApiError::from(Error::UserLocked {
            expires_in_secs: None,
        });
        assert_eq!(
            forever.meta,
            vec![("lockout_expires_in_seconds", Value::Null)]
        );
        let signed_in = ApiError::from(Error::AlreadySignedIn {
            session_id: SessionId("sess_1".into()),
        });
        assert_eq!(signed_in.kind, ErrorKind::BadRequest);
        assert_eq!(
            signed_in.meta,
            vec![("session_id", serde_json::json!("sess_1"))]
        );
        let throttled = ApiError::from(Error::Throttled {
            retry_after_secs: 3,
        });
        assert_eq!(
            throttled.kind,
            ErrorKind::TooManyRequests {
                retry_after_secs: 3
            }
        );
        assert_eq!(
            throttled.long_message,
            "Too many requests. Please try again in 3 seconds."
        );
        let name = ApiError::from(Error::invalid(
            "first_name",
            Problem::TooLong { max_chars: 256 },
        ));
        assert_eq!(name.code, ErrorCode::FormParamFormatInvalid);
        assert_eq!(
            name.long_message,
            "first_name must be at most 256 characters."
        );
        let taken = ApiError::from(Error::IdentifierTaken(IdentifierKind::EmailAddress));
        assert_eq!(
            taken.long_message,
            "That email address is taken. Please try another."
        );
        let missing = ApiError::from(Error::param_nil("code"));
        assert_eq!(
            (missing.code, missing.long_message.as_str()),
            (ErrorCode::FormParamNil, "code must be included.")
        );
    }
}
