//! What the use cases count, through the `metrics` facade: recorded where
//! it happens, exported by whatever recorder the server installs (none in
//! tests, where every call is a no-op). Names and labels live here, so the
//! whole set reads in one place; every label takes a bounded set of values.

/// One call of a store adapter (`store`: sqlite, postgres, redis) for the
/// port its source module serves (`port`), how long it took, and whether
/// the store failed (unavailable, or another failure). The adapters time their calls; this names them.
pub fn store_call(
    store: &'static str,
    port: &'static str,
    seconds: f64,
    error: Option<&crate::error::StoreError>,
) {
    metrics::histogram!("latch_store_call_seconds", "store" => store, "port" => port)
        .record(seconds);
    // Duplicates, conflicts and missing records are answers, not failures.
    let kind = match error {
        Some(crate::error::StoreError::Unavailable(_)) => "unavailable",
        Some(crate::error::StoreError::Other(_)) => "other",
        _ => return,
    };
    metrics::counter!(
        "latch_store_errors_total",
        "store" => store,
        "port" => port,
        "kind" => kind
    )
    .increment(1);
}

/// The port a store call serves, from the adapter's source file that made
/// it (`crates/sqlite/src/users.rs` is `users`).
pub fn port_of(file: &'static str) -> &'static str {
    let name = file.rsplit(['/', '\\']).next().unwrap_or(file);
    name.strip_suffix(".rs").unwrap_or(name)
}

/// A rate limit refused a request (`limit`: its name in the settings).
pub(crate) fn rate_limited(limit: &str) {
    metrics::counter!("latch_rate_limit_refusals_total", "limit" => limit.to_owned()).increment(1);
}

/// A factor was refused because the account is locked.
pub(crate) fn locked_out() {
    metrics::counter!("latch_lockout_refusals_total").increment(1);
}

/// An account was locked after too many failed attempts.
pub(crate) fn account_locked() {
    metrics::counter!("latch_accounts_locked_total").increment(1);
}

/// One attempt at sending a one-time code (`kind`: email, sms, or unknown
/// for a message that expired or could not be opened) and what became of
/// it: `sent`, `retry` (another attempt is due) or `failed`.
pub(crate) fn code_delivery(kind: &'static str, outcome: &'static str) {
    metrics::counter!("latch_code_deliveries_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
}

/// One webhook request and what became of its message: `delivered`,
/// `retry` or `failed` (no attempt left).
pub(crate) fn webhook_attempt(outcome: &'static str) {
    metrics::counter!("latch_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// The settings document version in force on this replica.
pub(crate) fn settings_version(version: u64) {
    metrics::gauge!("latch_settings_version").set(version as f64);
}

/// Sessions active now, across the instance.
pub(crate) fn active_sessions(count: u64) {
    metrics::gauge!("latch_active_sessions").set(count as f64);
}

/// One turn of the SQLite writer: `writes` run in `transactions` (one
/// unless a failure ended one early), busy for `seconds`. The seconds'
/// sum over time is the writer's occupancy.
pub fn sqlite_writes(writes: usize, transactions: usize, seconds: f64) {
    metrics::histogram!("latch_sqlite_writer_busy_seconds").record(seconds);
    metrics::counter!("latch_sqlite_writes_total").increment(writes as u64);
    metrics::counter!("latch_sqlite_write_transactions_total").increment(transactions as u64);
}
