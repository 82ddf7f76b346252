//! `TestApp`: the real router over a real SQLite file.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};

use latch_api::{ApiConfig, ApiState, SigningKeys};
use latch_core::model::InstanceSettings;
use latch_core::password::Argon2Settings;
use latch_core::service::{Deliveries, DeliveryRound, Ports, Services};
use latch_os::{Argon2Hasher, OsRandom};
use latch_sqlite::{SqliteConfig, SqliteStore};
use latch_testkit::{ManualClock, RecordingCodeSender};

pub const SECRET: &str = "sk_test_api_tests_secret_key";
pub const ORIGIN: &str = "http://localhost:3000";
pub const PASSWORD: &str = "correct horse battery";
/// The apps' table of places by address (`server.geoip_file`), in DB-IP's
/// layout: one documentation range, so only requests sent from it have a
/// city and country.
pub const GEOIP: &str =
    "198.51.100.0,198.51.100.255,NA,US,California,\"San Francisco\",37.7749,-122.419\n";
/// The publishable key of the test apps: `clerk.latch.test`, development.
pub const PUBLISHABLE_KEY: &str = "pk_test_Y2xlcmsubGF0Y2gudGVzdCQ";
/// The OAuth callback URL the test apps register with providers.
pub const CALLBACK: &str = "https://clerk.latch.test/v1/oauth_callback";

/// The app's password hasher, counting what it is asked to do.
pub struct CountingHasher {
    inner: Argon2Hasher,
    /// Passwords verified (against a digest or, for unknown users, a dummy).
    pub verifies: std::sync::atomic::AtomicUsize,
    /// New passwords hashed.
    pub hashed: std::sync::atomic::AtomicUsize,
}

impl CountingHasher {
    /// How many new passwords were hashed.
    pub fn hashes(&self) -> usize {
        self.hashed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl latch_core::ports::PasswordHasher for CountingHasher {
    async fn hash(
        &self,
        password: &latch_core::model::Password,
    ) -> Result<String, latch_core::Error> {
        self.hashed
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.hash(password).await
    }

    fn needs_rehash(&self, digest: &str) -> bool {
        self.inner.needs_rehash(digest)
    }

    async fn verify(
        &self,
        password: &str,
        digest: Option<String>,
    ) -> Result<bool, latch_core::Error> {
        self.verifies
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.verify(password, digest).await
    }
}

/// Content types whose bodies [`TestApp::request`] reads as text.
const TEXT_TYPES: &[&str] = &[
    "image/svg+xml",
    "text/javascript; charset=utf-8",
    "text/html; charset=utf-8",
    "text/css; charset=utf-8",
    "text/plain; version=0.0.4; charset=utf-8",
];

pub struct TestApp {
    pub state: ApiState,
    /// Whether every request is followed by a round of the outbox's worker,
    /// so that codes are in [`TestApp::codes`] when the request returns.
    auto_deliver: std::sync::atomic::AtomicBool,
    settings: InstanceSettings,
    /// The password hasher, with its count of verifications.
    pub hasher: Arc<CountingHasher>,
    /// Every code the server sent.
    pub codes: Arc<RecordingCodeSender>,
    /// The app's clock: it stands still until a test moves it.
    pub clock: Arc<ManualClock>,
    /// The app's store, for states no route makes.
    store: Arc<SqliteStore>,
    _dir: Arc<tempfile::TempDir>,
}

/// A [`TestApp`] served over TCP; stopped when dropped.
pub struct Served {
    pub addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `(code, param_name)` of the first error.
    pub fn error(&self) -> (String, Option<String>) {
        let e = &self.body["errors"][0];
        (
            e["code"].as_str().unwrap_or_default().to_owned(),
            e["meta"]["param_name"].as_str().map(str::to_owned),
        )
    }

    /// The native client token the server echoed.
    pub fn token(&self) -> String {
        self.header("authorization")
            .expect("authorization header")
            .to_owned()
    }

    pub fn assert_error(&self, status: u16, code: &str, param: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        assert_eq!(
            self.error(),
            (code.to_owned(), param.map(str::to_owned)),
            "{}",
            self.body
        );
        assert!(
            self.body["errors"][0]["long_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

/// Light argon2 parameters keep the suite quick; costs are measured by the bench.
const LIGHT_HASH: Argon2Settings = Argon2Settings {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

impl TestApp {
    pub async fn new() -> Self {
        Self::with(InstanceSettings::default()).await
    }

    pub async fn with(settings: InstanceSettings) -> Self {
        Self::with_oauth(settings, Vec::new()).await
    }

    /// An app whose settings turn on these identity providers, with its
    /// OAuth callback at [`CALLBACK`]. Every request comes from one address,
    /// so rate limits are off here; [`TestApp::with_rate_limits`] keeps them.
    pub async fn with_oauth(
        mut settings: InstanceSettings,
        providers: Vec<Arc<dyn latch_core::ports::OAuthProvider>>,
    ) -> Self {
        settings.rate_limits = latch_core::model::RateLimitSettings::OFF;
        Self::build(settings, providers).await
    }

    /// An app that enforces `settings.rate_limits`; its proxy is 10.0.0.0/8.
    pub async fn with_rate_limits(settings: InstanceSettings) -> Self {
        Self::build(settings, Vec::new()).await
    }

    /// An app whose password hashes cost `hash` (the suite's are light),
    /// for a test that needs a check to take a while; rate limits off.
    pub async fn with_hash_cost(mut settings: InstanceSettings, hash: Argon2Settings) -> Self {
        settings.rate_limits = latch_core::model::RateLimitSettings::OFF;
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::build_in(dir, settings, Vec::new(), hash).await
    }

    async fn build(
        settings: InstanceSettings,
        providers: Vec<Arc<dyn latch_core::ports::OAuthProvider>>,
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::build_in(dir, settings, providers, LIGHT_HASH).await
    }

    /// Another app (another process, as far as the database can tell) on
    /// this app's database file and instance key, with its own clock
    /// (starting where this one stands) and code receiver.
    pub async fn reopen(&self) -> Self {
        let app = Self::build_in(
            self._dir.clone(),
            self.settings.clone(),
            Vec::new(),
            LIGHT_HASH,
        )
        .await;
        app.clock.set(latch_core::ports::Clock::now(&*self.clock));
        app
    }

    async fn build_in(
        dir: Arc<tempfile::TempDir>,
        mut settings: InstanceSettings,
        providers: Vec<Arc<dyn latch_core::ports::OAuthProvider>>,
        hash: Argon2Settings,
    ) -> Self {
        settings.strategies.oauth_providers = providers.iter().map(|p| p.name()).collect();
        settings.oauth_callback_url = CALLBACK.into();
        let kept = settings.clone();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("latch.db"), SqliteConfig::default()).unwrap(),
        );
        let hasher = Argon2Hasher::new(hash, 2, Arc::new(OsRandom)).unwrap();
        let hasher = Arc::new(CountingHasher {
            inner: hasher,
            verifies: std::sync::atomic::AtomicUsize::new(0),
            hashed: std::sync::atomic::AtomicUsize::new(0),
        });
        let codes = Arc::new(RecordingCodeSender::default());
        let clock = Arc::new(ManualClock::new());
        let random: Arc<dyn latch_core::ports::Random> = Arc::new(OsRandom);
        let ports = Ports {
            users: store.clone(),
            clients: store.clone(),
            sign_ins: store.clone(),
            sign_in_steps: Some(store.clone()),
            sign_ups: store.clone(),
            sign_up_steps: Some(store.clone()),
            counters: store.clone(),
            instance: store.clone(),
            hasher: hasher.clone(),
            codes: codes.clone(),
            outbox: store.clone(),
            clock: clock.clone(),
            random: random.clone(),
            secrets: Arc::new(latch_core::secrets::SecretBox::new(&[9; 32])),
            oauth: latch_core::service::OAuthProviders::new(providers),
            event_format: Arc::new(latch_api::render::ClerkEvents::new(
                "https://clerk.latch.test".into(),
                "ins_test".into(),
                None,
            )),
            webhook_store: store.clone(),
            audit: store.clone(),
            settings: store.clone(),
            operators: store.clone(),
            // Receivers in tests listen on loopback.
            webhook_sender: Arc::new(
                latch_http::webhooks::HttpWebhookSender::new(
                    latch_http::webhooks::WebhookSenderConfig {
                        timeout: std::time::Duration::from_secs(2),
                        allow_private_targets: true,
                        ..Default::default()
                    },
                )
                .unwrap(),
            ),
        };
        let keys = SigningKeys::load_or_create(&*store).await.unwrap();
        let config = ApiConfig {
            secret_key: SECRET.into(),
            issuer: "https://clerk.latch.test".into(),
            allowed_origins: vec![ORIGIN.into()],
            allow_loopback_origins: false,
            max_body_bytes: 16 * 1024,
            secure_cookies: false,
            cookie_domain: None,
            publishable_key: PUBLISHABLE_KEY.into(),
            tls: false,
            instance_id: "ins_test".into(),
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            connections: latch_api::ConnectionLimits::default(),
            settings_poll: std::time::Duration::from_millis(200),
            geoip: Some(std::sync::Arc::new(
                latch_api::geoip::GeoIp::from_csv(GEOIP).unwrap(),
            )),
        };
        Self {
            auto_deliver: std::sync::atomic::AtomicBool::new(true),
            settings: kept,
            // The dashboard is served beside the API, as by default.
            state: ApiState::new(
                Services::new(ports, settings),
                keys,
                config,
                clock.clone(),
                random,
            )
            .with_pages(latch_dashboard::Dashboard::pages())
            .with_metrics(process_metrics()),
            codes,
            clock,
            hasher,
            store,
            _dir: dir,
        }
    }

    /// Keeps the secret key in the instance store, as a server that made
    /// it does, so that it can be rotated.
    pub async fn secret_key_in_store(&self) {
        use latch_core::ports::InstanceStore as _;
        self.store
            .get_or_insert("secret_key_test", SECRET)
            .await
            .unwrap();
        self.state
            .services
            .secret_keys
            .start("secret_key_test")
            .await
            .unwrap();
    }

    /// The app's use cases.
    pub fn services(&self) -> &latch_core::service::Services {
        &self.state.services
    }

    /// The settings the app runs with.
    pub fn settings(&self) -> &InstanceSettings {
        &self.settings
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Resp {
        self.request_from("127.0.0.1:40000", method, path, headers, body)
            .await
    }

    /// A request whose socket peer is `remote` (`ip:port`).
    pub async fn request_from(
        &self,
        remote: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, String)>,
    ) -> Resp {
        let mut req = warp::test::request()
            .method(method)
            .path(path)
            .remote_addr(remote.parse().unwrap());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((content_type, body)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let filter = latch_api::routes(self.state.clone()).map(|r| r);
        let res = req.reply(&filter).await;
        if self.auto_deliver.load(std::sync::atomic::Ordering::SeqCst) {
            self.deliver().await;
        }
        let status = res.status();
        let headers = res.headers().clone();
        // A picture, a script and the page at `/` are the answers that are
        // not JSON: their text is the body.
        let text = headers
            .get("content-type")
            .is_some_and(|v| TEXT_TYPES.contains(&v.to_str().unwrap_or_default()))
            && !headers.contains_key("content-encoding");
        let body = if res.body().is_empty() {
            Value::Null
        } else if text {
            Value::String(String::from_utf8(res.body().to_vec()).expect("UTF-8 text"))
        } else {
            serde_json::from_slice(res.body()).expect("JSON body")
        };
        if !res.body().is_empty() && !text {
            assert_eq!(headers.get("content-type").unwrap(), "application/json");
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A public request whose answer is kept as bytes, as it was sent.
    pub async fn request_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = warp::test::request()
            .method(method)
            .path(path)
            .remote_addr("127.0.0.1:40000".parse().unwrap());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let filter = latch_api::routes(self.state.clone()).map(|r| r);
        let res = req.reply(&filter).await;
        (res.status(), res.headers().clone(), res.body().to_vec())
    }

    /// The app served by `latch_api::serve` over real TCP on 127.0.0.1 with
    /// `limits`; it stops when the returned server is dropped.
    pub async fn serve(&self, limits: latch_api::ConnectionLimits) -> Served {
        let mut state = self.state.clone();
        let mut config = (*state.config).clone();
        config.connections = limits;
        state.config = Arc::new(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(latch_api::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Served {
            addr,
            _stop: stop,
            task,
        }
    }

    /// One round of the outbox's worker, as the server's job runs it.
    pub async fn deliver(&self) -> DeliveryRound {
        self.deliveries().deliver_due().await.unwrap()
    }

    /// The outbox: its worker and what operators see of it.
    pub fn deliveries(&self) -> &Deliveries {
        &self.state.services.deliveries
    }

    /// One round of the webhook worker, as the server's job runs it.
    pub async fn send_webhooks(&self) -> latch_core::service::WebhookRound {
        self.webhooks().deliver_due().await.unwrap()
    }

    /// Webhook endpoints and their worker.
    pub fn webhooks(&self) -> &latch_core::service::Webhooks {
        &self.state.services.webhooks
    }

    /// A webhook endpoint for `url` receiving `types` (every type when
    /// empty), made through the Backend API; returns (id, secret).
    pub async fn webhook_endpoint(&self, url: &str, types: &[&str]) -> (String, String) {
        let res = self
            .bapi(
                "POST",
                "/v1/webhooks/endpoints",
                Some(serde_json::json!({ "url": url, "event_types": types })),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        (
            res.body["id"].as_str().unwrap().to_owned(),
            res.body["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// From now on, requests only queue deliveries; [`TestApp::deliver`]
    /// (or a worker a test runs) sends them.
    pub fn deliver_only_when_asked(&self) {
        self.auto_deliver
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// `POST /v1/client/sign_ins` with `form` and no client yet.
    pub async fn new_sign_in(&self, form: &[(&str, &str)]) -> Resp {
        self.fapi("POST", "/v1/client/sign_ins", "", form).await
    }

    /// `POST /v1/client/sign_ins/{id}/{step}` with `form` on the client of `token`.
    pub async fn sign_in_step(
        &self,
        token: &str,
        id: &str,
        step: &str,
        form: &[(&str, &str)],
    ) -> Resp {
        self.fapi(
            "POST",
            &format!("/v1/client/sign_ins/{id}/{step}"),
            token,
            form,
        )
        .await
    }

    /// `prepare_first_factor` of `strategy`, with `extra` fields, on a sign-in.
    pub async fn prepare_first_factor(
        &self,
        token: &str,
        id: &str,
        strategy: &str,
        extra: &[(&str, &str)],
    ) -> Resp {
        let mut form = vec![("strategy", strategy)];
        form.extend_from_slice(extra);
        self.sign_in_step(token, id, "prepare_first_factor", &form)
            .await
    }

    /// `attempt_first_factor` of `strategy` with `code` on a sign-in.
    pub async fn attempt_first_factor_code(
        &self,
        token: &str,
        id: &str,
        strategy: &str,
        code: &str,
    ) -> Resp {
        let form = [("strategy", strategy), ("code", code)];
        self.sign_in_step(token, id, "attempt_first_factor", &form)
            .await
    }

    /// `GET /v1/client/sign_ins/{id}` on the client of `token`.
    pub async fn read_sign_in(&self, token: &str, id: &str) -> Resp {
        let path = format!("/v1/client/sign_ins/{id}");
        self.fapi("GET", &path, token, &[]).await
    }

    /// The user `id` as the Backend API shows it.
    pub async fn user_json(&self, id: &str) -> Value {
        let path = format!("/v1/users/{id}");
        self.bapi("GET", &path, None).await.body
    }

    /// A Frontend API call in native mode (`_is_native=1` + raw `authorization`).
    pub async fn fapi(&self, method: &str, path: &str, token: &str, form: &[(&str, &str)]) -> Resp {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!(
            "{path}{sep}_is_native=1&__clerk_api_version=2026-08-20&_clerk_js_version=6.40.0"
        );
        let body = (!form.is_empty()).then(|| {
            (
                "application/x-www-form-urlencoded",
                serde_urlencoded::to_string(form).unwrap(),
            )
        });
        self.request(method, &path, &[("authorization", token)], body)
            .await
    }

    /// A Backend API call with the secret key and a JSON body.
    pub async fn bapi(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let auth = format!("Bearer {SECRET}");
        self.request(
            method,
            path,
            &[("authorization", &auth)],
            body.map(|b| ("application/json", b.to_string())),
        )
        .await
    }

    /// One round of housekeeping at the app's clock, as the server's job
    /// runs it; returns how many (sign-ins, clients) it removed.
    pub async fn purge(&self) -> (u64, u64) {
        self.state
            .services
            .maintenance
            .purge_stale()
            .await
            .expect("housekeeping succeeds")
    }

    /// Every byte of the database's files (main file and write-ahead log).
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self._dir.path()).unwrap() {
            out.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        out
    }

    /// Marks user `id`'s email address or phone number `value` verified or
    /// not, in the store: the Backend API has no route for email addresses.
    pub async fn set_verified(&self, id: &str, value: &str, verified: bool) {
        use latch_core::ports::UserRepository as _;
        let mut user = self
            .store
            .get(&latch_core::model::UserId(id.to_owned()))
            .await
            .unwrap()
            .unwrap();
        let record = user
            .email_addresses
            .iter_mut()
            .chain(user.phone_numbers.iter_mut())
            .find(|r| r.value == value)
            .unwrap();
        record.verified = verified;
        let read_at = user.updated_at;
        user.updated_at = latch_core::model::Timestamp(read_at.0 + 1);
        self.store.update(&user, read_at, &[]).await.unwrap();
    }

    /// The password digest stored for user `id`, read from the database
    /// file through a second store.
    pub async fn stored_digest(&self, id: &str) -> Option<String> {
        let store =
            SqliteStore::open(&self._dir.path().join("latch.db"), SqliteConfig::default()).unwrap();
        latch_core::ports::UserRepository::get(&store, &latch_core::model::UserId(id.into()))
            .await
            .unwrap()
            .unwrap()
            .password_digest
    }

    /// `POST /v1/users` with `body`.
    pub async fn post_user(&self, body: Value) -> Resp {
        self.bapi("POST", "/v1/users", Some(body)).await
    }

    /// Creates a user through the Backend API and returns its id.
    pub async fn user(&self, email: &str, username: Option<&str>) -> String {
        let mut body = serde_json::json!({ "email_address": [email], "password": PASSWORD });
        if let Some(u) = username {
            body["username"] = u.into();
        }
        let res = self.post_user(body).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.body["id"].as_str().unwrap().to_owned()
    }

    /// A sign-in on a new client identified by `identifier`; returns
    /// (client token, sign-in id, response).
    pub async fn identify(&self, identifier: &str) -> (String, String, Resp) {
        let res = self.new_sign_in(&[("identifier", identifier)]).await;
        assert_eq!(res.status, 200, "{}", res.body);
        let id = res.body["response"]["id"].as_str().unwrap().to_owned();
        (res.token(), id, res)
    }

    /// A password sign-in on a new client, whatever its outcome; returns
    /// (client token, sign-in id, response).
    pub async fn password_sign_in(&self, identifier: &str) -> (String, String, Resp) {
        let res = self
            .new_sign_in(&[
                ("strategy", "password"),
                ("identifier", identifier),
                ("password", PASSWORD),
            ])
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        let id = res.body["response"]["id"].as_str().unwrap().to_owned();
        (res.token(), id, res)
    }

    /// Signs in with identifier + password in one call; returns (token, session id).
    pub async fn sign_in(&self, identifier: &str) -> (String, String) {
        let (token, _, res) = self.password_sign_in(identifier).await;
        assert_eq!(res.body["response"]["status"], "complete");
        (
            token,
            res.body["response"]["created_session_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

/// The process's metrics recorder, installed by the first app: every app
/// of this test binary serves `/metrics` from it, as `latch serve` does.
pub fn process_metrics() -> latch_api::observe::MetricsRender {
    static RENDER: std::sync::OnceLock<latch_api::observe::MetricsRender> =
        std::sync::OnceLock::new();
    RENDER
        .get_or_init(|| latch_api::observe::install_prometheus().expect("one recorder"))
        .clone()
}
