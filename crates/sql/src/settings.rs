//! The stored forms of settings versions and list entries both adapters
//! share.

use latch_core::error::StoreError;
use latch_core::model::{AccessList, EntryKind, ListEntry, Timestamp};
use latch_core::ports::SettingsVersion;

use crate::rows::Columns;

/// The `settings_versions` columns, in [`version`]'s order.
pub const VERSION_COLUMNS: &str = "version, document, changed_at, changed_by";

/// The `access_list` columns, in [`list_entry`]'s order.
pub const ENTRY_COLUMNS: &str = "id, list, identifier, kind, created_at";

/// Moves the generation replicas poll: run in the transaction of every
/// change of a settings version or a list entry.
pub const BUMP_GENERATION: &str =
    "UPDATE settings_generation SET generation = generation + 1 WHERE id = 1";

/// A version number as the `version` column stores it.
pub fn version_column(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version).map_err(|_| StoreError::Other(format!("settings version {version}")))
}

/// The `document` column.
pub fn document_column(document: &serde_json::Value) -> String {
    document.to_string()
}

/// The version in a row of [`VERSION_COLUMNS`].
pub fn version<C: Columns>(row: &C) -> Result<SettingsVersion, C::Error> {
    let number = row.integer(0)?;
    let version = u64::try_from(number)
        .map_err(|_| row.invalid(0, StoreError::Other(format!("settings version {number}"))))?;
    let text = row.text(1)?;
    let document = serde_json::from_str(&text)
        .map_err(|e| row.invalid(1, StoreError::Other(format!("settings document: {e}"))))?;
    Ok(SettingsVersion {
        version,
        document,
        changed_at: Timestamp(row.integer(2)?),
        changed_by: row.text(3)?,
    })
}

/// The entry in a row of [`ENTRY_COLUMNS`].
pub fn list_entry<C: Columns>(row: &C) -> Result<ListEntry, C::Error> {
    let list = row.text(1)?;
    let list = AccessList::parse(&list)
        .ok_or_else(|| row.invalid(1, StoreError::Other(format!("unknown list {list:?}"))))?;
    let kind = row.text(3)?;
    let kind = EntryKind::parse(&kind)
        .ok_or_else(|| row.invalid(3, StoreError::Other(format!("unknown entry kind {kind:?}"))))?;
    Ok(ListEntry {
        id: row.text(0)?,
        list,
        identifier: row.text(2)?,
        kind,
        created_at: Timestamp(row.integer(4)?),
    })
}
