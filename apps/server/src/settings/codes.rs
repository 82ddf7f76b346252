//! `[codes]`: how one-time codes reach people. Email codes go by the console
//! (the log), HTTP or SMTP; SMS codes by the console or HTTP, since SMTP
//! cannot send SMS. Each sender carries only its own settings.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use latch_http::HttpFormat;
use latch_smtp::{EmailTemplates, SmtpConfigError, SmtpCredentials, SmtpSecurity};

use super::raw::CodesSection;

/// Both routes.
#[derive(Clone)]
pub struct Codes {
    pub email: EmailDelivery,
    pub sms: SmsDelivery,
}

/// How email codes are sent (`codes.sender`).
#[derive(Clone)]
pub enum EmailDelivery {
    Console,
    Http(HttpSender),
    Smtp(Box<SmtpSender>),
}

/// How SMS codes are sent (`codes.sms_sender`, or `codes.sender`).
#[derive(Clone)]
pub enum SmsDelivery {
    Console,
    Http(HttpSender),
}

/// `codes.http_*` and `codes.twilio_*`.
#[derive(Clone)]
pub struct HttpSender {
    pub url: String,
    /// JSON signed with a secret, or Twilio's form with its credentials.
    pub format: HttpFormat,
    pub timeout: Duration,
}

/// `codes.smtp_*`.
#[derive(Clone)]
pub struct SmtpSender {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub credentials: Option<SmtpCredentials>,
    /// The From mailbox; the adapter parses it.
    pub from: String,
    /// A PEM file of extra CA certificates, read when the sender is built.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    pub templates: EmailTemplates,
}

/// The senders `codes.sender` and `codes.sms_sender` may name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Console,
    Http,
    Smtp,
}

impl TryFrom<&CodesSection> for Codes {
    type Error = anyhow::Error;

    fn try_from(c: &CodesSection) -> anyhow::Result<Self> {
        let sender = match c.sender.as_str() {
            "console" => Name::Console,
            "http" => Name::Http,
            "smtp" => Name::Smtp,
            other => bail!("codes.sender: {other:?} must be \"console\", \"http\" or \"smtp\""),
        };
        let sms = match c.sms_sender.as_str() {
            "" => sender,
            "console" => Name::Console,
            "http" => Name::Http,
            other => bail!(
                "codes.sms_sender: {other:?} must be \"console\" or \"http\", or empty for the same as codes.sender"
            ),
        };
        let sms = match sms {
            Name::Console => SmsDelivery::Console,
            Name::Http => SmsDelivery::Http(HttpSender::try_from(c)?),
            Name::Smtp => bail!(
                "codes.sms_sender must be \"console\" or \"http\" when codes.sender is \"smtp\": SMTP cannot send SMS"
            ),
        };
        let email = match sender {
            Name::Console => EmailDelivery::Console,
            Name::Http => EmailDelivery::Http(HttpSender::try_from(c)?),
            Name::Smtp => EmailDelivery::Smtp(Box::new(SmtpSender::try_from(c)?)),
        };
        Ok(Self { email, sms })
    }
}

impl TryFrom<&CodesSection> for HttpSender {
    type Error = anyhow::Error;

    fn try_from(c: &CodesSection) -> anyhow::Result<Self> {
        if !(c.http_url.starts_with("http://") || c.http_url.starts_with("https://")) {
            bail!("codes.http_url must be an http(s) URL when the \"http\" sender is used");
        }
        let format = match c.http_format.as_str() {
            "json" if c.http_secret.len() >= 16 => HttpFormat::Json {
                secret: c.http_secret.clone(),
            },
            "json" => {
                bail!("codes.http_secret must be at least 16 characters (it signs every message)")
            }
            "twilio"
                if !(c.twilio_account_sid.is_empty()
                    || c.twilio_auth_token.is_empty()
                    || c.twilio_from.is_empty()) =>
            {
                HttpFormat::Twilio {
                    account_sid: c.twilio_account_sid.clone(),
                    auth_token: c.twilio_auth_token.clone(),
                    from: c.twilio_from.clone(),
                }
            }
            "twilio" => bail!(
                "codes.twilio_account_sid, codes.twilio_auth_token and codes.twilio_from are needed for the twilio format"
            ),
            other => bail!("codes.http_format: {other:?} must be \"json\" or \"twilio\""),
        };
        if !(1..=60).contains(&c.http_timeout_secs) {
            bail!("codes.http_timeout_secs must be between 1 and 60");
        }
        Ok(Self {
            url: c.http_url.clone(),
            format,
            timeout: Duration::from_secs(c.http_timeout_secs),
        })
    }
}

impl TryFrom<&CodesSection> for SmtpSender {
    type Error = anyhow::Error;

    fn try_from(c: &CodesSection) -> anyhow::Result<Self> {
        if c.smtp_host.trim().is_empty() {
            bail!("codes.smtp_host must be set when codes.sender is \"smtp\"");
        }
        if c.smtp_port == 0 {
            bail!("codes.smtp_port must be between 1 and 65535");
        }
        let Some(security) = SmtpSecurity::parse(&c.smtp_security) else {
            bail!(
                "codes.smtp_security: {:?} must be \"starttls\", \"tls\" or \"plain\"",
                c.smtp_security
            );
        };
        if c.smtp_username.is_empty() != c.smtp_password.is_empty() {
            bail!("codes.smtp_username and codes.smtp_password must both be set, or both empty");
        }
        if !c.smtp_username.is_empty()
            && security == SmtpSecurity::Plain
            && !latch_core::model::is_loopback_host(&c.smtp_host)
        {
            bail!(
                "codes.smtp_security: \"plain\" would send the SMTP password unencrypted to {:?}; use \"starttls\" or \"tls\" (plain AUTH is allowed only to a loopback host)",
                c.smtp_host
            );
        }
        if c.smtp_from.trim().is_empty() {
            bail!("codes.smtp_from must be set when codes.sender is \"smtp\"");
        }
        if !(1..=120).contains(&c.smtp_timeout_secs) {
            bail!("codes.smtp_timeout_secs must be between 1 and 120");
        }
        let templates = c.smtp_templates();
        match templates.validate() {
            Ok(()) => {}
            Err(SmtpConfigError::Template(name, problem)) => bail!("codes.smtp_{name} {problem}"),
            Err(other) => bail!("codes: {other}"),
        }
        Ok(Self {
            host: c.smtp_host.clone(),
            port: c.smtp_port,
            security,
            credentials: (!c.smtp_username.is_empty()).then(|| SmtpCredentials {
                username: c.smtp_username.clone(),
                password: c.smtp_password.clone(),
            }),
            from: c.smtp_from.clone(),
            ca_file: (!c.smtp_ca_file.is_empty()).then(|| PathBuf::from(&c.smtp_ca_file)),
            timeout: Duration::from_secs(c.smtp_timeout_secs),
            templates,
        })
    }
}
