//! Domain types. Invalid values cannot be built: every type with rules has a
//! `parse` constructor.

mod access_list;
mod audit;
mod backup_codes;
mod client;
mod event;
mod identifiers;
mod ids;
mod net;
mod password;
mod request;
mod session;
mod settings;
mod sign_in;
mod sign_up;
mod text;
mod time;
mod totp;
mod user;
mod user_management;

pub use access_list::{AccessList, AccessLists, EntryKind, ListEntry, parse_entry};
pub use audit::{AuditAction, AuditEntry, AuditQuery};
pub use backup_codes::{
    BACKUP_CODE_COUNT, generate_backup_codes, normalize_backup_code, parse_backup_codes,
};
pub use client::Client;
pub use event::{
    EventType, MessageStatus, NewEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};
pub use identifiers::{EmailAddress, Identifier, IdentifierKind, PhoneNumber, Username};
pub use ids::{
    ClientId, IdPrefix, SessionId, SignInId, SignUpId, UserId, new_id, new_ordered_id,
    random_base62,
};
pub use net::{is_loopback_host, is_loopback_origin, origin_of, with_query};
pub use password::Password;
pub use request::{Actor, RequestContext};
pub use session::{Session, SessionOrigin, SessionStart, SessionStatus};
pub use settings::{
    DisplayProblem, DisplayRule, DisplaySettings, Environment, IdentifierSettings,
    InstanceSettings, OAuthCredentials, ProviderDisplay, RateLimit, RateLimitSettings, Requirement,
    Restrictions, SignInIdentifiers, SignUpField, SignUpMode, SignUpProblem, SignUpSettings,
    StrategySettings,
};
pub use sign_in::{
    AfterFirstFactor, CodeAttempt, Factor, FactorSlot, OAuthClaim, OAuthFlow, OAuthStateError,
    ProviderAccount, SealedTokens, SentCode, ShownUser, SignIn, SignInStatus, Strategy,
    Verification, VerificationError, VerificationStatus, identifier_only, identifies, offered_user,
    shown_user, supported_first_factors, supported_identifiers, supported_second_factors,
};
pub use sign_up::{SignUp, SignUpChange, SignUpStatus, Verifiable};
pub use text::{ECHO_MAX_CHARS, truncate};
pub use time::{Duration, Timestamp};
pub use totp::{TOTP_PERIOD_SECS, TotpSecret, step_at};
pub use user::{ExternalAccount, IdentificationRecord, NewUser, Standing, User, UserPatch};
pub use user_management::{
    AddressRules, AttackProtection, LimitRule, MAX_CLIENT_SECRET, MultiFactor, NameRules,
    PasswordRules, RateLimitRules, RestrictionRules, SessionRules, SettingProblem, SettingsRefusal,
    SignUpRules, SsoRules, UserManagement, UsernameRules,
};
