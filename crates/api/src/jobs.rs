//! Background jobs the server runs beside its requests: housekeeping on an
//! interval, and the outbox's worker, for as long as it serves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use latch_core::service::{
    Audit, Deliveries, Instance, Maintenance, SecretKeys, Sessions, Webhooks,
};

/// How often stale sign-ins and idle clients are removed.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

/// How often the outbox is looked at when nothing was queued here: for
/// retries, deliveries queued by a replica that stopped, and leases that
/// ran out.
pub const DELIVERY_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The outbox's worker: delivers what is due at once, then whenever this
/// process queues something or every `poll`, until `stop` is notified. A
/// round under way when it is finishes first, so that every attempt it made
/// is recorded (a send whose outcome went unrecorded would wait out its
/// lease before anyone tried again). Finished deliveries past their keeping
/// time are removed every [`PURGE_INTERVAL`].
pub async fn deliver(deliveries: Deliveries, poll: Duration, stop: Arc<Notify>) {
    let mut purged_at: Option<tokio::time::Instant> = None;
    loop {
        deliver_once(&deliveries).await;
        if purged_at.is_none_or(|at| at.elapsed() >= PURGE_INTERVAL) {
            purged_at = Some(tokio::time::Instant::now());
            match deliveries.purge_finished().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deliveries = n, "finished deliveries removed"),
                Err(err) => tracing::warn!(error = %err, "removing finished deliveries failed"),
            }
        }
        tokio::select! {
            () = deliveries.woken() => {}
            () = tokio::time::sleep(poll) => {}
            () = stop.notified() => return,
        }
    }
}

/// One round of [`deliver`]: every due delivery is tried once. Each failed
/// attempt is logged by the service; a failed round is logged here and the
/// next one tries again.
pub async fn deliver_once(deliveries: &Deliveries) {
    match deliveries.deliver_due().await {
        Ok(round) if round.dead > 0 => {
            tracing::warn!(
                delivered = round.delivered,
                retrying = round.retrying,
                dead = round.dead,
                "deliveries given up on"
            )
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "delivery round failed"),
    }
}

/// The webhook worker: sends the messages that are due at once, then
/// whenever this process stores an event or every `poll` (for retries, and
/// events other replicas stored), until `stop` is notified, finishing the
/// round under way so that every attempt it made is recorded. Events past
/// their keeping time are removed every [`PURGE_INTERVAL`].
pub async fn send_webhooks(webhooks: Webhooks, poll: Duration, stop: Arc<Notify>) {
    let mut purged_at: Option<tokio::time::Instant> = None;
    loop {
        send_webhooks_once(&webhooks).await;
        if purged_at.is_none_or(|at| at.elapsed() >= PURGE_INTERVAL) {
            purged_at = Some(tokio::time::Instant::now());
            match webhooks.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(events = n, "old events removed"),
                Err(err) => tracing::warn!(error = %err, "removing old events failed"),
            }
        }
        tokio::select! {
            () = webhooks.woken() => {}
            () = tokio::time::sleep(poll) => {}
            () = stop.notified() => return,
        }
    }
}

/// One round of [`send_webhooks`]. Each failed attempt is logged by the
/// service; a failed round is logged here and the next one tries again.
pub async fn send_webhooks_once(webhooks: &Webhooks) {
    match webhooks.deliver_due().await {
        Ok(round) if round.failed > 0 => tracing::warn!(
            delivered = round.delivered,
            retrying = round.retrying,
            failed = round.failed,
            "webhook messages given up on"
        ),
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "webhook round failed"),
    }
}

/// Removes stale sign-ins and idle clients now and then every `every`; never
/// returns, so its task is aborted when serving stops.
pub async fn purge_stale(maintenance: Maintenance, every: Duration) {
    run_every(every, || purge_once(&maintenance)).await
}

/// The audit writer: writes queued entries as soon as one is queued (all
/// queued by then in one transaction), until `stop` is notified, then
/// writes what is left.
pub async fn write_audit(audit: Audit, stop: Arc<Notify>) {
    loop {
        tokio::select! {
            () = audit.woken() => audit.write_queued().await,
            () = stop.notified() => break,
        }
    }
    audit.write_queued().await;
}

/// Removes audit entries past their keeping time now and then every
/// `every`; never returns.
pub async fn purge_audit(audit: Audit, every: Duration) {
    run_every(every, || async {
        match audit.purge().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "old audit entries removed"),
            Err(err) => tracing::warn!(error = %err, "removing old audit entries failed"),
        }
    })
    .await
}

/// How often the gauge of sessions active now is read.
pub const ACTIVE_SESSIONS_INTERVAL: Duration = Duration::from_secs(30);

/// Reads how many sessions are active now into its gauge, now and then
/// every `every`; never returns.
pub async fn count_active_sessions(sessions: Sessions, every: Duration) {
    run_every(every, || async {
        if let Err(err) = sessions.count_active().await {
            tracing::warn!(error = %err, "counting the active sessions failed");
        }
    })
    .await
}

/// Reloads the runtime settings whenever the store's generation moved, and
/// reads the secret keys again (another replica may have rotated them),
/// every `every`; never returns. A failed poll is logged and what is in
/// force stays until the next one succeeds.
pub async fn reload_settings(instance: Instance, keys: SecretKeys, every: Duration) {
    run_every(every, || async {
        match instance.refresh().await {
            Ok(false) => {}
            Ok(true) => tracing::info!(version = instance.view().version, "settings reloaded"),
            Err(err) => tracing::warn!(error = %err, "reading the settings failed"),
        }
        if let Err(err) = keys.refresh().await {
            tracing::warn!(error = %err, "reading the secret keys failed");
        }
    })
    .await
}

/// One round of [`purge_stale`]. A failed round is logged and the next one
/// tries again.
pub async fn purge_once(maintenance: &Maintenance) {
    match maintenance.purge_stale().await {
        Ok((0, 0)) => {}
        Ok((sign_ins, clients)) => {
            tracing::info!(sign_ins, clients, "stale sign-ins and idle clients removed")
        }
        Err(err) => tracing::warn!(error = %err, "housekeeping failed"),
    }
}

/// Runs `job` at once and then every `every`, one round at a time (a slow
/// round delays the next rather than overlapping it); never returns.
pub async fn run_every<F, Fut>(every: Duration, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        job().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A job counting its rounds, run every `every`.
    fn counting(every: Duration) -> (Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
        let rounds = Arc::new(AtomicUsize::new(0));
        let counted = rounds.clone();
        let task = tokio::spawn(run_every(every, move || {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }));
        (rounds, task)
    }

    /// Waits (at most 5 s) until `rounds` reaches `n`.
    async fn reaches(rounds: &AtomicUsize, n: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while rounds.load(Ordering::SeqCst) < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    #[tokio::test]
    async fn the_first_round_runs_at_once() {
        let (rounds, task) = counting(Duration::from_secs(3600));
        assert!(reaches(&rounds, 1).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(rounds.load(Ordering::SeqCst), 1, "the next waits an hour");
        task.abort();
    }

    #[tokio::test]
    async fn rounds_repeat_on_the_interval_until_the_task_is_aborted() {
        let (rounds, task) = counting(Duration::from_millis(10));
        assert!(reaches(&rounds, 3).await);
        task.abort();
        assert!(task.await.is_err_and(|e| e.is_cancelled()));
        let stopped = rounds.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            stopped,
            "no round after abort"
        );
    }
}
