//! `[sign_in]`, `[rate_limits]` and `[oauth]`'s flow keys: the core's rules
//! for this instance ([`InstanceSettings`]), with their bounds checked; the
//! display and sign-up settings come parsed from [`super::display`] and
//! [`super::sign_up`].

use anyhow::bail;

use latch_core::model::{
    AccessLists, DisplaySettings, Duration, IdentifierSettings, InstanceSettings, RateLimit,
    RateLimitSettings, Restrictions, SignInIdentifiers, SignUpSettings, StrategySettings,
};

use super::Instance;
use super::raw::{OAuthSection, RateLimitsSection, SignInSection};

const DAY: i64 = 86_400;

/// The core's settings: sign-in rules, lifetimes, OAuth flow and rate limits.
pub fn instance_settings(
    s: &SignInSection,
    rate_limits: &RateLimitsSection,
    oauth: &OAuthSection,
    instance: &Instance,
    redirect_origins: &[String],
    display: DisplaySettings,
    sign_up: SignUpSettings,
) -> anyhow::Result<InstanceSettings> {
    check_lifetimes(s)?;
    let most = latch_core::model::Password::MAX_BYTES;
    if !(1..=most).contains(&s.password_min_length) {
        bail!("sign_in.password_min_length must be between 1 and {most}");
    }
    if !(s.email_address || s.phone_number || s.username) {
        bail!("sign_in: at least one of email_address, phone_number, username must be on");
    }
    if s.lockout_attempts > 1000 {
        bail!("sign_in.lockout_attempts must be at most 1000 (0 turns lockout off)");
    }
    if !(1..=10).contains(&s.max_code_attempts) {
        bail!("sign_in.max_code_attempts must be between 1 and 10");
    }
    let rate_limits = parse_rate_limits(rate_limits)?;
    let oauth_callback_url = oauth_callback_url(oauth, &instance.issuer)?;
    if !(60..=3600).contains(&oauth.flow_lifetime_secs) {
        bail!("oauth.flow_lifetime_secs must be between 60 and 3600");
    }
    Ok(InstanceSettings {
        environment: instance.environment,
        identifiers: IdentifierSettings {
            email_address: s.email_address,
            phone_number: s.phone_number,
            username: s.username,
            sign_in: SignInIdentifiers::ALL,
        },
        strategies: StrategySettings {
            oauth_providers: oauth.providers.keys().cloned().collect(),
            password: s.password,
            email_code: s.email_code,
            phone_code: s.phone_code,
            totp: s.totp,
            backup_code: s.backup_code,
            email_code_second_factor: s.email_code_second_factor,
            phone_code_second_factor: true,
        },
        password_min_length: s.password_min_length,
        session_lifetime: Duration::seconds(s.session_lifetime_secs),
        session_token_lifetime: Duration::seconds(s.session_token_lifetime_secs),
        sign_in_lifetime: Duration::seconds(s.sign_in_lifetime_secs),
        unused_client_lifetime: Duration::seconds(s.unused_client_lifetime_secs),
        code_lifetime: Duration::seconds(s.code_lifetime_secs),
        max_code_attempts: s.max_code_attempts,
        code_resend_cooldown: Duration::seconds(s.code_resend_cooldown_secs),
        lockout_attempts: s.lockout_attempts,
        lockout_duration: Duration::seconds(s.lockout_duration_secs),
        reverification_window: Duration::seconds(s.reverification_window_secs),
        delete_self_enabled: s.delete_self_enabled,
        deliver_code_messages: true,
        enumeration_protection: s.enumeration_protection,
        redirect_origins: redirect_origins.to_vec(),
        oauth_callback_url,
        oauth_flow_lifetime: Duration::seconds(oauth.flow_lifetime_secs),
        oauth_link_verified_emails: oauth.link_verified_emails,
        rate_limits,
        display,
        sign_up,
        restrictions: Restrictions::default(),
        lists: AccessLists::default(),
        // The providers' clients, from [oauth.providers.*] (`super`).
        oauth_credentials: Default::default(),
    })
}

fn check_lifetimes(s: &SignInSection) -> anyhow::Result<()> {
    let lifetimes = [
        (
            "sign_in.session_lifetime_secs",
            s.session_lifetime_secs,
            3650 * DAY,
        ),
        (
            "sign_in.session_token_lifetime_secs",
            s.session_token_lifetime_secs,
            DAY,
        ),
        (
            "sign_in.sign_in_lifetime_secs",
            s.sign_in_lifetime_secs,
            30 * DAY,
        ),
        (
            "sign_in.unused_client_lifetime_secs",
            s.unused_client_lifetime_secs,
            30 * DAY,
        ),
        ("sign_in.code_lifetime_secs", s.code_lifetime_secs, DAY),
        (
            "sign_in.code_resend_cooldown_secs",
            s.code_resend_cooldown_secs,
            3600,
        ),
        (
            "sign_in.lockout_duration_secs",
            s.lockout_duration_secs,
            30 * DAY,
        ),
        (
            "sign_in.reverification_window_secs",
            s.reverification_window_secs,
            DAY,
        ),
    ];
    for (key, value, max) in lifetimes {
        if !(1..=max).contains(&value) {
            bail!("{key} must be between 1 and {max}");
        }
    }
    Ok(())
}

/// `[rate_limits]`: requests per window, 0 requests turning a limit off.
fn parse_rate_limits(r: &RateLimitsSection) -> anyhow::Result<RateLimitSettings> {
    let limit = |key: &str, requests: u32, window_secs: i64| {
        if !(1..=DAY).contains(&window_secs) {
            bail!("rate_limits.{key}_window_secs must be between 1 and {DAY}");
        }
        Ok(RateLimit::per_seconds(requests, window_secs))
    };
    Ok(RateLimitSettings {
        create_client: limit(
            "create_client",
            r.create_client,
            r.create_client_window_secs,
        )?,
        create_sign_in: limit(
            "create_sign_in",
            r.create_sign_in,
            r.create_sign_in_window_secs,
        )?,
        create_sign_up: limit(
            "create_sign_up",
            r.create_sign_up,
            r.create_sign_up_window_secs,
        )?,
        attempt: limit("attempt", r.attempt, r.attempt_window_secs)?,
        prepare: limit("prepare", r.prepare, r.prepare_window_secs)?,
        codes_per_destination: limit(
            "codes_per_destination",
            r.codes_per_destination,
            r.codes_per_destination_window_secs,
        )?,
    })
}

/// Latch's OAuth callback as browsers reach it: `oauth.callback_url`, or
/// `<issuer>/v1/oauth_callback`.
fn oauth_callback_url(oauth: &OAuthSection, issuer: &str) -> anyhow::Result<String> {
    let callback = &oauth.callback_url;
    if callback.is_empty() {
        return Ok(format!("{issuer}/v1/oauth_callback"));
    }
    if !(callback.starts_with("https://") || callback.starts_with("http://")) {
        bail!("oauth.callback_url must be an http(s) URL ending in /v1/oauth_callback, or empty");
    }
    Ok(callback.clone())
}
