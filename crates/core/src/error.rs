//! The core's errors: what went wrong, with its data (which parameter, which
//! limit, how long a lock lasts, which session). They name no wire code, no
//! HTTP status and carry no text for end users; `latch-api` holds the one
//! table that turns each into Clerk's error envelope.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{IdentifierKind, SessionId, SignInStatus, Strategy};

/// A request parameter, by the name the API gives it. (A `Cow` so that an
/// error kept on a stored verification reads back.)
pub type Param = Cow<'static, str>;

/// An error of a use case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// A required parameter is absent.
    MissingParam(Param),
    /// A parameter is present but refused, for `problem`.
    InvalidParam { param: Param, problem: Problem },
    /// The identifier names no account.
    IdentifierNotFound,
    /// The identifier (email address, phone number, username) is taken.
    IdentifierTaken(IdentifierKind),
    /// The password does not match.
    PasswordIncorrect,
    /// A new password is shorter than the instance allows.
    PasswordTooShort { min_chars: usize },
    /// A new password is longer than argon2 takes whole.
    PasswordTooLong { max_bytes: usize },
    /// A one-time, TOTP or backup code does not match.
    CodeIncorrect,
    /// The one-time code's lifetime is over.
    CodeExpired,
    /// Too many wrong one-time codes: a new one must be prepared.
    CodeAttemptsExhausted,
    /// Too many wrong second-factor codes: the sign-in must start again.
    SecondFactorAttemptsExhausted,
    /// The sign-in's lifetime is over.
    SignInAbandoned,
    /// The sign-up's lifetime is over.
    SignUpAbandoned,
    /// The sign-up is complete: it takes no more steps.
    SignUpComplete,
    /// The instance takes no self-service sign-ups.
    SignUpRestricted,
    /// A new password is one of the account's identifiers.
    PasswordMatchesIdentifier,
    /// The sign-in cannot take this step in its current status.
    StepNotAllowed { status: SignInStatus },
    /// The strategy is turned off on this instance.
    StrategyNotEnabled(Strategy),
    /// The OAuth provider (name as given, truncated) is not enabled.
    ProviderNotEnabled(String),
    /// The password strategy was asked for an account without a password.
    NoPassword,
    /// The strategy is not one this account can use here.
    StrategyNotForUser(Strategy),
    /// Clerk has the strategy but this server does not implement it.
    StrategyNotSupported(Strategy),
    /// The second factor is turned off on this instance.
    SecondFactorNotEnabled(Strategy),
    /// The account already has an authenticator app.
    TotpAlreadyEnabled,
    /// The address was already verified: it needs no code.
    AlreadyVerified,
    /// The instance does not let users delete their own account.
    SelfDeletionDisabled,
    /// The account is banned.
    UserBanned,
    /// The account is locked; the lock ends in this many seconds, if known.
    UserLocked { expires_in_secs: Option<i64> },
    /// The identified account already has this session on the client.
    AlreadySignedIn { session_id: SessionId },
    /// No signed-in session makes the request.
    NotSignedIn,
    /// The session's factors were verified too long ago for this action:
    /// it needs a verification at `level` within `after_minutes`.
    ReverificationRequired {
        level: ReverificationLevel,
        after_minutes: i64,
    },
    /// The session has ended, was revoked or expired.
    SessionInactive,
    /// The resource does not exist or is not the caller's.
    NotFound(Resource),
    /// The account at the provider is linked to another user.
    ExternalAccountTaken,
    /// No account is linked to the identity the provider returned.
    ExternalAccountNotFound,
    /// The provider account a sign-up proved is already a user's: a sign-in
    /// may take it over.
    ExternalAccountExists,
    /// The provider's account is another user's than the one signing in.
    ExternalAccountMismatch,
    /// OAuth: the callback or claim came from another client than the flow's.
    OAuthClientMismatch,
    /// OAuth: the user refused consent at the provider.
    OAuthAccessDenied,
    /// OAuth: the provider reported an error on the callback.
    OAuthProviderError,
    /// OAuth: the provider's answer could not be verified.
    OAuthAnswerRefused,
    /// OAuth: the provider could not be reached.
    OAuthProviderUnavailable,
    /// OAuth: the state (or nonce, named by `param`) is unknown, used or expired.
    OAuthStateInvalid { param: Param },
    /// Another request changed the resource first.
    Conflict,
    /// The change was made against settings `expected`, but version
    /// `current` is in force now.
    SettingsVersionStale { expected: u64, current: u64 },
    /// The instance's restrictions (allowlist, blocklist, subaddresses)
    /// keep this identifier out.
    NotAllowedAccess,
    /// The list holds this identifier already.
    AlreadyListed,
    /// A rate limit was hit; retry after this many seconds.
    Throttled { retry_after_secs: u64 },
    /// Other attempts for the same account are being checked right now.
    AccountBusy,
    /// A code was sent moments ago; another may be asked for after this wait.
    CodeRecentlySent { retry_after_secs: u64 },
    /// A storage dependency is down.
    Unavailable,
    /// A bug or an unexpected adapter failure; the context is for logs.
    Internal(Cow<'static, str>),
}

/// Why a parameter's value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// Not an email address.
    NotEmailAddress,
    /// Not an email address, a phone number or an email domain.
    NotListIdentifier,
    /// A setting refused, for this reason (the param is its path).
    Setting(crate::model::SettingProblem),
    /// Not a phone number in E.164.
    NotE164,
    /// A username outside these lengths.
    UsernameLength { min: usize, max: usize },
    /// A username with other characters than letters, digits, `_` and `-`.
    UsernameCharacters,
    /// More characters than allowed.
    TooLong { max_chars: usize },
    /// More than this many KiB.
    TooLarge { max_kib: usize },
    /// Not a JSON object.
    NotJsonObject,
    /// A number outside these bounds.
    OutOfRange { min: u64, max: u64 },
    /// Not an http(s) URL on an origin the instance allows.
    OriginNotAllowed,
    /// More backup codes than allowed.
    TooManyBackupCodes { max: usize },
    /// The secret key is set by the configuration file: it is changed
    /// there, not rotated here.
    SecretKeyConfigured,
    /// A list already holds this many entries.
    TooManyListEntries { max: usize },
    /// A user already has this many addresses of the kind.
    TooManyAddresses { max: usize },
    /// Backup codes given as bcrypt digests.
    HashedBackupCodes,
    /// A backup code outside these lengths, or with invisible characters.
    BackupCodeLength { min: usize, max: usize },
    /// A TOTP secret with characters outside base32.
    NotBase32,
    /// A TOTP secret outside the accepted sizes.
    TotpSecretSize,
    /// Not a user id as Clerk writes them (`user_` and letters and digits).
    NotUserId,
    /// A password hasher other than those an import accepts.
    UnknownPasswordHasher,
    /// Both a password and a password digest were given.
    PasswordAndDigest,
    /// A password digest longer than accepted.
    DigestTooLong,
    /// An argon2d digest.
    Argon2dDigest,
    /// Not an argon2 PHC string within the accepted cost.
    DigestNotAccepted,
    /// Not a digest in the hasher's format.
    MalformedDigest(crate::password::imported::ImportHasher),
    /// A digest in the hasher's format, costlier than accepted.
    DigestTooCostly(crate::password::imported::ImportHasher),
    /// The strategy is not a first factor (the name as given, truncated).
    NotFirstFactor(String),
    /// The strategy is not a second factor (the name as given, truncated).
    NotSecondFactor(String),
    /// The strategy needs no prepare step.
    NeedsNoPreparation(Strategy),
    /// The strategy was not prepared before this attempt.
    NotPrepared(Strategy),
    /// The strategy is turned off on this instance.
    StrategyNotEnabled(Strategy),
    /// Identifiers of this kind are turned off on this instance.
    IdentifierNotEnabled(IdentifierKind),
    /// The new password was already set.
    NewPasswordAlreadySet,
    /// The account at the provider is another user than the sign-in's.
    ProviderAccountOfAnotherUser,
    /// The id names none of the account's addresses.
    NotAccountAddress,
    /// No such email address on the user.
    NoSuchEmailAddress,
    /// No such phone number on the user.
    NoSuchPhoneNumber,
    /// Only a verified phone number can be reserved for the second factor.
    UnverifiedSecondFactorPhone,
    /// The primary phone number cannot be reserved for the second factor.
    PrimaryPhoneReserved,
    /// A field the instance does not collect at sign-up.
    NotCollected,
    /// The change would leave the account with no way to sign in.
    LastWayIn,
    /// The change would leave the instance with no operator.
    LastOperator,
    /// Not a reverification level (`first_factor`, `second_factor`,
    /// `multi_factor`).
    NotReverificationLevel,
    /// A transfer with nothing to take over: no OAuth sign-in (or sign-up)
    /// of this client ended transferable.
    NothingToTransfer,
    /// Not an absolute http(s) URL a webhook can be sent to.
    NotWebhookUrl,
    /// Not an event type Latch sends (the name as given, truncated).
    UnknownEventType(String),
    /// Not a signing secret: `whsec_` and the base64 of 24 to 64 bytes.
    NotWebhookSecret,
    /// A time range that ends before it starts.
    EmptyTimeRange,
    /// A webhook URL this server does not send to (a private or loopback
    /// address, or a local name, where such targets are forbidden).
    WebhookTargetNotAllowed,
}

/// What was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resource {
    Client,
    Session,
    SignIn,
    SignUp,
    User,
    /// A handshake nonce.
    Handshake,
    PhoneNumber,
    EmailAddress,
    Totp,
    ExternalAccount,
    WebhookEndpoint,
    WebhookMessage,
    /// An allowlist or blocklist entry.
    ListEntry,
    /// A record a store reported missing.
    Record,
}

impl Error {
    /// A required parameter is absent.
    pub fn param_nil(param: &'static str) -> Self {
        Self::MissingParam(Cow::Borrowed(param))
    }

    /// `param` is refused for `problem`.
    pub fn invalid(param: &'static str, problem: Problem) -> Self {
        Self::InvalidParam {
            param: Cow::Borrowed(param),
            problem,
        }
    }

    /// The OAuth state (or the nonce named `param`) is unknown, used or expired.
    pub fn oauth_state_invalid(param: &'static str) -> Self {
        Self::OAuthStateInvalid {
            param: Cow::Borrowed(param),
        }
    }

    /// A bug or an unexpected adapter failure.
    pub fn internal(context: &'static str) -> Self {
        Self::Internal(Cow::Borrowed(context))
    }

    /// The parameter the error is about, if any.
    pub fn param(&self) -> Option<&str> {
        match self {
            Self::MissingParam(param)
            | Self::InvalidParam { param, .. }
            | Self::OAuthStateInvalid { param } => Some(param),
            Self::IdentifierNotFound | Self::AlreadyListed => Some("identifier"),
            Self::IdentifierTaken(kind) => Some(kind.param_name()),
            Self::PasswordIncorrect
            | Self::PasswordTooShort { .. }
            | Self::PasswordTooLong { .. }
            | Self::PasswordMatchesIdentifier => Some("password"),
            Self::CodeIncorrect
            | Self::CodeExpired
            | Self::CodeAttemptsExhausted
            | Self::SecondFactorAttemptsExhausted => Some("code"),
            Self::NoPassword
            | Self::StrategyNotForUser(_)
            | Self::StrategyNotEnabled(_)
            | Self::ProviderNotEnabled(_)
            | Self::StrategyNotSupported(_) => Some("strategy"),
            _ => None,
        }
    }

    /// The same error about another parameter (for an input parsed under
    /// one name and given under another).
    pub fn for_param(self, name: &'static str) -> Self {
        match self {
            Self::MissingParam(_) => Self::param_nil(name),
            Self::InvalidParam { problem, .. } => Self::invalid(name, problem),
            other => other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidParam { param, problem } => write!(f, "invalid {param}: {problem:?}"),
            Self::MissingParam(param) => write!(f, "missing {param}"),
            Self::Internal(context) => write!(f, "internal error ({context})"),
            other => write!(f, "{other:?}"),
        }
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
            StoreError::Duplicate(kind) => Error::IdentifierTaken(kind),
            StoreError::ExternalAccountTaken => Error::ExternalAccountTaken,
            StoreError::NotFound => Error::NotFound(Resource::Record),
            StoreError::Conflict => Error::Conflict,
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                Error::Unavailable
            }
            StoreError::Other(detail) => {
                tracing::error!(%detail, "store failure");
                Error::internal("store")
            }
        }
    }
}

/// What a reverification must verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReverificationLevel {
    /// The first factor (the user has no second one).
    FirstFactor,
    /// A second factor (the user has one).
    SecondFactor,
}
