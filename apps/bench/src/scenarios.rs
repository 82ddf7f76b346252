//! Seeding through the Backend API, the sign-in flows, and the virtual users
//! of each row.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::Method;

use crate::http::{Conn, form_escape};
use crate::load::Vu;

pub const SIGN_INS: &str = "/v1/client/sign_ins?_is_native=1";
pub const CLIENT: &str = "/v1/client?_is_native=1";
/// The code a development instance accepts for test identities.
pub const TEST_CODE: &str = "424242";

/// A user with a password.
#[derive(Clone)]
pub struct PasswordUser {
    pub email: String,
    pub password: String,
}

pub fn password_users(n: usize) -> Vec<PasswordUser> {
    (0..n)
        .map(|i| PasswordUser {
            email: format!("pw{i}@example.com"),
            password: format!("bench password {i:04}"),
        })
        .collect()
}

/// Test identities: email codes accept 424242 and nothing is sent.
pub fn test_identities(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("u{i}+clerk_test@example.com"))
        .collect()
}

/// Creates users through the Backend API, `concurrency` at a time.
pub async fn seed(
    addr: SocketAddr,
    secret_key: &str,
    bodies: Vec<serde_json::Value>,
    concurrency: usize,
) -> Result<()> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let bearer = Arc::new(format!("Bearer {secret_key}"));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (bodies, next, bearer) = (Arc::clone(&bodies), Arc::clone(&next), Arc::clone(&bearer));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, anyhow::Error>(());
                };
                conn.send(
                    Method::POST,
                    "/v1/users",
                    &[
                        ("authorization", bearer.as_str()),
                        ("content-type", "application/json"),
                    ],
                    Bytes::from(serde_json::to_vec(body)?),
                )
                .await?
                .expect(200)
                .with_context(|| format!("creating user {body}"))?;
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// A signed-in client: its token and its session.
#[derive(Clone)]
pub struct SignedIn {
    pub token: String,
    pub session_id: String,
}

fn password_form(user: &PasswordUser) -> Bytes {
    Bytes::from(format!(
        "strategy=password&identifier={}&password={}",
        form_escape(&user.email),
        form_escape(&user.password)
    ))
}

/// One password sign-in, checked in full (used once before the load).
pub async fn password_sign_in(conn: &mut Conn, user: &PasswordUser) -> Result<SignedIn> {
    let reply = conn.post_form(SIGN_INS, "", password_form(user)).await?;
    let json = reply.json(200)?;
    if json["response"]["status"] != "complete" {
        bail!("password sign-in did not complete: {json}");
    }
    Ok(SignedIn {
        token: reply.client_token().context("no client token")?,
        session_id: json["response"]["created_session_id"]
            .as_str()
            .context("no created_session_id")?
            .to_owned(),
    })
}

/// The email-code flow of a test identity: create, prepare, attempt.
pub async fn email_code_sign_in(conn: &mut Conn, email: &str) -> Result<SignedIn> {
    let created = conn
        .post_form(
            SIGN_INS,
            "",
            Bytes::from(format!("identifier={}", form_escape(email))),
        )
        .await?;
    let json = created.json(200).context("create sign-in")?;
    let mut token = created.client_token().context("no client token")?;
    let id = json["response"]["id"]
        .as_str()
        .context("no sign-in id")?
        .to_owned();
    let email_address_id = json["response"]["supported_first_factors"]
        .as_array()
        .and_then(|factors| factors.iter().find(|f| f["strategy"] == "email_code"))
        .and_then(|f| f["email_address_id"].as_str())
        .context("no email_code factor")?
        .to_owned();

    let prepared = conn
        .post_form(
            &format!("/v1/client/sign_ins/{id}/prepare_first_factor?_is_native=1"),
            &token,
            Bytes::from(format!(
                "strategy=email_code&email_address_id={email_address_id}"
            )),
        )
        .await?;
    prepared.expect(200).context("prepare first factor")?;
    if let Some(t) = prepared.client_token() {
        token = t;
    }

    let attempted = conn
        .post_form(
            &format!("/v1/client/sign_ins/{id}/attempt_first_factor?_is_native=1"),
            &token,
            Bytes::from(format!("strategy=email_code&code={TEST_CODE}")),
        )
        .await?;
    let json = attempted.json(200).context("attempt first factor")?;
    if json["response"]["status"] != "complete" {
        bail!("email-code sign-in did not complete: {json}");
    }
    if let Some(t) = attempted.client_token() {
        token = t;
    }
    Ok(SignedIn {
        token,
        session_id: json["response"]["created_session_id"]
            .as_str()
            .context("no created_session_id")?
            .to_owned(),
    })
}

/// Checks once, in full, what the load rows only check by status: the
/// client comes back signed in, and a token is minted for its session.
pub async fn check_signed_in(conn: &mut Conn, client: &SignedIn) -> Result<()> {
    let json = conn
        .send(
            Method::GET,
            CLIENT,
            &[("authorization", &client.token)],
            Bytes::new(),
        )
        .await?
        .json(200)?;
    let sessions = json["response"]["sessions"].as_array().map_or(0, Vec::len);
    if sessions != 1 {
        bail!("GET /v1/client shows {sessions} sessions, not 1: {json}");
    }
    let json = conn
        .send(
            Method::POST,
            &format!(
                "/v1/client/sessions/{}/tokens?_is_native=1",
                client.session_id
            ),
            &[("authorization", &client.token)],
            Bytes::new(),
        )
        .await?
        .json(200)?;
    if !json["jwt"].is_string() {
        bail!("no jwt in the token response: {json}");
    }
    Ok(())
}

/// Signs `n` new clients in by email code, `concurrency` at a time, with
/// test identities taken round-robin from `emails`.
pub async fn sign_in_many(
    addr: SocketAddr,
    emails: Arc<Vec<String>>,
    n: usize,
    concurrency: usize,
    keep: bool,
) -> Result<Vec<SignedIn>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (emails, next) = (Arc::clone(&emails), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(out);
                }
                let signed_in = email_code_sign_in(&mut conn, &emails[i % emails.len()]).await?;
                if keep {
                    out.push(signed_in);
                }
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok(all)
}

/// Password sign-ins, users round-robin (one argon2 verification each).
pub struct PasswordSignIn {
    conn: Conn,
    forms: Arc<Vec<Bytes>>,
    next: Arc<AtomicUsize>,
}

impl PasswordSignIn {
    pub async fn vus(addr: SocketAddr, users: &[PasswordUser], n: usize) -> Result<Vec<Self>> {
        let forms = Arc::new(users.iter().map(password_form).collect::<Vec<_>>());
        let next = Arc::new(AtomicUsize::new(0));
        let mut vus = Vec::with_capacity(n);
        for _ in 0..n {
            vus.push(Self {
                conn: Conn::open(addr).await?,
                forms: Arc::clone(&forms),
                next: Arc::clone(&next),
            });
        }
        Ok(vus)
    }
}

impl Vu for PasswordSignIn {
    async fn step(&mut self) -> Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.forms.len();
        let form = self.forms[i].clone();
        self.conn.post_form(SIGN_INS, "", form).await?.expect(200)
    }
}

/// `GET /v1/client` of a signed-in client.
pub struct GetClient {
    conn: Conn,
    token: String,
}

impl GetClient {
    pub async fn vus(addr: SocketAddr, clients: &[SignedIn]) -> Result<Vec<Self>> {
        let mut vus = Vec::with_capacity(clients.len());
        for c in clients {
            vus.push(Self {
                conn: Conn::open(addr).await?,
                token: c.token.clone(),
            });
        }
        Ok(vus)
    }
}

impl Vu for GetClient {
    async fn step(&mut self) -> Result<()> {
        self.conn
            .send(
                Method::GET,
                CLIENT,
                &[("authorization", &self.token)],
                Bytes::new(),
            )
            .await?
            .expect(200)
    }
}

/// A session token minted for a signed-in client's session.
pub struct MintToken {
    conn: Conn,
    token: String,
    path: String,
}

impl MintToken {
    pub async fn vus(addr: SocketAddr, clients: &[SignedIn]) -> Result<Vec<Self>> {
        let mut vus = Vec::with_capacity(clients.len());
        for c in clients {
            vus.push(Self {
                conn: Conn::open(addr).await?,
                token: c.token.clone(),
                path: format!("/v1/client/sessions/{}/tokens?_is_native=1", c.session_id),
            });
        }
        Ok(vus)
    }
}

impl Vu for MintToken {
    async fn step(&mut self) -> Result<()> {
        self.conn
            .send(
                Method::POST,
                &self.path,
                &[("authorization", &self.token)],
                Bytes::new(),
            )
            .await?
            .expect(200)
    }
}

/// A whole email-code sign-in (three requests) on a new client.
pub struct EmailCodeFlow {
    conn: Conn,
    emails: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

impl EmailCodeFlow {
    pub async fn vus(addr: SocketAddr, emails: Arc<Vec<String>>, n: usize) -> Result<Vec<Self>> {
        let next = Arc::new(AtomicUsize::new(0));
        let mut vus = Vec::with_capacity(n);
        for _ in 0..n {
            vus.push(Self {
                conn: Conn::open(addr).await?,
                emails: Arc::clone(&emails),
                next: Arc::clone(&next),
            });
        }
        Ok(vus)
    }
}

impl Vu for EmailCodeFlow {
    async fn step(&mut self) -> Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.emails.len();
        let email = self.emails[i].clone();
        email_code_sign_in(&mut self.conn, &email).await.map(|_| ())
    }
}
