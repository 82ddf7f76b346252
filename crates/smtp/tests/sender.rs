//! The SMTP code sender against a real SMTP server (aiosmtpd) on loopback,
//! one server per test: no TLS, STARTTLS and implicit TLS with a private CA,
//! AUTH, and the ways a delivery fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use latch_core::ports::{CodeDestination, CodeMessage, CodePurpose, CodeSender, SendError};
use latch_smtp::{
    EmailTemplates, SmtpCodeSender, SmtpConfig, SmtpCredentials, SmtpSecurity, render,
};
use latch_testkit::smtp::{ServerTls, SmtpServer, SmtpServerOptions, TestPki};

const CODE: &str = "804213";
const PASSWORD: &str = "correct horse battery";

fn config(port: u16, security: SmtpSecurity) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port,
        security,
        credentials: None,
        from: "Latch <no-reply@latch.example>".to_owned(),
        extra_root_certificates_pem: None,
        timeout: Duration::from_secs(10),
        templates: EmailTemplates::default(),
    }
}

fn trusting(mut config: SmtpConfig, pki: &TestPki) -> SmtpConfig {
    config.extra_root_certificates_pem = Some(std::fs::read(&pki.ca_cert).unwrap());
    config
}

fn with_login(mut config: SmtpConfig, password: &str) -> SmtpConfig {
    config.credentials = Some(SmtpCredentials {
        username: "latch".to_owned(),
        password: password.to_owned(),
    });
    config
}

fn email(to: &str, purpose: CodePurpose) -> CodeMessage {
    CodeMessage {
        destination: CodeDestination::Email(to.to_owned()),
        code: CODE.to_owned(),
        purpose,
        expires_in_minutes: 10,
    }
}

async fn send(config: SmtpConfig, message: &CodeMessage) -> Result<(), SendError> {
    SmtpCodeSender::new(config).unwrap().send(message).await
}

/// A failure whose text is safe to log: no code, no password, no recipient.
fn assert_log_safe(result: Result<(), SendError>) -> String {
    let SendError(text) = result.expect_err("the send must fail");
    for secret in [CODE, PASSWORD, "ann@example.com"] {
        assert!(!text.contains(secret), "{text:?} shows {secret:?}");
    }
    text
}

#[tokio::test]
async fn plain_delivery_renders_the_sign_in_template() {
    let server = SmtpServer::start(SmtpServerOptions::default());
    send(
        config(server.port(), SmtpSecurity::Plain),
        &email("ann@example.com", CodePurpose::SignIn),
    )
    .await
    .unwrap();
    let mail = server.wait_for_message(1, Duration::from_secs(5));
    assert_eq!(mail.mail_from, "no-reply@latch.example");
    assert_eq!(mail.rcpt_tos, ["ann@example.com"]);
    assert_eq!(mail.from, "Latch <no-reply@latch.example>");
    assert_eq!(mail.to, "ann@example.com");
    assert_eq!(mail.subject, format!("Your sign-in code is {CODE}"));
    assert_eq!(mail.content_type, "text/plain");
    let templates = EmailTemplates::default();
    assert_eq!(
        mail.body.replace("\r\n", "\n").trim_end(),
        render(&templates.sign_in_body, CODE, 10).trim_end()
    );
    assert!(mail.body.contains("10 minutes"));
    assert!(!mail.encrypted);
    assert_eq!(mail.authenticated_as, None);
    assert!(
        mail.raw.contains("\r\nMessage-ID: <") || mail.raw.starts_with("Message-ID: <"),
        "{}",
        mail.raw
    );
}

#[tokio::test]
async fn password_reset_codes_use_the_reset_templates() {
    let server = SmtpServer::start(SmtpServerOptions::default());
    let mut c = config(server.port(), SmtpSecurity::Plain);
    c.templates = EmailTemplates {
        sign_in_subject: "Sign in: {code}".to_owned(),
        sign_in_body: "sign in with {code}".to_owned(),
        reset_password_subject: "Reset ({minutes} min)".to_owned(),
        reset_password_body: "Reset with {code} within {minutes} minutes.".to_owned(),
        ..EmailTemplates::default()
    };
    let sender = SmtpCodeSender::new(c).unwrap();
    sender
        .send(&email("ann@example.com", CodePurpose::ResetPassword))
        .await
        .unwrap();
    sender
        .send(&email("bob@example.com", CodePurpose::SignIn))
        .await
        .unwrap();
    let reset = server.wait_for_message(1, Duration::from_secs(5));
    assert_eq!(reset.subject, "Reset (10 min)");
    assert_eq!(
        reset.body.trim_end(),
        format!("Reset with {CODE} within 10 minutes.")
    );
    let sign_in = server.wait_for_message(2, Duration::from_secs(5));
    assert_eq!(sign_in.rcpt_tos, ["bob@example.com"]);
    assert_eq!(sign_in.subject, format!("Sign in: {CODE}"));
    assert_eq!(sign_in.body.trim_end(), format!("sign in with {CODE}"));
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_auth_delivers_encrypted() {
    let pki = TestPki::generate();
    let server = SmtpServer::start(SmtpServerOptions {
        tls: ServerTls::StartTls,
        pki: Some(&pki),
        auth: Some(("latch", PASSWORD)),
    });
    let c = with_login(
        trusting(config(server.port(), SmtpSecurity::StartTls), &pki),
        PASSWORD,
    );
    send(c, &email("ann@example.com", CodePurpose::SignIn))
        .await
        .unwrap();
    let mail = server.wait_for_message(1, Duration::from_secs(5));
    assert!(mail.encrypted, "the message travelled after STARTTLS");
    assert_eq!(mail.authenticated_as.as_deref(), Some("latch"));
    assert!(mail.body.contains(CODE));
}

#[tokio::test]
async fn implicit_tls_with_a_private_ca_delivers_encrypted() {
    let pki = TestPki::generate();
    let server = SmtpServer::start(SmtpServerOptions {
        tls: ServerTls::Implicit,
        pki: Some(&pki),
        auth: None,
    });
    send(
        trusting(config(server.port(), SmtpSecurity::Tls), &pki),
        &email("ann@example.com", CodePurpose::SignIn),
    )
    .await
    .unwrap();
    let mail = server.wait_for_message(1, Duration::from_secs(5));
    assert!(mail.encrypted);
    assert!(mail.subject.contains(CODE));
}

#[tokio::test]
async fn a_certificate_from_an_untrusted_ca_is_a_send_error() {
    let pki = TestPki::generate();
    let other = TestPki::generate();
    for (tls, security) in [
        (ServerTls::StartTls, SmtpSecurity::StartTls),
        (ServerTls::Implicit, SmtpSecurity::Tls),
    ] {
        let server = SmtpServer::start(SmtpServerOptions {
            tls,
            pki: Some(&pki),
            auth: Some(("latch", PASSWORD)),
        });
        let message = email("ann@example.com", CodePurpose::SignIn);
        // Mozilla's roots only, then another private CA.
        let bare = with_login(config(server.port(), security), PASSWORD);
        let text = assert_log_safe(send(bare.clone(), &message).await);
        assert!(text.contains("smtp"), "{text}");
        assert_log_safe(send(trusting(bare, &other), &message).await);
        assert!(server.messages().is_empty(), "{security:?}");
    }
}

#[tokio::test]
async fn plain_auth_on_loopback_succeeds_and_a_wrong_password_is_a_send_error() {
    let server = SmtpServer::start(SmtpServerOptions {
        auth: Some(("latch", PASSWORD)),
        ..SmtpServerOptions::default()
    });
    let message = email("ann@example.com", CodePurpose::SignIn);
    let wrong = with_login(config(server.port(), SmtpSecurity::Plain), "guess");
    let text = assert_log_safe(send(wrong, &message).await);
    assert!(text.contains("535"), "AUTH refused: {text}");
    assert!(!text.contains("guess"));
    // Without credentials, the server wants AUTH before MAIL FROM.
    assert_log_safe(send(config(server.port(), SmtpSecurity::Plain), &message).await);
    assert!(server.messages().is_empty());

    let right = with_login(config(server.port(), SmtpSecurity::Plain), PASSWORD);
    send(right, &message).await.unwrap();
    let mail = server.wait_for_message(1, Duration::from_secs(5));
    assert_eq!(mail.authenticated_as.as_deref(), Some("latch"));
}

#[tokio::test]
async fn starttls_required_but_not_offered_is_a_send_error() {
    let pki = TestPki::generate();
    // This server speaks no TLS at all.
    let server = SmtpServer::start(SmtpServerOptions {
        auth: Some(("latch", PASSWORD)),
        ..SmtpServerOptions::default()
    });
    let c = with_login(
        trusting(config(server.port(), SmtpSecurity::StartTls), &pki),
        PASSWORD,
    );
    let text = assert_log_safe(send(c, &email("ann@example.com", CodePurpose::SignIn)).await);
    assert!(text.to_ascii_lowercase().contains("starttls"), "{text}");
    assert!(server.messages().is_empty(), "nothing went in clear");
}

#[tokio::test]
async fn a_server_that_is_down_is_a_send_error() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = dead.local_addr().unwrap().port();
    drop(dead);
    for security in [
        SmtpSecurity::Plain,
        SmtpSecurity::StartTls,
        SmtpSecurity::Tls,
    ] {
        let mut c = config(port, security);
        c.timeout = Duration::from_secs(3);
        assert_log_safe(send(c, &email("ann@example.com", CodePurpose::SignIn)).await);
    }
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_send_error_within_the_timeout() {
    // Accepts connections and says nothing: no greeting ever comes.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || silent.accept().map(|(stream, _)| stream));
    let mut c = config(port, SmtpSecurity::Plain);
    c.timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    assert_log_safe(send(c, &email("ann@example.com", CodePurpose::SignIn)).await);
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held.join());
}

#[tokio::test]
async fn sms_destinations_are_a_send_error() {
    let server = SmtpServer::start(SmtpServerOptions::default());
    let sms = CodeMessage {
        destination: CodeDestination::Sms("+15550002222".to_owned()),
        ..email("ann@example.com", CodePurpose::SignIn)
    };
    let result = send(config(server.port(), SmtpSecurity::Plain), &sms).await;
    assert_eq!(
        result,
        Err(SendError("smtp delivers email only".to_owned()))
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_destination_that_is_not_one_address_is_a_send_error() {
    let server = SmtpServer::start(SmtpServerOptions::default());
    let sender = SmtpCodeSender::new(config(server.port(), SmtpSecurity::Plain)).unwrap();
    for to in [
        "ann@example.com\r\nBcc: eve@example.com",
        "ann@example.com, eve@example.com",
        "Ann <ann@example.com>",
        "ann",
        "",
    ] {
        let result = sender.send(&email(to, CodePurpose::SignIn)).await;
        let SendError(text) = result.expect_err(to);
        assert!(!text.contains("eve"), "{text}");
    }
    assert!(server.messages().is_empty());
}
