//! The stored forms of webhook records both adapters share: the column
//! lists, and reading endpoints, messages and attempts from a row's
//! [`Columns`].

use latch_core::error::StoreError;
use latch_core::model::{
    EventType, MessageStatus, Timestamp, WebhookAttempt, WebhookEndpoint, WebhookMessage,
};

use crate::rows::Columns;

/// The `webhook_endpoints` columns, in [`endpoint`]'s order.
pub const ENDPOINT_COLUMNS: &str = "id, url, description, secret, event_types, disabled, \
     disabled_reason, failing_since, created_at, updated_at";

/// A message's columns (`m` the message, `ev` its event), in [`message`]'s
/// order.
pub const MESSAGE_COLUMNS: &str = "m.event_id, ev.type, m.endpoint_id, m.status, m.attempts, \
     m.due_at, m.last_status_code, m.last_error, m.created_at, m.updated_at";

/// The `webhook_attempts` columns, in [`attempt`]'s order.
pub const ATTEMPT_COLUMNS: &str = "id, event_id, endpoint_id, status_code, error, duration_ms, at";

/// The `event_types` column: `,a,b,` (so a type is found by looking for
/// `,type,`), or empty for every type.
pub fn event_types_column(types: &[EventType]) -> String {
    if types.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for t in types {
        out.push_str(t.as_str());
        out.push(',');
    }
    out
}

/// The types an `event_types` column names; unknown names (from a later
/// version) are skipped.
pub fn parse_event_types(column: &str) -> Vec<EventType> {
    column
        .split(',')
        .filter(|name| !name.is_empty())
        .filter_map(EventType::parse)
        .collect()
}

/// The endpoint in a row of [`ENDPOINT_COLUMNS`].
pub fn endpoint<C: Columns>(row: &C) -> Result<WebhookEndpoint, C::Error> {
    Ok(WebhookEndpoint {
        id: row.text(0)?,
        url: row.text(1)?,
        description: row.text(2)?,
        sealed_secret: row.text(3)?,
        event_types: parse_event_types(&row.text(4)?),
        disabled: row.flag(5)?,
        disabled_reason: row.optional_text(6)?,
        failing_since: row.optional_integer(7)?.map(Timestamp),
        created_at: Timestamp(row.integer(8)?),
        updated_at: Timestamp(row.integer(9)?),
    })
}

/// The message in a row of [`MESSAGE_COLUMNS`].
pub fn message<C: Columns>(row: &C) -> Result<WebhookMessage, C::Error> {
    let status = row.text(3)?;
    let status = MessageStatus::parse(&status).ok_or_else(|| {
        row.invalid(
            3,
            StoreError::Other(format!("unknown message status {status:?}")),
        )
    })?;
    Ok(WebhookMessage {
        event_id: row.text(0)?,
        event_type: row.text(1)?,
        endpoint_id: row.text(2)?,
        status,
        attempts: u32::try_from(row.integer(4)?).unwrap_or(u32::MAX),
        due_at: Timestamp(row.integer(5)?),
        last_status_code: status_code(row, 6)?,
        last_error: row.optional_text(7)?,
        created_at: Timestamp(row.integer(8)?),
        updated_at: Timestamp(row.integer(9)?),
    })
}

/// The attempt in a row of [`ATTEMPT_COLUMNS`].
pub fn attempt<C: Columns>(row: &C) -> Result<WebhookAttempt, C::Error> {
    Ok(WebhookAttempt {
        id: row.text(0)?,
        event_id: row.text(1)?,
        endpoint_id: row.text(2)?,
        status_code: status_code(row, 3)?,
        error: row.optional_text(4)?,
        duration_ms: row.integer(5)?,
        at: Timestamp(row.integer(6)?),
    })
}

/// A stored HTTP status; one that is not a `u16` was not written by Latch.
fn status_code<C: Columns>(row: &C, index: usize) -> Result<Option<u16>, C::Error> {
    row.optional_integer(index)?
        .map(|code| {
            u16::try_from(code).map_err(|_| {
                row.invalid(
                    index,
                    StoreError::Other(format!("invalid HTTP status {code}")),
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip() {
        let types = [EventType::UserCreated, EventType::SessionRevoked];
        let column = event_types_column(&types);
        assert_eq!(column, ",user.created,session.revoked,");
        assert_eq!(parse_event_types(&column), types.to_vec());
        assert_eq!(event_types_column(&[]), "");
        assert!(parse_event_types("").is_empty());
    }

    #[test]
    fn column_lists_match_their_readers() {
        assert_eq!(ENDPOINT_COLUMNS.split(", ").count(), 10);
        assert_eq!(MESSAGE_COLUMNS.split(", ").count(), 10);
        assert_eq!(ATTEMPT_COLUMNS.split(", ").count(), 7);
    }
}
