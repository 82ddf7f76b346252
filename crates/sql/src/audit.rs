//! The stored forms of audit entries both adapters share.

use std::collections::BTreeMap;

use latch_core::error::StoreError;
use latch_core::model::{Actor, AuditAction, AuditEntry, Timestamp};

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

/// An entry from its columns, in the order the adapters select them: id,
/// at, action, actor, user_id, client_ip, user_agent, detail.
#[allow(clippy::too_many_arguments)]
pub fn entry(
    id: String,
    at: i64,
    action: &str,
    actor: &str,
    user_id: Option<String>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    detail: &str,
) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id,
        at: Timestamp(at),
        action: AuditAction::parse(action)
            .ok_or_else(|| StoreError::Other(format!("unknown audit action {action:?}")))?,
        actor: Actor::parse(actor)
            .ok_or_else(|| StoreError::Other(format!("unknown audit actor {actor:?}")))?,
        user_id,
        client_ip,
        user_agent,
        detail: serde_json::from_str(detail)
            .map_err(|e| StoreError::Other(format!("audit detail: {e}")))?,
    })
}

/// The columns the adapters select, in [`entry`]'s order.
pub const AUDIT_COLUMNS: &str = "id, at, action, actor, user_id, client_ip, user_agent, detail";
