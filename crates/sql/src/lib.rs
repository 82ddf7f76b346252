//! `latch-sql`: what the SQLite and PostgreSQL adapters share.
//!
//! Both adapters store the same tables with the same columns; only the SQL
//! dialect (placeholders, JSON and array functions) and the driver differ.
//! What does not depend on either lives here, written once:
//!
//! - the column lists, as macros that expand to string literals so each
//!   adapter can `concat!` them into its own statements ([`user_columns!`],
//!   [`client_columns!`], [`session_columns!`]);
//! - [`rows`]: reading clients, sessions and users from a row's columns
//!   (each adapter implements [`rows::Columns`] for its driver's row once),
//!   and the stored form of user metadata;
//! - [`unique`]: which unique key's violation means which [`StoreError`];
//! - [`transfer`]: rows in transit from one adapter to the other (`latch
//!   copy`): typed values, their conversion and a digest both sides compute.
//!
//! Invariant: depends on `latch-core`, `serde_json` and `sha2` only; no SQL driver,
//! no placeholder syntax, nothing that runs a statement. The adapters depend
//! on this crate, never on each other.
//!
//! [`StoreError`]: latch_core::error::StoreError

#![forbid(unsafe_code)]

pub mod audit;
pub mod rows;
pub mod settings;
pub mod transfer;
pub mod unique;
pub mod webhooks;

/// The `users` columns, in the order the adapters read and write them.
#[macro_export]
macro_rules! user_columns {
    () => {
        "id, username, password_digest, first_name, last_name, external_id, primary_email_address_id, \
         primary_phone_number_id, public_metadata, private_metadata, unsafe_metadata, banned, last_sign_in_at, \
         created_at, updated_at, totp_secret, totp_pending_secret, password_updated_at, mfa_enabled_at, \
         mfa_disabled_at, locked_until, totp_last_step, failed_attempts, attempt_window_ends_at, \
         legal_accepted_at"
    };
}

/// The `clients` columns, in the order the adapters read and write them.
#[macro_export]
macro_rules! client_columns {
    () => {
        "id, token_hash, sign_in_id, last_active_session_id, created_at, updated_at, last_authentication_strategy, \
         sign_up_id"
    };
}

/// The `sessions` columns, in the order the adapters read and write them.
#[macro_export]
macro_rules! session_columns {
    () => {
        "id, client_id, user_id, status, last_active_at, expire_at, first_factor_verified_at, \
         second_factor_verified_at, created_at, updated_at, sign_in_strategy, ip_address, user_agent"
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn column_lists_have_one_name_per_field() {
        assert_eq!(user_columns!().split(", ").count(), 25);
        assert_eq!(client_columns!().split(", ").count(), 8);
        assert_eq!(session_columns!().split(", ").count(), 13);
    }
}
