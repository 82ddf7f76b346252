//! `latch-smtp`: an outbound adapter that emails one-time codes (lettre).
//!
//! [`SmtpCodeSender`] implements the core's `CodeSender` port for email
//! destinations: one plain-text message per code, From the configured
//! mailbox To the user's address, its subject and body rendered from
//! [`EmailTemplates`]. It connects with [`SmtpSecurity`]: no TLS (for a relay
//! on loopback), STARTTLS that must succeed, or TLS from the first byte, and
//! trusts Mozilla's roots plus any extra CA certificates it is given.
//!
//! Invariants: depends on `latch-core` only among Latch crates; reads no file
//! and no environment variable (the app hands it the extra CA certificates as
//! PEM); a password is never sent over an unencrypted connection except to a
//! loopback host; error texts name no code, password or recipient; each send
//! opens one connection and is bounded by the configured timeout.

#![forbid(unsafe_code)]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use latch_core::model::is_loopback_host;
use latch_core::ports::{CodeDestination, CodeMessage, CodePurpose, CodeSender, SendError};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS at all: only for a relay on the same machine.
    Plain,
    /// Plain connect, then STARTTLS, which the server must offer (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpSecurity {
    /// `"plain"`, `"starttls"` or `"tls"`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "plain" => Some(Self::Plain),
            "starttls" => Some(Self::StartTls),
            "tls" => Some(Self::Tls),
            _ => None,
        }
    }
}

/// AUTH credentials; `Debug` does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Subjects and bodies, in which `{code}` and `{minutes}` are replaced by the
/// code and its lifetime in minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTemplates {
    pub sign_in_subject: String,
    pub sign_in_body: String,
    pub reset_password_subject: String,
    pub reset_password_body: String,
    pub sign_up_subject: String,
    pub sign_up_body: String,
    /// Sent in place of a code when someone signs up with an address that
    /// already has an account: it holds no code.
    pub sign_up_notice_subject: String,
    pub sign_up_notice_body: String,
}

impl Default for EmailTemplates {
    fn default() -> Self {
        Self {
            sign_in_subject: "Your sign-in code is {code}".to_owned(),
            sign_in_body: "Your sign-in code is {code}. It expires in {minutes} minutes.\n\n\
                           If you did not try to sign in, you can ignore this email.\n"
                .to_owned(),
            reset_password_subject: "Your password reset code is {code}".to_owned(),
            reset_password_body: "Your password reset code is {code}. It expires in {minutes} \
                                  minutes.\n\nIf you did not ask to reset your password, you can \
                                  ignore this email: your password has not changed.\n"
                .to_owned(),
            sign_up_subject: "Your verification code is {code}".to_owned(),
            sign_up_body: "Your verification code is {code}. It expires in {minutes} minutes.\n\n\
                           If you did not try to create an account, you can ignore this email.\n"
                .to_owned(),
            sign_up_notice_subject: "Someone tried to create an account with this address"
                .to_owned(),
            sign_up_notice_body: "Someone tried to create a new account with this email \
                                  address, which already has an account.\n\nIf that was \
                                  you, sign in instead, or reset your password if you forgot \
                                  it. If it was not you, you can ignore this email: nothing \
                                  has changed.\n"
                .to_owned(),
        }
    }
}

impl EmailTemplates {
    /// Checks that every body shows the code and no subject spans lines.
    pub fn validate(&self) -> Result<(), SmtpConfigError> {
        for (name, subject) in [
            ("sign_in_subject", &self.sign_in_subject),
            ("reset_password_subject", &self.reset_password_subject),
            ("sign_up_subject", &self.sign_up_subject),
            ("sign_up_notice_subject", &self.sign_up_notice_subject),
        ] {
            if subject.contains(['\r', '\n']) {
                return Err(SmtpConfigError::Template(name, "must be one line"));
            }
        }
        for (name, body) in [
            ("sign_in_body", &self.sign_in_body),
            ("reset_password_body", &self.reset_password_body),
            ("sign_up_body", &self.sign_up_body),
        ] {
            if !body.contains("{code}") {
                return Err(SmtpConfigError::Template(name, "must contain {code}"));
            }
        }
        Ok(())
    }
}

/// `template` with each `{code}` and `{minutes}` replaced, in one pass, so a
/// replacement is never itself scanned for placeholders.
pub fn render(template: &str, code: &str, minutes: i64) -> String {
    let mut out = String::with_capacity(template.len() + code.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        if let Some(after) = tail.strip_prefix("{code}") {
            out.push_str(code);
            rest = after;
        } else if let Some(after) = tail.strip_prefix("{minutes}") {
            out.push_str(&minutes.to_string());
            rest = after;
        } else {
            out.push('{');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Everything the sender needs; the app builds it from its settings.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Host name or IP address of the SMTP server; also the name its
    /// certificate must carry.
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpCredentials>,
    /// The From mailbox, such as `Latch <no-reply@example.com>`.
    pub from: String,
    /// PEM certificates trusted as roots besides Mozilla's, for a private relay.
    pub extra_root_certificates_pem: Option<Vec<u8>>,
    /// The most one send may take, connection and TLS included.
    pub timeout: Duration,
    pub templates: EmailTemplates,
}

/// A configuration the sender refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpConfigError {
    #[error("the SMTP host is empty")]
    EmptyHost,
    #[error("the SMTP port must not be 0")]
    ZeroPort,
    #[error("the timeout must be longer than zero")]
    ZeroTimeout,
    #[error("the from address {0:?} is not a mailbox like \"Latch <no-reply@example.com>\"")]
    From(String),
    #[error(
        "AUTH over a connection without TLS is allowed only to a loopback host, not {0:?}: use starttls or tls"
    )]
    AuthWithoutTls(String),
    #[error("the extra CA certificates: {0}")]
    Certificates(String),
    #[error("template {0} {1}")]
    Template(&'static str, &'static str),
}

/// Emails one-time codes through an SMTP server.
pub struct SmtpCodeSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    templates: EmailTemplates,
    timeout: Duration,
}

impl SmtpCodeSender {
    /// Checks the configuration and prepares the transport; connects only
    /// when a code is sent.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpConfigError> {
        if config.host.trim().is_empty() {
            return Err(SmtpConfigError::EmptyHost);
        }
        if config.port == 0 {
            return Err(SmtpConfigError::ZeroPort);
        }
        if config.timeout.is_zero() {
            return Err(SmtpConfigError::ZeroTimeout);
        }
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|_| SmtpConfigError::From(config.from.clone()))?;
        if config.credentials.is_some()
            && config.security == SmtpSecurity::Plain
            && !is_loopback_host(&config.host)
        {
            return Err(SmtpConfigError::AuthWithoutTls(config.host));
        }
        config.templates.validate()?;

        let tls = match config.security {
            SmtpSecurity::Plain => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(tls_parameters(&config)?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_parameters(&config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(c) = config.credentials {
            builder = builder.credentials(Credentials::new(c.username, c.password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            templates: config.templates,
            timeout: config.timeout,
        })
    }

    fn message(&self, to: Address, message: &CodeMessage) -> Result<Message, SendError> {
        let (subject, body) = match message.purpose {
            CodePurpose::SignIn => (
                &self.templates.sign_in_subject,
                &self.templates.sign_in_body,
            ),
            CodePurpose::ResetPassword => (
                &self.templates.reset_password_subject,
                &self.templates.reset_password_body,
            ),
            CodePurpose::SignUp => (
                &self.templates.sign_up_subject,
                &self.templates.sign_up_body,
            ),
            CodePurpose::SignUpAttemptNotice => (
                &self.templates.sign_up_notice_subject,
                &self.templates.sign_up_notice_body,
            ),
        };
        let minutes = message.expires_in_minutes;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(render(subject, &message.code, minutes))
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(render(body, &message.code, minutes))
            .map_err(|e| SendError(format!("smtp: building the message: {e}")))
    }
}

/// TLS towards `config.host`: Mozilla's roots plus the extra certificates.
fn tls_parameters(config: &SmtpConfig) -> Result<TlsParameters, SmtpConfigError> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(pem) = &config.extra_root_certificates_pem {
        // lettre skips what is not a certificate, so an empty or wrong file
        // would otherwise pass silently.
        if !String::from_utf8_lossy(pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(SmtpConfigError::Certificates(
                "no PEM certificate found".to_owned(),
            ));
        }
        let certificate =
            Certificate::from_pem(pem).map_err(|e| SmtpConfigError::Certificates(e.to_string()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| SmtpConfigError::Certificates(e.to_string()))
}

/// A log-safe account of a failed send: reply codes and lettre's own error
/// kinds, never the server's reply text (which may quote the recipient).
fn describe(error: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = error.status() {
        let kind = if error.is_permanent() {
            "permanently"
        } else {
            "for now"
        };
        format!("smtp: the server refused {kind} with reply code {code}")
    } else if error.is_response() {
        "smtp: the server sent a reply that is not SMTP".to_owned()
    } else {
        // Connection, network, TLS and client errors: lettre's text and the
        // I/O or TLS cause, none of which carries message data.
        format!("smtp: {error}")
    }
}

#[async_trait]
impl CodeSender for SmtpCodeSender {
    async fn send(&self, message: &CodeMessage) -> Result<(), SendError> {
        let CodeDestination::Email(to) = &message.destination else {
            return Err(SendError("smtp delivers email only".to_owned()));
        };
        // Parsing as an address (not a mailbox with a display name) leaves no
        // room for line breaks or extra headers.
        let to: Address = to
            .parse()
            .map_err(|_| SendError("smtp: the destination is not an email address".to_owned()))?;
        let email = self.message(to, message)?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(SendError(describe(&e))),
            Err(_) => Err(SendError(format!(
                "smtp: no answer within {} s",
                self.timeout.as_secs_f32()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn config() -> SmtpConfig {
        SmtpConfig {
            host: "smtp.example.com".to_owned(),
            port: 587,
            security: SmtpSecurity::StartTls,
            credentials: None,
            from: "Latch <no-reply@example.com>".to_owned(),
            extra_root_certificates_pem: None,
            timeout: Duration::from_secs(10),
            templates: EmailTemplates::default(),
        }
    }

    fn error(config: SmtpConfig) -> SmtpConfigError {
        match SmtpCodeSender::new(config) {
            Ok(_) => panic!("the configuration was accepted"),
            Err(e) => e,
        }
    }

    #[test]
    fn placeholders_are_replaced_once_each_and_other_braces_stay() {
        assert_eq!(
            render("{code} / {minutes} min / {code}", "123456", 10),
            "123456 / 10 min / 123456"
        );
        assert_eq!(render("{x} {code", "1", 2), "{x} {code");
        // A replacement is not scanned again.
        assert_eq!(render("{code}", "{minutes}", 7), "{minutes}");
        assert_eq!(render("{{code}}", "9", 1), "{9}");
    }

    #[test]
    fn default_templates_are_valid_and_show_the_code_and_lifetime() {
        let t = EmailTemplates::default();
        t.validate().unwrap();
        for template in [&t.sign_in_body, &t.reset_password_body] {
            let text = render(template, "424242", 10);
            assert!(text.contains("424242") && text.contains("10 minutes"));
        }
    }

    #[test]
    fn a_body_without_the_code_or_a_subject_with_a_line_break_is_refused() {
        let mut c = config();
        c.templates.reset_password_body = "Hello".to_owned();
        assert_eq!(
            error(c),
            SmtpConfigError::Template("reset_password_body", "must contain {code}")
        );
        let mut c = config();
        c.templates.sign_in_subject = "Code\r\nBcc: x@example.com".to_owned();
        assert_eq!(
            error(c),
            SmtpConfigError::Template("sign_in_subject", "must be one line")
        );
    }

    #[test]
    fn auth_without_tls_is_refused_unless_the_host_is_loopback() {
        let credentials = Some(SmtpCredentials {
            username: "latch".to_owned(),
            password: "hunter2".to_owned(),
        });
        let mut c = config();
        c.security = SmtpSecurity::Plain;
        c.credentials = credentials.clone();
        assert!(matches!(error(c), SmtpConfigError::AuthWithoutTls(_)));
        let mut c = config();
        c.security = SmtpSecurity::Plain;
        c.host = "127.0.0.1".to_owned();
        c.credentials = credentials;
        assert!(SmtpCodeSender::new(c).is_ok());
    }

    #[test]
    fn bad_hosts_ports_timeouts_senders_and_certificates_are_refused() {
        let mut c = config();
        c.host = " ".to_owned();
        assert_eq!(error(c), SmtpConfigError::EmptyHost);
        let mut c = config();
        c.port = 0;
        assert_eq!(error(c), SmtpConfigError::ZeroPort);
        let mut c = config();
        c.timeout = Duration::ZERO;
        assert_eq!(error(c), SmtpConfigError::ZeroTimeout);
        for from in ["", "not an address", "a@example.com\r\nBcc: b@example.com"] {
            let mut c = config();
            c.from = from.to_owned();
            assert!(matches!(error(c), SmtpConfigError::From(_)), "{from:?}");
        }
        let mut c = config();
        c.extra_root_certificates_pem = Some(b"just text".to_vec());
        assert!(matches!(error(c), SmtpConfigError::Certificates(_)));
        let mut c = config();
        c.extra_root_certificates_pem =
            Some(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec());
        assert!(matches!(error(c), SmtpConfigError::Certificates(_)));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let c = SmtpCredentials {
            username: "latch".to_owned(),
            password: "hunter2".to_owned(),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("latch") && !shown.contains("hunter2"));
    }

    #[test]
    fn security_names() {
        assert_eq!(SmtpSecurity::parse("plain"), Some(SmtpSecurity::Plain));
        assert_eq!(
            SmtpSecurity::parse("starttls"),
            Some(SmtpSecurity::StartTls)
        );
        assert_eq!(SmtpSecurity::parse("tls"), Some(SmtpSecurity::Tls));
        assert_eq!(SmtpSecurity::parse("ssl"), None);
    }
}
