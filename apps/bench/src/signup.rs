//! The sign-up flow: a new account with a password and an email address
//! proved by code, on a new client (one argon2id hash each).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use anyhow::{Context, Result, bail};
use bytes::Bytes;

use crate::distributed::Counted;
use crate::http::{Conn, form_escape};
use crate::load::{self, Vu};
use crate::report::{Report, Summary};
use crate::scenarios::{PasswordSignIn, PasswordUser, SignedIn, TEST_CODE};
use crate::{Options, log_outcome, writer};

pub const SIGN_UPS: &str = "/v1/client/sign_ups?_is_native=1";
/// Virtual users of the sign-up row.
pub const CONCURRENCY: usize = 32;
/// Long enough for `sign_up.password_min_length` and none of the account's
/// identifiers, which `password_may_match_identifier = false` refuses.
const PASSWORD: &str = "bench sign-up password 0042";

/// Sets of virtual users made so far in this process, so that no two runs
/// sign up the same address.
static SETS: AtomicUsize = AtomicUsize::new(0);

/// A new test identity's address: `+clerk_test` on a development instance
/// takes 424242 and sends nothing.
fn address(set: usize, vu: usize, n: u64) -> String {
    format!(
        "su{}s{set}v{vu}n{n}+clerk_test@example.com",
        std::process::id()
    )
}

/// One sign-up: create (address and password), prepare the email code,
/// attempt it; checked through to the session it creates.
pub async fn sign_up(conn: &mut Conn, email: &str) -> Result<SignedIn> {
    let created = conn
        .post_form(
            SIGN_UPS,
            "",
            Bytes::from(format!(
                "email_address={}&password={}",
                form_escape(email),
                form_escape(PASSWORD)
            )),
        )
        .await?;
    let json = created.json(200).context("create sign-up")?;
    let mut token = created.client_token().context("no client token")?;
    let id = json["response"]["id"]
        .as_str()
        .context("no sign-up id")?
        .to_owned();

    let prepared = conn
        .post_form(
            &format!("/v1/client/sign_ups/{id}/prepare_verification?_is_native=1"),
            &token,
            Bytes::from_static(b"strategy=email_code"),
        )
        .await?;
    prepared.expect(200).context("prepare verification")?;
    if let Some(t) = prepared.client_token() {
        token = t;
    }

    let attempted = conn
        .post_form(
            &format!("/v1/client/sign_ups/{id}/attempt_verification?_is_native=1"),
            &token,
            Bytes::from(format!("strategy=email_code&code={TEST_CODE}")),
        )
        .await?;
    let json = attempted.json(200).context("attempt verification")?;
    if json["response"]["status"] != "complete" {
        bail!("sign-up did not complete: {json}");
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

/// Signs up one new address, checked in full (used once before the load).
pub async fn check(addr: SocketAddr) -> Result<SignedIn> {
    let set = SETS.fetch_add(1, Ordering::Relaxed);
    let mut conn = Conn::open(addr).await?;
    sign_up(&mut conn, &address(set, 0, 0)).await
}

/// A whole sign-up flow (three requests) on a new client, each with an
/// address no one has used.
pub struct SignUpFlow {
    conn: Conn,
    set: usize,
    vu: usize,
    next: u64,
}

impl SignUpFlow {
    pub async fn vus(addr: SocketAddr, n: usize) -> Result<Vec<Self>> {
        let set = SETS.fetch_add(1, Ordering::Relaxed);
        let mut vus = Vec::with_capacity(n);
        for vu in 0..n {
            vus.push(Self {
                conn: Conn::open(addr).await?,
                set,
                vu,
                next: 0,
            });
        }
        Ok(vus)
    }
}

impl Vu for SignUpFlow {
    async fn step(&mut self) -> Result<()> {
        let email = address(self.set, self.vu, self.next);
        self.next += 1;
        sign_up(&mut self.conn, &email).await.map(|_| ())
    }
}

/// The sign-up row on the running latch: one flow checked in full, then
/// `--runs` closed loops at `CONCURRENCY`, each right after a password
/// sign-in run at the same concurrency (with `users`): the machine's speed
/// drifts between rows, less between two runs back to back, so each run's
/// share is taken against the sign-ins just before it.
pub async fn row(
    opts: &Options,
    report: &mut Report,
    addr: SocketAddr,
    pid: u32,
    users: &[PasswordUser],
) -> Result<()> {
    check(addr)
        .await
        .context("the sign-up flow, checked once")?;
    let name = format!("sign-up flow c={CONCURRENCY}");
    let paired = format!("password sign-in c={CONCURRENCY}, before the sign-ups");
    let (mut outs, mut ratios, mut stores) = (Vec::new(), Vec::new(), Vec::new());
    for run in 1..=opts.runs {
        let before = load::run(
            PasswordSignIn::vus(addr, users, CONCURRENCY).await?,
            opts.window(),
            pid,
        )
        .await?;
        log_outcome(&paired, run, opts.runs, &before);
        // Every flow of the run, warm-up included, against the store's
        // counters read right before and after it.
        let flows = Arc::new(AtomicU64::new(0));
        let vus = SignUpFlow::vus(addr, CONCURRENCY)
            .await?
            .into_iter()
            .map(|inner| Counted {
                inner,
                steps: Arc::clone(&flows),
            })
            .collect();
        let counters = writer::read(addr).await?;
        let o = load::run(vus, opts.window(), pid).await?;
        stores.push(writer::between(
            &counters,
            &writer::read(addr).await?,
            flows.load(Ordering::Relaxed),
        ));
        log_outcome(&name, run, opts.runs, &o);
        ratios.extend(share_ratio(o.rate(), before.rate()));
        outs.push(o);
    }
    report.sign_up = Some(Summary::of(&outs));
    report.sign_up_paired = load::median(&ratios);
    report.sign_up_store = writer::median(&stores);
    Ok(())
}

/// The sign-up row's share of the argon2 ceiling against the password
/// sign-in's: both make one hash per step, so it is the ratio of their rates.
pub fn share_ratio(sign_ups: f64, sign_ins: f64) -> Option<f64> {
    (sign_ins > 0.0 && sign_ups.is_finite() && sign_ins.is_finite()).then(|| sign_ups / sign_ins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_differ_by_set_user_and_count() {
        let a = address(0, 1, 2);
        assert!(a.ends_with("+clerk_test@example.com"));
        assert_ne!(a, address(1, 1, 2));
        assert_ne!(a, address(0, 2, 2));
        assert_ne!(a, address(0, 1, 3));
        // "s1v12" and "s11v2" must not meet.
        assert_ne!(address(1, 12, 0), address(11, 2, 0));
    }

    #[test]
    fn ratio_of_shares_is_the_ratio_of_rates() {
        assert_eq!(share_ratio(240.0, 260.0), Some(240.0 / 260.0));
        assert_eq!(share_ratio(1.0, 0.0), None);
        assert_eq!(share_ratio(f64::NAN, 10.0), None);
    }
}
