//! The [`AuditLog`] contract.

use std::collections::BTreeMap;

use latch_core::model::{Actor, AuditAction, AuditEntry, AuditQuery};
use latch_core::ports::AuditLog;

use crate::fixtures::at;

fn entry(n: u32, action: AuditAction, user: Option<&str>) -> AuditEntry {
    AuditEntry {
        id: format!("aud_{n:04}"),
        at: at(i64::from(n) * 1000),
        action,
        actor: if n.is_multiple_of(2) {
            Actor::Frontend
        } else {
            Actor::Backend
        },
        user_id: user.map(str::to_owned),
        client_ip: Some("198.51.100.7".into()),
        user_agent: Some("agent/1".into()),
        detail: BTreeMap::from([("strategy".to_owned(), "password".to_owned())]),
    }
}

async fn ids(log: &dyn AuditLog, query: AuditQuery) -> Vec<String> {
    log.query(&query)
        .await
        .expect("query succeeds")
        .into_iter()
        .map(|(_, e)| e.id)
        .collect()
}

/// Runs the contract on a fresh store.
///
/// Covers: entries read back whole, newest first; filters by user, by
/// actions and by a time range; cursor pagination that neither repeats nor
/// skips; and purging only what is older than asked.
pub async fn audit_log_contract(log: &dyn AuditLog) {
    let all = [
        entry(1, AuditAction::SignInFailed, Some("user_a")),
        entry(2, AuditAction::SignInSucceeded, Some("user_a")),
        entry(3, AuditAction::UserBanned, Some("user_b")),
        entry(4, AuditAction::RateLimitHit, None),
        entry(5, AuditAction::SignInFailed, Some("user_b")),
    ];
    log.append(&all[..2]).await.expect("append succeeds");
    log.append(&all[2..]).await.expect("append succeeds");
    log.append(&[]).await.expect("nothing to append");
    let read = log
        .query(&AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 5);
    assert_eq!(read[0].1, all[4], "read back whole, newest first");
    assert_eq!(read[4].1, all[0]);
    assert!(read[0].0 > read[4].0, "cursors grow with time");
    let q = |f: fn(&mut AuditQuery)| {
        let mut query = AuditQuery {
            limit: 10,
            ..Default::default()
        };
        f(&mut query);
        query
    };
    assert_eq!(
        ids(log, q(|q| q.user_id = Some("user_a".into()))).await,
        ["aud_0002", "aud_0001"]
    );
    assert_eq!(
        ids(log, q(|q| q.actions = vec![AuditAction::SignInFailed])).await,
        ["aud_0005", "aud_0001"]
    );
    assert_eq!(
        ids(
            log,
            q(|q| q.actions = vec![AuditAction::UserBanned, AuditAction::RateLimitHit])
        )
        .await,
        ["aud_0004", "aud_0003"]
    );
    assert_eq!(
        ids(
            log,
            q(|q| {
                q.since = Some(at(2000));
                q.until = Some(at(4000));
            })
        )
        .await,
        ["aud_0003", "aud_0002"],
        "since is inclusive, until exclusive"
    );
    // Pages of two, following the cursor.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = log
            .query(&AuditQuery {
                before,
                limit: 2,
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = Some(page.last().unwrap().0);
        seen.extend(page.into_iter().map(|(_, e)| e.id));
    }
    assert_eq!(
        seen,
        ["aud_0005", "aud_0004", "aud_0003", "aud_0002", "aud_0001"]
    );
    assert_eq!(log.purge(at(3000)).await.unwrap(), 2);
    assert_eq!(
        ids(log, q(|_| {})).await,
        ["aud_0005", "aud_0004", "aud_0003"]
    );
}
