//! Mocked ports for use-case tests, and the few scripts most tests share, so
//! that a test's own expectations are the rule it states.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use super::{Ports, Services, token_hash};
use crate::error::{Error, StoreError};
use crate::model::{
    Client, ClientId, IdentificationRecord, InstanceSettings, Session, SessionId, SessionStatus,
    SignIn, SignInId, SignInStatus, Standing, Strategy, Timestamp, User, UserId,
};
use crate::ports::{
    ClientWithSessions, MockClientRepository, MockClock, MockCodeSender, MockCounters,
    MockInstanceStore, MockOAuthProvider, MockOutbox, MockPasswordHasher, MockRandom,
    MockSignInStore, MockSignUpStore, MockUserRepository, MockWebhookSender, MockWebhookStore,
};

pub const NOW: Timestamp = Timestamp(1_700_000_000_000);
pub const TOKEN: &str = "token-of-client-1";

/// Mocks for every port; tests set expectations, then call [`Mocks::services`].
pub struct Mocks {
    pub users: MockUserRepository,
    pub clients: MockClientRepository,
    pub sign_ins: MockSignInStore,
    /// A step's reads at once; none by default (each port read on its own).
    pub sign_in_steps: Option<crate::ports::MockSignInSteps>,
    pub sign_ups: MockSignUpStore,
    /// A sign-up step's reads and writes at once; none by default.
    pub sign_up_steps: Option<crate::ports::MockSignUpSteps>,
    pub instance: MockInstanceStore,
    pub hasher: MockPasswordHasher,
    pub codes: MockCodeSender,
    /// The outbox; by default every enqueue is stored.
    pub outbox: MockOutbox,
    /// Rate-limit counters; by default every hit is the window's first.
    pub counters: MockCounters,
    /// Identity providers, each answering to its `name()`.
    pub oauth: Vec<MockOAuthProvider>,
    /// What builds them again with a runtime client; none by default.
    pub oauth_factory: Option<Arc<dyn crate::ports::OAuthProviderFactory>>,
    /// Webhook endpoints and messages; no call is expected by default.
    pub webhooks: MockWebhookStore,
    /// The audit log; by default every entry is kept.
    pub audit: crate::ports::MockAuditLog,
    /// Stored settings and lists; no call is expected by default.
    pub settings_store: crate::ports::MockSettingsStore,
    pub operators: crate::ports::MockOperatorStore,
    pub settings: InstanceSettings,
}

impl Mocks {
    pub fn new() -> Self {
        Self {
            users: MockUserRepository::new(),
            clients: MockClientRepository::new(),
            sign_ins: MockSignInStore::new(),
            sign_in_steps: None,
            sign_ups: MockSignUpStore::new(),
            sign_up_steps: None,
            instance: MockInstanceStore::new(),
            hasher: MockPasswordHasher::new(),
            codes: MockCodeSender::new(),
            outbox: MockOutbox::new(),
            counters: first_hits(),
            oauth: Vec::new(),
            oauth_factory: None,
            webhooks: MockWebhookStore::new(),
            audit: crate::ports::MockAuditLog::new(),
            settings_store: crate::ports::MockSettingsStore::new(),
            operators: crate::ports::MockOperatorStore::new(),
            settings: InstanceSettings::default(),
        }
    }

    /// The use cases over these mocks. Lockout attempts are granted and
    /// settled without a lock unless a test expected otherwise first (the
    /// earliest matching expectation answers).
    pub fn services(mut self) -> Services {
        self.users
            .expect_take_attempt()
            .returning(|_, _, _, _| Ok(crate::ports::AttemptSlot::Granted));
        self.users
            .expect_settle_attempt()
            .returning(|_, _, _, _, _| Ok(None));
        self.outbox.expect_enqueue().returning(|_, _| Ok(()));
        self.audit.expect_append().returning(|_| Ok(()));
        let mut clock = MockClock::new();
        clock.expect_now().return_const(NOW);
        clock
            .expect_pause()
            .returning(|_| Box::pin(std::future::ready(())));
        let mut random = MockRandom::new();
        let counter = AtomicU8::new(0);
        random.expect_fill().returning(move |buf| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            buf.iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = n.wrapping_add(i as u8));
        });
        let mut oauth = super::OAuthProviders::new(
            self.oauth
                .into_iter()
                .map(|p| Arc::new(p) as Arc<dyn crate::ports::OAuthProvider>)
                .collect(),
        );
        if let Some(factory) = self.oauth_factory {
            oauth = oauth.with_factory(factory);
        }
        Services::new(
            Ports {
                users: Arc::new(self.users),
                clients: Arc::new(self.clients),
                sign_ins: Arc::new(self.sign_ins),
                sign_in_steps: self
                    .sign_in_steps
                    .map(|steps| Arc::new(steps) as Arc<dyn crate::ports::SignInSteps>),
                sign_ups: Arc::new(self.sign_ups),
                sign_up_steps: self
                    .sign_up_steps
                    .map(|steps| Arc::new(steps) as Arc<dyn crate::ports::SignUpSteps>),
                instance: Arc::new(self.instance),
                hasher: Arc::new(self.hasher),
                codes: Arc::new(self.codes),
                outbox: Arc::new(self.outbox),
                counters: Arc::new(self.counters),
                clock: Arc::new(clock),
                random: Arc::new(random),
                secrets: Arc::new(crate::secrets::SecretBox::new(&[7; 32])),
                oauth,
                event_format: Arc::new(TypeOnly),
                webhook_store: Arc::new(self.webhooks),
                webhook_sender: Arc::new(MockWebhookSender::new()),
                audit: Arc::new(self.audit),
                settings: Arc::new(self.settings_store),
                operators: Arc::new(self.operators),
            },
            self.settings,
        )
    }
}

/// Events as their type alone: what use-case tests look at.
pub struct TypeOnly;

impl crate::ports::EventFormat for TypeOnly {
    fn body(
        &self,
        event_type: crate::model::EventType,
        _: crate::ports::EventSubject<'_>,
        _: &crate::model::RequestContext,
        _: &Arc<InstanceSettings>,
        _: Timestamp,
    ) -> String {
        event_type.as_str().to_owned()
    }
}

/// Scripts of the ports most tests need, each answering every call of its
/// kind. A test that wants a call to answer otherwise (or never happen) sets
/// that expectation before the script: the earliest match answers.
impl Mocks {
    /// The client [`TOKEN`] names is [`client`], with no sessions yet.
    pub fn client_found(&mut self) -> &mut Self {
        self.clients
            .expect_find_client_by_token_hash()
            .returning(|_| Ok(Some(client())));
        self.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![]));
        self.clients
            .expect_find_client_with_sessions()
            .returning(|_, _| {
                Ok(Some(crate::ports::ClientWithSessions {
                    client: client(),
                    sessions: vec![],
                }))
            });
        self
    }

    /// A client with this sign-in: [`Mocks::client_found`], whose sign-in
    /// reads answer `sign_in`.
    pub fn client_with_sign_in(&mut self, sign_in: SignIn) -> &mut Self {
        self.client_found().sign_in_stored(sign_in)
    }

    /// A store keeping the clients, the sign-ins and the users answers each
    /// step's read at once, exactly once, with [`client`] (no sessions),
    /// `sign_in` and `user`; none of the three ports is read on its own.
    pub fn step_read_at_once(&mut self, sign_in: Option<SignIn>, user: Option<User>) -> &mut Self {
        let mut steps = crate::ports::MockSignInSteps::new();
        steps
            .expect_read_sign_in_step()
            .withf(|hash, id, now| {
                hash == token_hash(TOKEN) && id.as_str() == "sia_1" && *now == NOW
            })
            .times(1)
            .returning(move |_, _, _| {
                Ok(Some(crate::ports::SignInStep {
                    found: ClientWithSessions {
                        client: client(),
                        sessions: vec![],
                    },
                    sign_in: sign_in.clone(),
                    user: user.clone(),
                }))
            });
        self.sign_in_steps = Some(steps);
        self.clients.expect_find_client_with_sessions().never();
        self.sign_ins.expect_get().never();
        self.users.expect_get().never();
        self
    }

    /// With [`Mocks::step_read_at_once`]: the sign-in the step completes is
    /// stored with its session in one write, exactly once, which answers
    /// `stored` and settles the lockout attempt that passed; neither is
    /// written on its own.
    pub fn completes_at_once(&mut self, stored: Result<Standing, StoreError>) -> &mut Self {
        let writes = stored.is_ok();
        self.sign_in_steps
            .as_mut()
            .expect("a step read at once")
            .expect_complete_sign_in()
            .withf(|sign_in, session, presented, _, _, events, passed| {
                sign_in.status_at(NOW) == SignInStatus::Complete
                    && sign_in.created_session_id() == Some(&session.id)
                    && presented == token_hash(TOKEN)
                    && events.len() == 1
                    && passed.as_ref().map(|p| p.user_id.as_str()) == Some("user_1")
            })
            .times(1)
            .returning(move |_, _, _, _, _, _, _| stored.clone());
        self.clients.expect_insert_session().never();
        // The attempt that passed is settled in that write, or, if it
        // stored nothing, once on its own.
        let settle = self.users.expect_settle_attempt();
        if writes {
            settle.never();
        } else {
            settle
                .withf(|id, failed, _, _, _| id.as_str() == "user_1" && !*failed)
                .times(1)
                .returning(|_, _, _, _, _| Ok(None));
        }
        self
    }

    /// Every sign-in read answers `sign_in`.
    pub fn sign_in_stored(&mut self, sign_in: SignIn) -> &mut Self {
        self.sign_ins
            .expect_get()
            .returning(move |_| Ok(Some(sign_in.clone())));
        self
    }

    /// Every user read by id answers `user`.
    pub fn user_stored(&mut self, user: User) -> &mut Self {
        self.users
            .expect_get()
            .returning(move |_| Ok(Some(user.clone())));
        self
    }

    /// Every identifier names `user`.
    pub fn identifier_names(&mut self, user: User) -> &mut Self {
        self.users
            .expect_find_by_identifier()
            .returning(move |_| Ok(Some(user.clone())));
        self
    }

    /// The hasher finds every password `right` (or every one wrong).
    pub fn passwords_match(&mut self, right: bool) -> &mut Self {
        self.hasher.expect_verify().returning(move |_, _| Ok(right));
        self
    }

    /// The client as read back after a step: [`client`], without sessions.
    pub fn client_reads_back(&mut self) -> &mut Self {
        self.clients
            .expect_get_client_with_sessions()
            .returning(|_, _| Ok(Some(client_without_sessions())));
        self.clients
            .expect_get_client()
            .returning(|_| Ok(Some(client())));
        self.clients
            .expect_sessions_of_client()
            .returning(|_| Ok(vec![]));
        self
    }

    /// The attempt fails, and that failure counts toward the user's lockout
    /// exactly once.
    pub fn one_failure_counted(&mut self) -> &mut Self {
        self.users
            .expect_settle_attempt()
            .withf(|_, failed, _, _, _| *failed)
            .times(1)
            .returning(|_, _, _, _, _| Ok(None));
        self
    }

    /// Neither a client nor a sign-in may be written.
    pub fn nothing_created(&mut self) -> &mut Self {
        self.clients.expect_insert_client().never();
        self.sign_ins.expect_insert().never();
        self
    }

    /// The store accepts every replace of a sign-in.
    pub fn replaces_accepted(&mut self) -> &mut Self {
        self.sign_ins.expect_replace().returning(|_, _| Ok(()));
        self
    }
}

/// Sign-in `sia_1` of client 1, started `at` with the default settings.
pub fn sign_in_started(at: Timestamp) -> SignIn {
    SignIn::new(
        SignInId("sia_1".into()),
        client().id,
        at,
        &InstanceSettings::default(),
    )
}

/// A sign-in on client 1 that identified `user` as alice, at [`NOW`].
pub fn identified_sign_in(user: &User) -> SignIn {
    let mut s = sign_in_started(NOW);
    s.identify("alice@example.com".into(), user, NOW).unwrap();
    s
}

/// A sign-in on client 1 whose password passed for `user` just now.
pub fn passed_first_factor(user: &User) -> SignIn {
    let mut s = sign_in_started(Timestamp(NOW.0 - 1000));
    s.identify("alice@example.com".into(), user, Timestamp(NOW.0 - 1000))
        .unwrap();
    s.first_factor_passed(Strategy::Password, user.two_factor_enabled(), NOW)
        .unwrap();
    s
}

/// `code` sent for `slot` of `sign_in` (by `strategy`, to the address
/// record `target_id`) just now, digested with the key the mocked services
/// use, valid for ten minutes.
pub fn code_sent(
    sign_in: &mut SignIn,
    slot: crate::model::FactorSlot,
    strategy: Strategy,
    target_id: &str,
    code: &str,
) {
    let digest = crate::service::codes::code_digest(
        &crate::secrets::SecretBox::new(&[7; 32]),
        sign_in.id.as_str(),
        code,
    );
    let sent = crate::model::SentCode {
        digest,
        target_id: target_id.into(),
        sent_at: NOW,
    };
    sign_in
        .code_sent(slot, strategy, sent, Timestamp(NOW.0 + 600_000), NOW)
        .unwrap();
}

/// Whether `err` refuses a strategy the instance or the user lacks.
pub fn refuses_strategy(err: &Error) -> bool {
    matches!(
        err,
        Error::StrategyNotEnabled(_)
            | Error::NoPassword
            | Error::StrategyNotForUser(_)
            | Error::ProviderNotEnabled(_)
    )
}

/// Counters whose every hit is the first of a fresh window.
pub fn first_hits() -> MockCounters {
    let mut counters = MockCounters::new();
    counters.expect_hit().returning(|_, window, _| {
        Ok(crate::ports::WindowCount {
            count: 1,
            resets_in: window,
        })
    });
    counters.expect_purge_expired().returning(|_| Ok(0));
    counters
}

pub fn user() -> User {
    User {
        email_addresses: vec![IdentificationRecord {
            id: "idn_1".into(),
            value: "alice@example.com".into(),
            verified: true,
            reserved_for_second_factor: false,
            verification: None,
            created_at: NOW,
            updated_at: NOW,
        }],
        primary_email_address_id: Some("idn_1".into()),
        password_digest: Some("$argon2id$digest".into()),
        ..User::blank(UserId("user_1".into()), NOW)
    }
}

/// [`client`] as read with its sessions, of which it has none.
pub fn client_without_sessions() -> ClientWithSessions {
    ClientWithSessions {
        client: client(),
        sessions: vec![],
    }
}

pub fn client() -> Client {
    Client {
        id: ClientId("client_1".into()),
        token_hash: token_hash(TOKEN),
        sign_in_id: None,
        sign_up_id: None,
        last_active_session_id: None,
        last_authentication_strategy: None,
        created_at: NOW,
        updated_at: NOW,
    }
}

pub fn session(status: SessionStatus) -> Session {
    Session {
        id: SessionId("sess_1".into()),
        client_id: ClientId("client_1".into()),
        user_id: UserId("user_1".into()),
        status,
        last_active_at: NOW,
        expire_at: Timestamp(NOW.0 + 1_000_000),
        first_factor_verified_at: Timestamp(NOW.0 - 5 * 60_000),
        second_factor_verified_at: None,
        created_at: NOW,
        updated_at: NOW,
        origin: Default::default(),
    }
}
