//! How busy the SQLite writer was during a row, from latch's own `/metrics`
//! (`latch_sqlite_writer_busy_seconds`, `latch_sqlite_writes_total`,
//! `latch_sqlite_write_transactions_total`), read before and after.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper::Method;

use crate::http::Conn;

/// The writer's counters at one moment.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    at: Instant,
    busy_secs: f64,
    writes: f64,
    transactions: f64,
    /// Calls into any store port, reads and writes.
    store_calls: f64,
}

/// What the writer did between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterUse {
    /// The share of the wall time the writer was running a batch.
    pub occupancy: f64,
    pub writes_per_step: f64,
    pub writes_per_transaction: f64,
    /// Store calls (reads and writes, every port) per step.
    pub store_calls_per_step: f64,
}

/// Reads the counters from `GET /metrics`.
pub async fn read(addr: SocketAddr) -> Result<Reading> {
    let mut conn = Conn::open(addr).await?;
    let reply = conn
        .send(Method::GET, "/metrics", &[], Bytes::new())
        .await?;
    reply.expect(200)?;
    let text = std::str::from_utf8(&reply.body).context("/metrics is not UTF-8")?;
    Ok(Reading {
        at: Instant::now(),
        busy_secs: sample(text, "latch_sqlite_writer_busy_seconds_sum"),
        writes: sample(text, "latch_sqlite_writes_total"),
        transactions: sample(text, "latch_sqlite_write_transactions_total"),
        store_calls: sample(text, "latch_store_call_seconds_count"),
    })
}

/// The writer's use from `before` to `after`, `steps` steps having been made.
pub fn between(before: &Reading, after: &Reading, steps: u64) -> WriterUse {
    let secs = after.at.duration_since(before.at).as_secs_f64();
    use_of(
        after.busy_secs - before.busy_secs,
        secs,
        Counts {
            writes: after.writes - before.writes,
            transactions: after.transactions - before.transactions,
            store_calls: after.store_calls - before.store_calls,
        },
        steps,
    )
}

/// What the counters moved by between two readings.
struct Counts {
    writes: f64,
    transactions: f64,
    store_calls: f64,
}

fn use_of(busy: f64, secs: f64, counts: Counts, steps: u64) -> WriterUse {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    WriterUse {
        occupancy: ratio(busy, secs),
        writes_per_step: ratio(counts.writes, steps as f64),
        writes_per_transaction: ratio(counts.writes, counts.transactions),
        store_calls_per_step: ratio(counts.store_calls, steps as f64),
    }
}

/// The median of each figure over `runs`; `None` without runs.
pub fn median(runs: &[WriterUse]) -> Option<WriterUse> {
    let of = |figure: fn(&WriterUse) -> f64| {
        crate::load::median(&runs.iter().map(figure).collect::<Vec<_>>())
    };
    (!runs.is_empty()).then(|| WriterUse {
        occupancy: of(|u| u.occupancy),
        writes_per_step: of(|u| u.writes_per_step),
        writes_per_transaction: of(|u| u.writes_per_transaction),
        store_calls_per_step: of(|u| u.store_calls_per_step),
    })
}

/// The sum of every sample of the metric `name` (any labels) in Prometheus'
/// text format; 0 if there is none.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let rest = match rest.strip_prefix('{') {
                Some(labelled) => &labelled[labelled.find('}')? + 1..],
                None => rest,
            };
            rest.strip_prefix(' ')?.trim().parse::<f64>().ok()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn samples_are_summed_over_labels_and_other_metrics_ignored() {
        let text = "# TYPE latch_sqlite_writes_total counter\n\
                    latch_sqlite_writes_total 120\n\
                    latch_sqlite_writes_total_other 5\n\
                    latch_sqlite_writer_busy_seconds_sum 1.5\n\
                    latch_sqlite_writer_busy_seconds_count 40\n\
                    latch_store_call_seconds_count{store=\"sqlite\",port=\"users\"} 3\n\
                    latch_store_call_seconds_count{store=\"sqlite\",port=\"clients\"} 4\n";
        assert_eq!(sample(text, "latch_sqlite_writes_total"), 120.0);
        assert_eq!(sample(text, "latch_sqlite_writer_busy_seconds_sum"), 1.5);
        assert_eq!(sample(text, "latch_store_call_seconds_count"), 7.0);
        assert_eq!(sample(text, "latch_missing"), 0.0);
    }

    #[test]
    fn use_is_busy_time_over_wall_time_and_writes_and_calls_over_steps_and_commits() {
        let counts = |writes, transactions, store_calls| Counts {
            writes,
            transactions,
            store_calls,
        };
        let u = use_of(1.2, 4.0, counts(9000.0, 1500.0, 12500.0), 1000);
        assert!((u.occupancy - 0.3).abs() < 1e-9);
        assert!((u.writes_per_step - 9.0).abs() < 1e-9);
        assert!((u.writes_per_transaction - 6.0).abs() < 1e-9);
        assert!((u.store_calls_per_step - 12.5).abs() < 1e-9);
        let none = use_of(0.0, 0.0, counts(0.0, 0.0, 0.0), 0);
        let runs = [
            u,
            none,
            use_of(0.4, 4.0, counts(5000.0, 1000.0, 6000.0), 1000),
        ];
        let m = median(&runs).unwrap();
        assert!((m.occupancy - 0.1).abs() < 1e-9);
        assert!((m.writes_per_step - 5.0).abs() < 1e-9);
        assert!((m.store_calls_per_step - 6.0).abs() < 1e-9);
        assert_eq!(median(&[]), None);
        assert_eq!(none.occupancy, 0.0);
        assert_eq!(none.store_calls_per_step, 0.0);
    }
}
