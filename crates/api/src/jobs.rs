//! Background jobs the server runs beside its requests: housekeeping on an
//! interval, for as long as it serves.

use std::time::Duration;

use latch_core::service::Latch;

/// How often stale sign-ins and idle clients are removed.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// Removes stale sign-ins and idle clients now and then every `every`; never
/// returns, so its task is aborted when serving stops. A failed round is
/// logged and the next one tries again.
pub async fn purge_stale(latch: Latch, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        purge_once(&latch).await;
    }
}

/// One round of [`purge_stale`].
pub async fn purge_once(latch: &Latch) {
    match latch.purge_stale().await {
        Ok((0, 0)) => {}
        Ok((sign_ins, clients)) => {
            tracing::info!(sign_ins, clients, "stale sign-ins and idle clients removed")
        }
        Err(err) => tracing::warn!(error = %err, "housekeeping failed"),
    }
}
