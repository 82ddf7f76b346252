//! The stored forms of audit entries both adapters share.

use std::collections::BTreeMap;

use latch_core::error::StoreError;
use latch_core::model::{Actor, AuditAction, AuditEntry, Timestamp};

use crate::rows::Columns;

/// The `audit_log` columns, in [`entry`]'s order.
pub const AUDIT_COLUMNS: &str = "id, at, action, actor, user_id, client_ip, user_agent, detail";

/// The actions filter as one parameter: `,a,b,` (matched by looking for
/// `,action,`), or empty for every action.
pub fn actions_filter(actions: &[AuditAction]) -> String {
    if actions.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    format!(",{},", names.join(","))
}

/// The `detail` column.
pub fn detail_column(detail: &BTreeMap<String, String>) -> String {
    serde_json::to_string(detail).unwrap_or_else(|_| "{}".to_owned())
}

/// The entry in a row of [`AUDIT_COLUMNS`].
pub fn entry<C: Columns>(row: &C) -> Result<AuditEntry, C::Error> {
    let action = row.text(2)?;
    let action = AuditAction::parse(&action).ok_or_else(|| {
        row.invalid(
            2,
            StoreError::Other(format!("unknown audit action {action:?}")),
        )
    })?;
    let actor = row.text(3)?;
    let actor = Actor::parse(&actor).ok_or_else(|| {
        row.invalid(
            3,
            StoreError::Other(format!("unknown audit actor {actor:?}")),
        )
    })?;
    let detail = serde_json::from_str(&row.text(7)?)
        .map_err(|e| row.invalid(7, StoreError::Other(format!("audit detail: {e}"))))?;
    Ok(AuditEntry {
        id: row.text(0)?,
        at: Timestamp(row.integer(1)?),
        action,
        actor,
        user_id: row.optional_text(4)?,
        client_ip: row.optional_text(5)?,
        user_agent: row.optional_text(6)?,
        detail,
    })
}
