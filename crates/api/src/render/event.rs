//! Events as Clerk's webhooks carry them: the envelope (`object: "event"`,
//! `type`, `timestamp`, `instance_id`, `event_attributes.http_request`)
//! around the resource as the Backend API shows it.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use latch_core::model::{EventType, InstanceSettings, RequestContext, Timestamp};
use latch_core::ports::{CodeDestination, CodeMessage, CodePurpose, EventFormat, EventSubject};

use super::session::BackendSession;
use super::user::UserJson;
use super::{Audience, Renderer, to_value};
use crate::geoip::GeoIp;

/// Writes events for one instance.
pub struct ClerkEvents {
    issuer: String,
    instance_id: String,
    geoip: Option<Arc<GeoIp>>,
}

impl ClerkEvents {
    /// `issuer` is the Frontend API's URL (default avatars come from it).
    pub fn new(issuer: String, instance_id: String, geoip: Option<Arc<GeoIp>>) -> Self {
        Self {
            issuer,
            instance_id,
            geoip,
        }
    }
}

#[derive(Serialize)]
struct HttpRequest<'a> {
    client_ip: &'a str,
    user_agent: &'a str,
}

#[derive(Serialize)]
struct Attributes<'a> {
    http_request: HttpRequest<'a>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    data: Value,
    event_attributes: Attributes<'a>,
    instance_id: &'a str,
    object: &'static str,
    timestamp: i64,
    #[serde(rename = "type")]
    event_type: &'static str,
}

/// Clerk's `SessionWebhookEventJSON`: the Backend API's session with its user.
#[derive(Serialize)]
struct SessionWithUser<'a> {
    #[serde(flatten)]
    session: BackendSession<'a>,
    user: Option<UserJson<'a>>,
}

impl EventFormat for ClerkEvents {
    fn body(
        &self,
        event_type: EventType,
        subject: EventSubject<'_>,
        context: &RequestContext,
        settings: &Arc<InstanceSettings>,
        at: Timestamp,
    ) -> String {
        let r = Renderer::of_parts(&self.issuer, self.geoip.as_deref(), settings.clone());
        let data = match subject {
            EventSubject::User(user) => r.user(user, Audience::Backend, at),
            EventSubject::DeletedUser { id, external_id } => {
                let mut data = json!({ "deleted": true, "id": id.as_str(), "object": "user" });
                if let Some(external_id) = external_id {
                    data["external_id"] = json!(external_id);
                }
                data
            }
            EventSubject::Session { session, user } => to_value(SessionWithUser {
                session: BackendSession::of_session(
                    session,
                    session.status_at(at),
                    self.geoip.as_deref(),
                ),
                user: user.map(|u| UserJson::of(&r, u, Audience::Backend, at)),
            }),
            EventSubject::Message {
                id,
                message,
                delivered_by_latch,
            } => code_message(id, message, delivered_by_latch, settings),
        };
        let envelope = Envelope {
            data,
            event_attributes: Attributes {
                http_request: HttpRequest {
                    client_ip: context.client_ip.as_deref().unwrap_or(""),
                    user_agent: context.user_agent.as_deref().unwrap_or(""),
                },
            },
            instance_id: &self.instance_id,
            object: "event",
            timestamp: at.millis(),
            event_type: event_type.as_str(),
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Clerk's `EmailJSON` or `SMSMessageJSON` for a code's message.
fn code_message(
    id: &str,
    message: &CodeMessage,
    delivered_by_latch: bool,
    settings: &InstanceSettings,
) -> Value {
    let (slug, text) = match message.purpose {
        CodePurpose::SignIn => (
            "verification_code",
            format!("{} is your sign-in code.", message.code),
        ),
        CodePurpose::SignUp => (
            "verification_code",
            format!("{} is your verification code.", message.code),
        ),
        CodePurpose::ResetPassword => (
            "reset_password_code",
            format!("{} is your password reset code.", message.code),
        ),
        CodePurpose::SignUpAttemptNotice => (
            "sign_up_attempt_notice",
            "Someone tried to create a new account with this address, which already has one."
                .to_owned(),
        ),
    };
    let app = &settings.display.application_name;
    let data = json!({
        "app": { "name": app },
        "otp_code": message.code,
        "purpose": message.purpose.as_str(),
        "expires_in_minutes": message.expires_in_minutes,
    });
    match &message.destination {
        CodeDestination::Email(address) => json!({
            "object": "email",
            "id": id,
            "slug": slug,
            "from_email_name": "notifications",
            "to_email_address": address,
            "email_address_id": null,
            "user_id": null,
            "subject": text,
            "body": text,
            "body_plain": text,
            "status": "queued",
            "data": data,
            "delivered_by_clerk": delivered_by_latch,
        }),
        CodeDestination::Sms(number) => json!({
            "object": "sms_message",
            "id": id,
            "slug": slug,
            "from_phone_number": "",
            "to_phone_number": number,
            "phone_number_id": null,
            "message": text,
            "status": "queued",
            "data": data,
            "delivered_by_clerk": delivered_by_latch,
        }),
    }
}
