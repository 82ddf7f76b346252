//! Which unique key's violation means which [`StoreError`].
//!
//! One table of keys; SQLite names a violated key by its columns
//! (`UNIQUE constraint failed: table.a, table.b`) and PostgreSQL by its
//! constraint name, which the migrations spell `<table>_<columns>_unique`.
//! Unique keys not listed (ids, token hashes) are not the caller's doing and
//! stay [`StoreError::Other`].

use latch_core::error::StoreError;
use latch_core::model::IdentifierKind;

/// A unique key a caller can run into, and what it means.
struct UniqueKey {
    table: &'static str,
    columns: &'static [&'static str],
    taken: Taken,
}

#[derive(Clone, Copy)]
enum Taken {
    Identifier(IdentifierKind),
    ExternalAccount,
}

const KEYS: [UniqueKey; 4] = [
    UniqueKey {
        table: "email_addresses",
        columns: &["value"],
        taken: Taken::Identifier(IdentifierKind::EmailAddress),
    },
    UniqueKey {
        table: "phone_numbers",
        columns: &["value"],
        taken: Taken::Identifier(IdentifierKind::PhoneNumber),
    },
    UniqueKey {
        table: "users",
        columns: &["username"],
        taken: Taken::Identifier(IdentifierKind::Username),
    },
    // An external account another user linked first.
    UniqueKey {
        table: "external_accounts",
        columns: &["provider", "subject"],
        taken: Taken::ExternalAccount,
    },
];

impl UniqueKey {
    fn error(&self) -> StoreError {
        match self.taken {
            Taken::Identifier(kind) => StoreError::Duplicate(kind),
            Taken::ExternalAccount => StoreError::ExternalAccountTaken,
        }
    }

    /// `table.a, table.b`, as SQLite lists a key's columns.
    fn qualified_columns(&self) -> String {
        self.columns
            .iter()
            .map(|c| format!("{}.{c}", self.table))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `table_a_b_unique`, as the PostgreSQL migrations name the constraint.
    fn constraint(&self) -> String {
        format!("{}_{}_unique", self.table, self.columns.join("_"))
    }
}

/// The error a violation of the key on `columns` (`table.a, table.b`) means.
pub fn by_columns(columns: &str) -> Option<StoreError> {
    KEYS.iter()
        .find(|key| key.qualified_columns() == columns)
        .map(UniqueKey::error)
}

/// The error a violation of the constraint named `name` means.
pub fn by_constraint(name: &str) -> Option<StoreError> {
    KEYS.iter()
        .find(|key| key.constraint() == name)
        .map(UniqueKey::error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_name_the_identifier() {
        assert_eq!(
            by_columns("email_addresses.value"),
            Some(StoreError::Duplicate(IdentifierKind::EmailAddress))
        );
        assert_eq!(
            by_columns("phone_numbers.value"),
            Some(StoreError::Duplicate(IdentifierKind::PhoneNumber))
        );
        assert_eq!(
            by_columns("users.username"),
            Some(StoreError::Duplicate(IdentifierKind::Username))
        );
        assert_eq!(
            by_columns("external_accounts.provider, external_accounts.subject"),
            Some(StoreError::ExternalAccountTaken)
        );
        assert_eq!(by_columns("clients.token_hash"), None);
        assert_eq!(by_columns("users.id"), None);
    }

    #[test]
    fn constraints_name_the_identifier() {
        assert_eq!(
            by_constraint("email_addresses_value_unique"),
            Some(StoreError::Duplicate(IdentifierKind::EmailAddress))
        );
        assert_eq!(
            by_constraint("phone_numbers_value_unique"),
            Some(StoreError::Duplicate(IdentifierKind::PhoneNumber))
        );
        assert_eq!(
            by_constraint("users_username_unique"),
            Some(StoreError::Duplicate(IdentifierKind::Username))
        );
        assert_eq!(
            by_constraint("external_accounts_provider_subject_unique"),
            Some(StoreError::ExternalAccountTaken)
        );
        assert_eq!(by_constraint("clients_token_hash_key"), None);
        assert_eq!(by_constraint("users_pkey"), None);
    }
}
