//! Who is at the dashboard: its cookie (a Latch client's token), the
//! operator's session behind it, the checks every form passes, and the
//! sign-in, sign-out and first-run pages.
//!
//! Operators sign in through the core's own sign-in use cases (a client,
//! a sign-in, its first factor, its second), so lockout, rate limits,
//! audit entries and events apply to them as to anyone. The dashboard's
//! cookie is its own (`Path=/dashboard`, `SameSite=Strict`, `HttpOnly`),
//! apart from the `__client` cookie of the Frontend API.

use latch_api::ApiState;
use latch_api::client_ip::{client_ip, request_scheme, session_origin};
use latch_api::error::ApiError;
use latch_api::http::{ApiRequest, ApiResponse};
use latch_core::error::Error;
use latch_core::model::{Environment, SignInStatus, User};
use latch_core::service::{
    AttemptSecondFactor, ClientSnapshot, CreateSignIn, CreateUser, Outcome, SignInView, Step,
};
use warp::http::{Method, StatusCode, header};

use crate::html::{self, csrf_field, escape, page, redirect};

/// The dashboard's cookie: the token of the Latch client its operator
/// signed in on.
pub(crate) const COOKIE: &str = "__latch_dashboard";

/// The longest identifier, password or code the forms take.
const MAX_FIELD: usize = 1024;

/// An operator signed in to the dashboard.
pub(crate) struct Signed {
    pub user: User,
    pub session_id: String,
    /// The dashboard cookie's client token.
    pub token: String,
    /// The form token of the session.
    pub csrf: String,
}

impl Signed {
    /// What the navigation shows of them.
    pub fn name(&self) -> String {
        crate::users::label(&self.user)
    }
}

/// A password sign-in on a new client, through the core's own sign-in.
async fn password_sign_in(
    state: &ApiState,
    req: &ApiRequest,
    identifier: &str,
    password: String,
    ip: Option<std::net::IpAddr>,
) -> Result<latch_core::service::Outcome<latch_core::service::SignInView>, Error> {
    state
        .services
        .sign_ins
        .create_sign_in(
            None,
            CreateSignIn {
                identifier: Some(identifier.to_owned()),
                strategy: Some("password".into()),
                password: Some(password),
                client_ip: ip,
                origin: session_origin(req, &state.config.trusted_proxies),
                ..CreateSignIn::default()
            },
        )
        .await
}

/// What stands behind the dashboard cookie of `req`.
pub(crate) enum Standing {
    /// No cookie, or a client with no active session.
    Nobody,
    /// A client whose sign-in waits for a second factor.
    AwaitingSecondFactor {
        token: String,
        sign_in: Box<SignInView>,
    },
    /// An operator's active session.
    Operator(Box<Signed>),
    /// An active session of a user who is no operator (any more).
    NotOperator { token: String },
}

/// The dashboard cookie's token, if the request carries one.
pub(crate) fn token(req: &ApiRequest) -> Option<String> {
    req.cookie(COOKIE)
        .ok()
        .flatten()
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .map(str::to_owned)
}

/// Reads who is behind the request's cookie.
pub(crate) async fn standing(state: &ApiState, req: &ApiRequest) -> Result<Standing, Error> {
    let Some(token) = token(req) else {
        return Ok(Standing::Nobody);
    };
    let services = &state.services;
    let Some(snapshot) = services.clients.get_client(Some(&token)).await? else {
        return Ok(Standing::Nobody);
    };
    let Some(session) = current_session(&snapshot) else {
        return Ok(match snapshot.sign_in {
            Some(sign_in) if sign_in.status == SignInStatus::NeedsSecondFactor => {
                Standing::AwaitingSecondFactor {
                    token,
                    sign_in: Box::new(sign_in),
                }
            }
            _ => Standing::Nobody,
        });
    };
    let user = session.user.clone();
    if !services.operators.is_operator(&user.id.0).await? {
        return Ok(Standing::NotOperator { token });
    }
    let session_id = session.session.id.as_str().to_owned();
    Ok(Standing::Operator(Box::new(Signed {
        csrf: services.operators.form_token(&session_id),
        session_id,
        token,
        user,
    })))
}

/// The client's session the dashboard uses: its last active one.
fn current_session(snapshot: &ClientSnapshot) -> Option<&latch_core::service::SessionView> {
    let last = snapshot.client.last_active_session_id.as_ref();
    snapshot
        .sessions
        .iter()
        .find(|s| Some(&s.session.id) == last)
        .or_else(|| snapshot.sessions.first())
}

/// Why a form was refused before it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forged {
    /// It came from another site, or says nothing of where it came from.
    CrossSite,
    /// Its token is missing or not its session's.
    BadToken,
}

/// A form must come from this origin. Browsers say so with
/// `Sec-Fetch-Site: same-origin`; under the pages' `no-referrer` policy
/// they send `Origin: null` with a form, so an `Origin` is checked only
/// when it names one. A request that says neither is refused.
pub(crate) fn same_origin(state: &ApiState, req: &ApiRequest) -> Result<(), Forged> {
    let site = req.header("sec-fetch-site");
    if site.is_some_and(|site| site != "same-origin") {
        return Err(Forged::CrossSite);
    }
    let origin = req.header("origin").filter(|o| *o != "null");
    match (site, origin) {
        (None, None) => Err(Forged::CrossSite),
        (_, Some(origin)) => match own_origin(state, req) {
            Some(own) if origin.eq_ignore_ascii_case(&own) => Ok(()),
            _ => Err(Forged::CrossSite),
        },
        (Some(_), None) => Ok(()),
    }
}

/// A signed-in form: from this origin, with its session's token.
pub(crate) fn check_form(
    state: &ApiState,
    req: &ApiRequest,
    signed: &Signed,
) -> Result<(), Forged> {
    same_origin(state, req)?;
    let token = req.param("csrf").ok().flatten().unwrap_or_default();
    if state
        .services
        .operators
        .form_token_matches(&signed.session_id, &token)
    {
        Ok(())
    } else {
        Err(Forged::BadToken)
    }
}

/// The origin the browser reached the dashboard at.
fn own_origin(state: &ApiState, req: &ApiRequest) -> Option<String> {
    let host = req.header("host").filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    })?;
    Some(format!("{}://{host}", request_scheme(&state.config, req)))
}

/// The answer to a refused form: nothing was changed.
pub(crate) fn forged(why: Forged) -> ApiResponse {
    let text = match why {
        Forged::CrossSite => {
            "This form did not come from the dashboard's own pages, so it was refused and nothing was changed."
        }
        Forged::BadToken => {
            "This form's security token is missing or belongs to another session (perhaps you signed in again in another tab). Nothing was changed: go back, reload the page and try again."
        }
    };
    page(
        StatusCode::FORBIDDEN,
        "Request refused",
        None,
        None,
        &format!(
            r#"<p class="error">{}</p><p><a href="/dashboard">Back to the dashboard</a></p>"#,
            escape(text)
        ),
    )
}

/// `Set-Cookie` for `token` (`Secure` when the browser came over HTTPS).
fn cookie(state: &ApiState, req: &ApiRequest, token: &str) -> String {
    let secure = if request_scheme(&state.config, req) == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}={token}; Path=/dashboard; HttpOnly; SameSite=Strict{secure}")
}

fn clear_cookie(state: &ApiState, req: &ApiRequest) -> String {
    let secure = if request_scheme(&state.config, req) == "https" {
        "; Secure"
    } else {
        ""
    };
    format!("{COOKIE}=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
}

/// A form field, trimmed of nothing, at most [`MAX_FIELD`] bytes.
fn field(req: &ApiRequest, name: &str) -> String {
    req.param(name)
        .ok()
        .flatten()
        .filter(|v| v.len() <= MAX_FIELD)
        .unwrap_or_default()
}

/// An error as the Frontend API would word it.
pub(crate) fn wording(err: Error) -> String {
    ApiError::from(err).long_message
}

// ---------------------------------------------------------------- sign-in

/// `GET /dashboard/sign-in`.
pub(crate) fn sign_in_page(error: Option<&str>, identifier: &str) -> ApiResponse {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    page(
        status,
        "Operator sign-in",
        None,
        None,
        &format!(
            r#"{error}<div class="card"><form class="stack" method="post" action="/dashboard/sign-in">
<label>Email address, phone number or username<input name="identifier" autocomplete="username" required value="{identifier}"></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Continue</button>
</form></div>
<p class="muted">Only operators of this Latch instance may sign in here. Lockout and rate limits apply as for any sign-in.</p>"#,
            identifier = escape(identifier)
        ),
    )
}

/// `POST /dashboard/sign-in`: the identifier and password, through a new
/// client's sign-in.
pub(crate) async fn sign_in(state: &ApiState, req: &ApiRequest) -> ApiResponse {
    if let Err(why) = same_origin(state, req) {
        return forged(why);
    }
    let identifier = field(req, "identifier");
    let password = field(req, "password");
    if identifier.trim().is_empty() || password.is_empty() {
        return sign_in_page(Some("Enter your identifier and password."), &identifier);
    }
    let services = &state.services;
    let ip = client_ip(req, &state.config.trusted_proxies);
    for step in [Step::CreateClient, Step::CreateSignIn] {
        if let Err(err) = services.rate_limits.throttle(step, ip).await {
            return sign_in_page(Some(&wording(err)), &identifier);
        }
    }
    // A client left behind by an earlier visit goes first.
    if let Some(old) = token(req) {
        let _ = services.clients.delete_client(Some(&old)).await;
    }
    let outcome = password_sign_in(state, req, &identifier, password, ip).await;
    match outcome {
        Ok(outcome) => after_factor(state, req, outcome).await,
        Err(err) => sign_in_page(Some(&wording(err)), &identifier),
    }
}

/// `GET /dashboard/sign-in/factor`.
pub(crate) fn factor_page(error: Option<&str>) -> ApiResponse {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    page(
        status,
        "Second factor",
        None,
        None,
        &format!(
            r#"{error}<div class="card"><form class="stack" method="post" action="/dashboard/sign-in/factor">
<label>Code from your authenticator app, or a backup code<input name="code" autocomplete="one-time-code" inputmode="text" required></label>
<label>Kind of code<select name="strategy"><option value="totp">Authenticator app</option><option value="backup_code">Backup code</option></select></label>
<button type="submit">Verify</button>
</form></div>
<p><a href="/dashboard/sign-in">Start again</a></p>"#
        ),
    )
}

/// `POST /dashboard/sign-in/factor`: the second factor of the sign-in the
/// cookie's client holds.
pub(crate) async fn attempt_factor(state: &ApiState, req: &ApiRequest) -> ApiResponse {
    if let Err(why) = same_origin(state, req) {
        return forged(why);
    }
    let (token, sign_in) = match standing(state, req).await {
        Ok(Standing::AwaitingSecondFactor { token, sign_in }) => (token, sign_in),
        Ok(_) => return redirect("/dashboard/sign-in"),
        Err(err) => return failure(err),
    };
    let strategy = match field(req, "strategy").as_str() {
        "backup_code" => "backup_code",
        _ => "totp",
    };
    let services = &state.services;
    let ip = client_ip(req, &state.config.trusted_proxies);
    if let Err(err) = services
        .rate_limits
        .throttle(Step::AttemptSecondFactor, ip)
        .await
    {
        return factor_page(Some(&wording(err)));
    }
    let outcome = services
        .sign_ins
        .attempt_second_factor(
            Some(&token),
            sign_in.sign_in.id.as_str(),
            AttemptSecondFactor {
                strategy: Some(strategy.into()),
                code: Some(field(req, "code")),
                keep_token: false,
                origin: session_origin(req, &state.config.trusted_proxies),
            },
        )
        .await;
    match outcome {
        Ok(outcome) => after_factor(state, req, outcome).await,
        Err(err) => factor_page(Some(&wording(err))),
    }
}

/// Where a passed factor leads: the second factor's page, or the admission
/// of the session it started.
async fn after_factor(
    state: &ApiState,
    req: &ApiRequest,
    outcome: Outcome<SignInView>,
) -> ApiResponse {
    let Some(token) = outcome.new_token.or_else(|| token(req)) else {
        return failure(Error::internal("a sign-in without its client's token"));
    };
    match outcome.response.status {
        SignInStatus::NeedsSecondFactor => redirect("/dashboard/sign-in/factor")
            .with_header(header::SET_COOKIE, &cookie(state, req, &token)),
        SignInStatus::Complete => admit(state, req, &token).await,
        // Password-only sign-ins never stop elsewhere; anything else
        // starts again.
        _ => {
            let _ = state.services.clients.delete_client(Some(&token)).await;
            sign_in_page(
                Some("This account cannot sign in here with a password."),
                "",
            )
        }
    }
}

/// A session just started: kept if its user is an operator (and, on a
/// production instance, if it was started with a second factor), else
/// ended at once.
async fn admit(state: &ApiState, req: &ApiRequest, token: &str) -> ApiResponse {
    let services = &state.services;
    let started = match services.clients.get_client(Some(token)).await {
        Ok(Some(snapshot)) => current_session(&snapshot).map(|s| {
            (
                s.user.clone(),
                s.session.second_factor_verified_at.is_some(),
            )
        }),
        Ok(None) => None,
        Err(err) => return failure(err),
    };
    let Some((user, second_factor)) = started else {
        return redirect("/dashboard/sign-in");
    };
    let refusal = match services.operators.is_operator(&user.id.0).await {
        Err(err) => return failure(err),
        Ok(false) => Some((
            "Not an operator",
            "You signed in correctly, but this account is not an operator of this Latch \
             instance, so the dashboard stays closed to it. Your session here has been ended. \
             An operator can grant the role from the dashboard, or an administrator with \
             `latch admin grant EMAIL`.",
        )),
        Ok(true)
            if services.settings().environment == Environment::Production && !second_factor =>
        {
            Some((
                "Second factor required",
                "Operators of a production instance sign in with a second factor. Add an \
                 authenticator app to your account first (for example on the account page \
                 at /user), then sign in here again. Your session here has been ended.",
            ))
        }
        Ok(true) => None,
    };
    match refusal {
        None => {
            redirect("/dashboard/users").with_header(header::SET_COOKIE, &cookie(state, req, token))
        }
        Some((title, text)) => {
            let _ = services.clients.delete_client(Some(token)).await;
            page(
                StatusCode::FORBIDDEN,
                title,
                None,
                None,
                &format!(
                    r#"<p class="error" role="alert">{}</p><p><a href="/dashboard/sign-in">Sign in with another account</a></p>"#,
                    escape(text)
                ),
            )
            .with_header(header::SET_COOKIE, &clear_cookie(state, req))
        }
    }
}

/// Whether a user signs in with a second factor (an authenticator app or
/// a phone number kept for it).
pub(crate) fn has_second_factor(user: &User) -> bool {
    user.totp_secret.is_some()
        || user
            .phone_numbers
            .iter()
            .any(|p| p.reserved_for_second_factor && p.verified)
}

/// `POST /dashboard/sign-out`: the session ends with its client.
pub(crate) async fn sign_out(state: &ApiState, req: &ApiRequest, signed: &Signed) -> ApiResponse {
    if let Err(why) = check_form(state, req, signed) {
        return forged(why);
    }
    if let Err(err) = state
        .services
        .clients
        .delete_client(Some(&signed.token))
        .await
    {
        return failure(err);
    }
    redirect("/dashboard/sign-in?done=signed_out")
        .with_header(header::SET_COOKIE, &clear_cookie(state, req))
}

/// The page of a request turned away: the cookie no longer stands for an
/// operator.
pub(crate) async fn refuse_non_operator(
    state: &ApiState,
    req: &ApiRequest,
    token: &str,
) -> ApiResponse {
    let _ = state.services.clients.delete_client(Some(token)).await;
    redirect("/dashboard/sign-in").with_header(header::SET_COOKIE, &clear_cookie(state, req))
}

/// A failure of the store or a bug: a page that says so, without detail.
pub(crate) fn failure(err: Error) -> ApiResponse {
    tracing::warn!(error = ?err, "dashboard request failed");
    let (status, text) = match err {
        Error::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The store is unavailable right now. Try again in a moment.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server. It has been logged.",
        ),
    };
    page(
        status,
        "Error",
        None,
        None,
        &format!(r#"<p class="error">{}</p>"#, escape(text)),
    )
}

// --------------------------------------------------------------- first run

/// `GET /dashboard` on an instance without an operator.
pub(crate) fn first_run_page() -> ApiResponse {
    page(
        StatusCode::OK,
        "Set up the dashboard",
        None,
        None,
        r#"<div class="card"><p>This Latch instance has no operator yet. Operators are Latch users with the operator role; nothing else opens the dashboard.</p>
<p>To make the first one, either:</p>
<ul>
<li>find the one-time <strong>setup token</strong> in the server's log (the line that says there is no operator yet, printed at start) and use it on the <a href="/dashboard/setup">setup page</a>; or</li>
<li>run <code>latch admin grant EMAIL</code> for an existing user, on a machine with this instance's configuration.</li>
</ul>
<p class="muted">The token works once, only while there is no operator, and only on the server process that printed it.</p></div>"#,
    )
}

/// `GET /dashboard/setup`.
pub(crate) fn setup_page(error: Option<&str>, email: &str) -> ApiResponse {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    page(
        status,
        "First operator",
        None,
        None,
        &format!(
            r#"{error}<div class="card"><form class="stack" method="post" action="/dashboard/setup">
<label>Setup token (from the server's log)<input name="token" autocomplete="off" required></label>
<label>Email address<input name="email" type="email" autocomplete="username" required value="{email}"></label>
<label>Password<input name="password" type="password" autocomplete="new-password" required></label>
<button type="submit">Make this the first operator</button>
</form></div>
<p class="muted">A new email address makes a new user with this password. An existing user's address needs that user's own password, checked like any sign-in.</p>"#,
            email = escape(email)
        ),
    )
}

/// `POST /dashboard/setup`: the token, then the user (made, or signed in
/// with their password), then the role; the session the sign-in started
/// is the new operator's.
pub(crate) async fn setup(state: &ApiState, req: &ApiRequest) -> ApiResponse {
    if let Err(why) = same_origin(state, req) {
        return forged(why);
    }
    let services = &state.services;
    let email = field(req, "email");
    let password = field(req, "password");
    let token = field(req, "token");
    let ip = client_ip(req, &state.config.trusted_proxies);
    // Guessing the token costs what guessing a password costs.
    if let Err(err) = services.rate_limits.throttle(Step::CreateSignIn, ip).await {
        return setup_page(Some(&wording(err)), &email);
    }
    match services.operators.setup_token_matches(token.trim()).await {
        Ok(true) => {}
        Ok(false) => {
            return setup_page(
                Some(
                    "This setup token is wrong or spent, or the instance already has an operator.",
                ),
                &email,
            );
        }
        Err(err) => return failure(err),
    }
    if email.trim().is_empty() || password.is_empty() {
        return setup_page(Some("Enter an email address and a password."), &email);
    }
    // A new address is a new user; an existing one signs in below.
    let existing = services
        .users
        .count_users(latch_core::ports::UserQuery {
            email_addresses: vec![email.trim().to_owned()],
            ..Default::default()
        })
        .await;
    match existing {
        Ok(0) => {
            let created = services
                .users
                .create_user(CreateUser {
                    email_addresses: vec![email.trim().to_owned()],
                    password: Some(password.clone()),
                    ..CreateUser::default()
                })
                .await;
            match created {
                Ok(_) | Err(Error::IdentifierTaken(_)) => {}
                Err(err) => return setup_page(Some(&wording(err)), &email),
            }
        }
        Ok(_) => {}
        Err(err) => return failure(err),
    }
    let outcome = password_sign_in(state, req, &email, password, ip).await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(err) => return setup_page(Some(&wording(err)), &email),
    };
    let Some(user_id) = outcome
        .response
        .user
        .as_ref()
        .map(|u| u.id.0.clone())
        .or_else(|| {
            outcome
                .client
                .as_ref()
                .and_then(current_session)
                .map(|s| s.user.id.0.clone())
        })
    else {
        return failure(Error::internal("a setup sign-in without its user"));
    };
    if let Err(err) = services
        .operators
        .complete_setup(token.trim(), &user_id)
        .await
    {
        if let Some(new_token) = &outcome.new_token {
            let _ = services.clients.delete_client(Some(new_token)).await;
        }
        return match err {
            Error::CodeIncorrect => setup_page(
                Some(
                    "This setup token is wrong or spent, or the instance already has an operator.",
                ),
                &email,
            ),
            other => failure(other),
        };
    }
    after_factor(state, req, outcome).await
}

/// Whether `req` is a GET (or HEAD).
pub(crate) fn is_read(req: &ApiRequest) -> bool {
    req.method == Method::GET || req.method == Method::HEAD
}

/// The sign-in page's note after signing out.
pub(crate) fn signed_out_note(req: &ApiRequest) -> Option<&'static str> {
    (req.query_param("done") == Some("signed_out")).then_some("You have signed out.")
}

/// `GET /dashboard/sign-in` with its note.
pub(crate) fn sign_in_page_with_note(req: &ApiRequest) -> ApiResponse {
    match signed_out_note(req) {
        Some(note) => {
            let mut response = sign_in_page(None, "");
            if let Some(text) = response.text.take() {
                response.text = Some(text.replacen(
                    "<main>\n",
                    &format!(
                        r#"<main>
<p class="flash" role="status">{}</p>"#,
                        html::escape(note)
                    ),
                    1,
                ));
            }
            response
        }
        None => sign_in_page(None, ""),
    }
}

/// Hidden form token field for `signed`.
pub(crate) fn csrf(signed: &Signed) -> String {
    csrf_field(&signed.csrf)
}
