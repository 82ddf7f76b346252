//! Rate limits: requests counted per client IP and codes per destination,
//! through the [`Counters`](crate::ports::Counters) port so that every
//! replica sharing a store shares the counts. Which per-IP limit a request
//! counts against is decided here, from the [`Step`] the API names.

use std::net::IpAddr;
use std::sync::Arc;

use super::LiveSettings;
use crate::error::Error;
use crate::model::RateLimit;
use crate::ports::{Clock, CodeDestination, Counters};
use crate::secrets::SecretBox;

/// A step a request takes (creating a client, or a step of the sign-in
/// flow); inbound adapters name it, and the core decides which limit, if
/// any, it counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Creating a client (`POST`/`PUT /v1/client`).
    CreateClient,
    /// Creating a development browser, which is a client (`POST /v1/dev_browser`).
    CreateDevBrowser,
    /// Creating a sign-in (`POST /v1/client/sign_ins`). A request that names
    /// no client also creates one, counted apart when it does (see
    /// [`Throttled::CreateClient`]).
    CreateSignIn,
    /// Asking for a first factor's code or starting an OAuth flow.
    PrepareFirstFactor,
    /// Giving a password, a code or a ticket for the first factor.
    AttemptFirstFactor,
    /// Setting a new password after a reset code.
    ResetPassword,
    /// Asking for a second factor's code.
    PrepareSecondFactor,
    /// Giving a second factor.
    AttemptSecondFactor,
    /// Creating a sign-up (`POST /v1/client/sign_ups`); a request that
    /// names no client also creates one, counted apart as for a sign-in.
    CreateSignUp,
    /// Changing a sign-up's fields (`PATCH /v1/client/sign_ups/{id}`),
    /// which checks addresses against the accounts and hashes passwords as
    /// creating one does.
    UpdateSignUp,
    /// Asking for a code that proves a sign-up's address.
    PrepareVerification,
    /// Giving that code.
    AttemptVerification,
}

impl Step {
    /// Every step, for adapters and tests that list them.
    pub const ALL: [Step; 12] = [
        Step::CreateClient,
        Step::CreateDevBrowser,
        Step::CreateSignIn,
        Step::PrepareFirstFactor,
        Step::AttemptFirstFactor,
        Step::ResetPassword,
        Step::PrepareSecondFactor,
        Step::AttemptSecondFactor,
        Step::CreateSignUp,
        Step::UpdateSignUp,
        Step::PrepareVerification,
        Step::AttemptVerification,
    ];

    /// The per-IP limit this step counts against; `None` when it is not counted.
    pub const fn limit(self) -> Option<Throttled> {
        // Everything that checks a secret shares one allowance, so guesses
        // cannot be spread over the password, the codes and a reset.
        // Every way of making a client shares one allowance: each is a row
        // anyone may create without proving anything.
        Some(match self {
            Step::CreateClient | Step::CreateDevBrowser => Throttled::CreateClient,
            Step::CreateSignIn => Throttled::CreateSignIn,
            Step::AttemptFirstFactor
            | Step::AttemptSecondFactor
            | Step::ResetPassword
            | Step::AttemptVerification => Throttled::Attempt,
            Step::PrepareFirstFactor | Step::PrepareSecondFactor | Step::PrepareVerification => {
                Throttled::Prepare
            }
            Step::CreateSignUp | Step::UpdateSignUp => Throttled::CreateSignUp,
        })
    }

    /// The step's name in `snake_case`.
    pub const fn name(self) -> &'static str {
        match self {
            Step::CreateClient => "create_client",
            Step::CreateDevBrowser => "create_dev_browser",
            Step::CreateSignIn => "create_sign_in",
            Step::PrepareFirstFactor => "prepare_first_factor",
            Step::AttemptFirstFactor => "attempt_first_factor",
            Step::ResetPassword => "reset_password",
            Step::PrepareSecondFactor => "prepare_second_factor",
            Step::AttemptSecondFactor => "attempt_second_factor",
            Step::CreateSignUp => "create_sign_up",
            Step::UpdateSignUp => "update_sign_up",
            Step::PrepareVerification => "prepare_verification",
            Step::AttemptVerification => "attempt_verification",
        }
    }
}

/// What a per-IP limit counts: each is one allowance in the instance's
/// rate-limit settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Throttled {
    /// Creating a client, however it is made: `/v1/client`, a development
    /// browser, or a sign-in started without one.
    CreateClient,
    /// Creating a sign-in.
    CreateSignIn,
    /// Creating or changing a sign-up.
    CreateSignUp,
    /// Attempting a factor or resetting a password.
    Attempt,
    /// Asking for a code or starting an OAuth flow.
    Prepare,
}

impl Throttled {
    /// The limit's name, as its counters' keys and the settings spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CreateClient => "create_client",
            Self::CreateSignIn => "create_sign_in",
            Self::CreateSignUp => "create_sign_up",
            Self::Attempt => "attempt",
            Self::Prepare => "prepare",
        }
    }
}

/// Rate limits per client IP and per code destination.
#[derive(Clone)]
pub struct RateLimits {
    /// Where its security events are recorded.
    pub(super) audit: super::Audit,
    pub(super) counters: Arc<dyn Counters>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: LiveSettings,
    /// Keys the digests that name code destinations in counter keys.
    pub(super) secrets: Arc<SecretBox>,
}

impl RateLimits {
    /// Counts a request taking `step` from `ip` against the step's per-IP
    /// limit; refuses it with 429 once the window's allowance is spent.
    /// Requests whose address is unknown share one allowance.
    pub async fn throttle(&self, step: Step, ip: Option<IpAddr>) -> Result<(), Error> {
        match step.limit() {
            Some(what) => self.throttle_limit(what, ip).await,
            None => Ok(()),
        }
    }

    /// Counts a request from `ip` against the per-IP limit `what`; for the
    /// core's own counting, where a step only sometimes does what is limited
    /// (a sign-in that has to create its client).
    pub(crate) async fn throttle_limit(
        &self,
        what: Throttled,
        ip: Option<IpAddr>,
    ) -> Result<(), Error> {
        let limits = &self.settings.current().rate_limits;
        let limit = match what {
            Throttled::CreateClient => limits.create_client,
            Throttled::CreateSignIn => limits.create_sign_in,
            Throttled::CreateSignUp => limits.create_sign_up,
            Throttled::Attempt => limits.attempt,
            Throttled::Prepare => limits.prepare,
        };
        let subject = ip.map_or_else(|| "unknown".to_owned(), ip_subject);
        self.count(limit, what.name(), &format!("rl:{}:{subject}", what.name()))
            .await
    }

    /// Counts a code about to be sent to `destination`, whichever client asks.
    pub(crate) async fn throttle_destination(
        &self,
        destination: &CodeDestination,
    ) -> Result<(), Error> {
        let address = match destination {
            CodeDestination::Email(email) => format!("email:{}", email.to_lowercase()),
            CodeDestination::Sms(phone) => format!("sms:{phone}"),
        };
        // The key names the address only by a keyed digest: counters are not
        // a directory of who signs in, and addresses (a phone number above
        // all) are too few to hide behind a plain hash.
        let digest = &self.secrets.digest("rate-limit-destination", &address)[..32];
        self.count(
            self.settings.current().rate_limits.codes_per_destination,
            "codes_per_destination",
            &format!("rl:codes:{digest}"),
        )
        .await
    }

    /// Counts one hit of `key` against `limit` (named `name`). The first
    /// refusal of a window is recorded in the audit log; the rest of a flood
    /// adds nothing to it.
    async fn count(&self, limit: RateLimit, name: &str, key: &str) -> Result<(), Error> {
        if !limit.is_on() {
            return Ok(());
        }
        let now = self.clock.now();
        let hit = self.counters.hit(key, limit.window, now).await?;
        if hit.count <= u64::from(limit.requests) {
            return Ok(());
        }
        let retry_after_secs = u64::try_from((hit.resets_in.0 + 999) / 1000)
            .unwrap_or(1)
            .max(1);
        if hit.count == u64::from(limit.requests) + 1 {
            self.audit
                .record(
                    crate::model::AuditAction::RateLimitHit,
                    None,
                    &[("limit", name)],
                )
                .await;
        }
        crate::metrics::rate_limited(name);
        Err(Error::Throttled { retry_after_secs })
    }
}

/// The subject an address is counted as: an IPv4 address, or an IPv6
/// address's /64 network, since one host is routinely given a whole /64.
fn ip_subject(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::model::{Duration, RateLimitSettings};
    use crate::ports::{MockCounters, WindowCount};
    use crate::service::test_support::Mocks;

    #[test]
    fn ipv6_hosts_of_one_network_share_a_subject_and_mapped_ipv4_is_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_subject(a), ip_subject(b));
        assert_ne!(ip_subject(a), ip_subject(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_subject(mapped), "192.0.2.7");
    }

    fn counters_at(count: u64) -> MockCounters {
        let mut counters = MockCounters::new();
        counters
            .expect_hit()
            .withf(|key, window, _| {
                key == "rl:attempt:192.0.2.7" && *window == Duration::seconds(10)
            })
            .returning(move |_, _, _| {
                Ok(WindowCount {
                    count,
                    resets_in: Duration(2_500),
                })
            });
        counters
    }

    #[tokio::test]
    async fn requests_within_the_allowance_pass_and_the_next_waits_for_the_window() {
        let ip = Some("192.0.2.7".parse().unwrap());
        let mut mocks = Mocks::new();
        mocks.counters = counters_at(3);
        assert!(
            mocks
                .services()
                .rate_limits
                .throttle(Step::AttemptFirstFactor, ip)
                .await
                .is_ok()
        );
        let mut mocks = Mocks::new();
        mocks.counters = counters_at(4);
        let err = mocks
            .services()
            .rate_limits
            .throttle(Step::ResetPassword, ip)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            Error::Throttled {
                retry_after_secs: 3
            }
        );
    }

    #[test]
    fn secrets_share_the_attempt_allowance_code_requests_the_prepare_one_and_clients_theirs() {
        let limits: Vec<_> = Step::ALL.iter().map(|s| (s.name(), s.limit())).collect();
        assert_eq!(
            limits,
            [
                ("create_client", Some(Throttled::CreateClient)),
                ("create_dev_browser", Some(Throttled::CreateClient)),
                ("create_sign_in", Some(Throttled::CreateSignIn)),
                ("prepare_first_factor", Some(Throttled::Prepare)),
                ("attempt_first_factor", Some(Throttled::Attempt)),
                ("reset_password", Some(Throttled::Attempt)),
                ("prepare_second_factor", Some(Throttled::Prepare)),
                ("attempt_second_factor", Some(Throttled::Attempt)),
                ("create_sign_up", Some(Throttled::CreateSignUp)),
                ("update_sign_up", Some(Throttled::CreateSignUp)),
                ("prepare_verification", Some(Throttled::Prepare)),
                ("attempt_verification", Some(Throttled::Attempt)),
            ]
        );
    }

    #[tokio::test]
    async fn a_limit_turned_off_counts_nothing() {
        let mut mocks = Mocks::new();
        mocks.counters = MockCounters::new(); // any hit would panic
        mocks.settings.rate_limits = RateLimitSettings::OFF;
        let services = mocks.services();
        for step in Step::ALL {
            assert!(services.rate_limits.throttle(step, None).await.is_ok());
        }
    }

    #[tokio::test]
    async fn codes_are_counted_per_address_whatever_its_case_and_never_by_name() {
        use sha2::{Digest, Sha256};
        let mut counters = MockCounters::new();
        let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = std::sync::Arc::clone(&keys);
        counters.expect_hit().returning(move |key, _, _| {
            seen.lock().unwrap().push(key.to_owned());
            Ok(WindowCount {
                count: 1,
                resets_in: Duration(1),
            })
        });
        let mut mocks = Mocks::new();
        mocks.counters = counters;
        let services = mocks.services();
        for email in ["Ann@Example.com", "ann@example.com"] {
            services
                .rate_limits
                .throttle_destination(&CodeDestination::Email(email.into()))
                .await
                .unwrap();
        }
        let keys = keys.lock().unwrap();
        assert_eq!(keys[0], keys[1]);
        assert!(keys[0].starts_with("rl:codes:") && !keys[0].contains("ann"));
        // A plain hash of the address would be found by hashing candidates.
        let plain = super::super::hex(&Sha256::digest(b"email:ann@example.com")[..16]);
        assert_ne!(keys[0], format!("rl:codes:{plain}"), "the digest is keyed");
        let under_the_key = crate::secrets::SecretBox::new(&[7; 32])
            .digest("rate-limit-destination", "email:ann@example.com");
        assert_eq!(keys[0], format!("rl:codes:{}", &under_the_key[..32]));
    }
}
