//! The [`WebhookStore`] contract, with the writes of the repositories that
//! store events beside their change.

use std::collections::BTreeSet;
use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{
    EventType, MessageStatus, NewEvent, SessionId, SessionStatus, Timestamp, UserId,
    WebhookAttempt, WebhookEndpoint,
};
use latch_core::ports::{
    AttemptOutcome, ClientRepository, Lease, MessageQuery, UserRepository, WebhookStore,
};

use crate::fixtures::{at, client, session, token_hash, user};

/// The handles the contract runs through, all on one fresh store: two
/// webhook handles (as two replicas hold them), and the repositories whose
/// writes carry events.
pub struct WebhookHandles {
    pub a: Arc<dyn WebhookStore>,
    pub b: Arc<dyn WebhookStore>,
    pub users: Arc<dyn UserRepository>,
    pub clients: Arc<dyn ClientRepository>,
}

fn endpoint(id: &str, types: &[EventType], created: i64) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.to_owned(),
        url: format!("https://hooks.example.com/{id}"),
        description: String::new(),
        sealed_secret: format!("v1.sealed-secret-{id}"),
        event_types: types.to_vec(),
        disabled: false,
        disabled_reason: None,
        failing_since: None,
        created_at: at(created),
        updated_at: at(created),
    }
}

fn event(id: &str, event_type: EventType, created: i64) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        event_type,
        sealed_body: format!("v1.sealed-body-{id}"),
        created_at: at(created),
    }
}

fn lease(token: &str, until: i64) -> Lease {
    Lease {
        token: token.to_owned(),
        until: at(until),
    }
}

fn attempt(event_id: &str, endpoint_id: &str, status: Option<u16>, t: i64) -> WebhookAttempt {
    WebhookAttempt {
        id: format!("atmpt_{event_id}_{endpoint_id}_{t}"),
        event_id: event_id.to_owned(),
        endpoint_id: endpoint_id.to_owned(),
        status_code: status,
        error: (status != Some(200)).then(|| "refused".to_owned()),
        duration_ms: 12,
        at: at(t),
    }
}

/// Messages of one endpoint, as (event id, status).
async fn messages_of(
    store: &dyn WebhookStore,
    endpoint_id: &str,
) -> BTreeSet<(String, MessageStatus)> {
    store
        .list_messages(&MessageQuery {
            endpoint_id: Some(endpoint_id.to_owned()),
            status: None,
            limit: 1000,
        })
        .await
        .expect("list succeeds")
        .into_iter()
        .map(|m| (m.event_id, m.status))
        .collect()
}

fn pending(ids: &[&str]) -> BTreeSet<(String, MessageStatus)> {
    ids.iter()
        .map(|id| ((*id).to_owned(), MessageStatus::Pending))
        .collect()
}

/// Runs the whole contract on one fresh store.
///
/// Covers: endpoint create (a taken id refused), get, list oldest first,
/// update and delete (`NotFound` and `false` for none); each stored event
/// making one pending message for each enabled endpoint that receives its
/// type and none for others; the events of a user or session write stored
/// if and only if the write is (a duplicate identifier, a lost
/// compare-and-set, a session already ended and a user already gone store
/// none); claims due-only, leased, counting attempts and skipping disabled
/// endpoints; concurrent claims never sharing a message; attempts recorded
/// only under the lease, with the outcome, the endpoint's failing run and
/// its disabling; replaying one message and a time range; and purging.
pub async fn webhook_store_contract(h: WebhookHandles) {
    endpoints_are_stored(&h).await;
    events_make_messages_for_the_endpoints_that_receive_them(&h).await;
    events_go_with_their_change_or_not_at_all(&h).await;
    claims_and_attempts(&h).await;
    concurrent_claims_never_share(&h).await;
    replays_and_purges(&h).await;
}

async fn endpoints_are_stored(h: &WebhookHandles) {
    let (a, b) = (&*h.a, &*h.b);
    let one = endpoint(
        "ep_one",
        &[EventType::UserCreated, EventType::SessionEnded],
        1,
    );
    a.create_endpoint(&one).await.unwrap();
    assert_eq!(
        b.create_endpoint(&one).await,
        Err(StoreError::Conflict),
        "a taken endpoint id is refused"
    );
    assert_eq!(b.get_endpoint("ep_one").await.unwrap(), Some(one.clone()));
    assert_eq!(b.get_endpoint("ep_none").await.unwrap(), None);
    let two = endpoint("ep_two", &[], 2);
    b.create_endpoint(&two).await.unwrap();
    let ids: Vec<String> = a
        .list_endpoints()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["ep_one", "ep_two"], "endpoints listed oldest first");
    let changed = WebhookEndpoint {
        url: "https://hooks.example.com/moved".into(),
        description: "moved".into(),
        event_types: vec![EventType::UserDeleted],
        disabled: true,
        disabled_reason: Some("why".into()),
        failing_since: Some(at(5)),
        updated_at: at(9),
        ..one.clone()
    };
    a.update_endpoint(&changed).await.unwrap();
    assert_eq!(b.get_endpoint("ep_one").await.unwrap(), Some(changed));
    assert_eq!(
        a.update_endpoint(&endpoint("ep_none", &[], 1)).await,
        Err(StoreError::NotFound)
    );
    assert!(a.delete_endpoint("ep_one").await.unwrap());
    assert!(!b.delete_endpoint("ep_one").await.unwrap());
    assert!(a.delete_endpoint("ep_two").await.unwrap());
    assert!(a.list_endpoints().await.unwrap().is_empty());
}

async fn events_make_messages_for_the_endpoints_that_receive_them(h: &WebhookHandles) {
    let a = &*h.a;
    a.create_endpoint(&endpoint("ep_all", &[], 10))
        .await
        .unwrap();
    a.create_endpoint(&endpoint("ep_users", &[EventType::UserCreated], 10))
        .await
        .unwrap();
    a.create_endpoint(&WebhookEndpoint {
        disabled: true,
        ..endpoint("ep_off", &[], 10)
    })
    .await
    .unwrap();
    h.b.append_events(&[
        event("msg_m1", EventType::UserCreated, 20),
        event("msg_m2", EventType::SmsCreated, 21),
    ])
    .await
    .unwrap();
    assert_eq!(
        messages_of(a, "ep_all").await,
        pending(&["msg_m1", "msg_m2"])
    );
    assert_eq!(messages_of(a, "ep_users").await, pending(&["msg_m1"]));
    assert!(
        messages_of(a, "ep_off").await.is_empty(),
        "a disabled endpoint gets no messages"
    );
    let m = a.get_message("msg_m2", "ep_all").await.unwrap().unwrap();
    assert_eq!(m.event_type, "sms.created");
    assert_eq!(
        (m.status, m.attempts, m.due_at),
        (MessageStatus::Pending, 0, at(21))
    );
    assert_eq!(a.get_message("msg_m2", "ep_users").await.unwrap(), None);
    for id in ["ep_all", "ep_users", "ep_off"] {
        assert!(a.delete_endpoint(id).await.unwrap());
    }
    assert!(
        a.get_message("msg_m1", "ep_all").await.unwrap().is_none(),
        "an endpoint's messages go with it"
    );
}

async fn events_go_with_their_change_or_not_at_all(h: &WebhookHandles) {
    let (a, users, clients) = (&*h.a, &*h.users, &*h.clients);
    a.create_endpoint(&endpoint("ep_tx", &[], 30))
        .await
        .unwrap();
    let ann = user("user_evt_ann", "ann-events@example.com");
    users
        .insert(&ann, &[event("msg_t1", EventType::UserCreated, 31)])
        .await
        .unwrap();
    // Refused writes store no event.
    let taken = user("user_evt_bob", "ann-events@example.com");
    assert!(matches!(
        users
            .insert(&taken, &[event("msg_t2", EventType::UserCreated, 32)])
            .await,
        Err(StoreError::Duplicate(_))
    ));
    let mut renamed = ann.clone();
    renamed.first_name = Some("Ann".into());
    renamed.updated_at = at(1);
    assert_eq!(
        users
            .update(
                &renamed,
                at(-5),
                &[event("msg_t3", EventType::UserUpdated, 33)]
            )
            .await,
        Err(StoreError::Conflict),
        "a lost compare-and-set"
    );
    users
        .update(
            &renamed,
            ann.updated_at,
            &[event("msg_t4", EventType::UserUpdated, 34)],
        )
        .await
        .unwrap();
    users
        .set_lock(
            &ann.id,
            Some(Timestamp::FOREVER),
            &[event("msg_t5", EventType::UserUpdated, 35)],
        )
        .await
        .unwrap();
    assert_eq!(
        users
            .set_lock(
                &UserId("user_none".into()),
                None,
                &[event("msg_t6", EventType::UserUpdated, 36)]
            )
            .await,
        Err(StoreError::NotFound)
    );
    clients
        .insert_client(&client("client_evt", 71))
        .await
        .unwrap();
    let s = session("sess_evt", "client_evt", "user_evt_ann", at(40));
    clients
        .insert_session(
            &s,
            &token_hash(71),
            &token_hash(72),
            None,
            &[event("msg_t7", EventType::SessionCreated, 40)],
        )
        .await
        .unwrap();
    assert_eq!(
        clients
            .insert_session(
                &session("sess_evt_2", "client_evt", "user_evt_ann", at(41)),
                &token_hash(71),
                &token_hash(73),
                None,
                &[event("msg_t8", EventType::SessionCreated, 41)],
            )
            .await,
        Err(StoreError::Conflict),
        "a rotated token"
    );
    let id = SessionId("sess_evt".into());
    assert!(
        clients
            .end_session(
                &id,
                SessionStatus::Ended,
                at(42),
                &[event("msg_t9", EventType::SessionEnded, 42)]
            )
            .await
            .unwrap()
    );
    assert!(
        !clients
            .end_session(
                &id,
                SessionStatus::Revoked,
                at(43),
                &[event("msg_t10", EventType::SessionRevoked, 43)]
            )
            .await
            .unwrap(),
        "a session already ended"
    );
    assert!(
        users
            .delete(&ann.id, &[event("msg_t11", EventType::UserDeleted, 44)])
            .await
            .unwrap()
    );
    assert!(
        !users
            .delete(&ann.id, &[event("msg_t12", EventType::UserDeleted, 45)])
            .await
            .unwrap(),
        "a user already gone"
    );
    assert_eq!(
        messages_of(a, "ep_tx").await,
        pending(&["msg_t1", "msg_t4", "msg_t5", "msg_t7", "msg_t9", "msg_t11"]),
        "exactly the events of the writes that were stored"
    );
    assert!(a.delete_endpoint("ep_tx").await.unwrap());
}

async fn claims_and_attempts(h: &WebhookHandles) {
    let (a, b) = (&*h.a, &*h.b);
    a.create_endpoint(&endpoint("ep_c", &[], 100))
        .await
        .unwrap();
    a.create_endpoint(&endpoint("ep_d", &[EventType::UserCreated], 100))
        .await
        .unwrap();
    a.append_events(&[
        event("msg_c1", EventType::UserCreated, 200),
        event("msg_c2", EventType::UserUpdated, 300),
    ])
    .await
    .unwrap();
    assert!(
        a.claim_messages(at(150), &lease("w1", 1_000), 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing is due before its time"
    );
    let claimed = a
        .claim_messages(at(250), &lease("w1", 1_000), 10)
        .await
        .unwrap();
    let got: BTreeSet<_> = claimed
        .iter()
        .map(|m| (m.event_id.as_str(), m.endpoint_id.as_str()))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([("msg_c1", "ep_c"), ("msg_c1", "ep_d")])
    );
    let c1 = claimed.iter().find(|m| m.endpoint_id == "ep_c").unwrap();
    assert_eq!(c1.attempts, 1, "a claim counts an attempt");
    assert_eq!(c1.sealed_body, "v1.sealed-body-msg_c1");
    assert_eq!(c1.url, "https://hooks.example.com/ep_c");
    assert_eq!(c1.sealed_secret, "v1.sealed-secret-ep_c");
    assert_eq!(
        b.claim_messages(at(350), &lease("w2", 5_500), 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.event_id.as_str())
            .collect::<Vec<_>>(),
        ["msg_c2"],
        "leased messages are not claimed again"
    );
    // Recording needs the lease.
    assert_eq!(
        b.record_attempt(
            &attempt("msg_c1", "ep_c", Some(200), 400),
            "w2",
            AttemptOutcome::Delivered,
            at(0),
            "failing"
        )
        .await,
        Err(StoreError::Conflict)
    );
    a.record_attempt(
        &attempt("msg_c1", "ep_c", Some(200), 400),
        "w1",
        AttemptOutcome::Delivered,
        at(0),
        "failing",
    )
    .await
    .unwrap();
    let m = b.get_message("msg_c1", "ep_c").await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.attempts, m.last_status_code),
        (MessageStatus::Delivered, 1, Some(200))
    );
    // A failure to retry, then the lease of a second worker after it.
    a.record_attempt(
        &attempt("msg_c1", "ep_d", Some(500), 410),
        "w1",
        AttemptOutcome::RetryAt(at(5_000)),
        at(0),
        "failing",
    )
    .await
    .unwrap();
    let m = b.get_message("msg_c1", "ep_d").await.unwrap().unwrap();
    assert_eq!(
        (
            m.status,
            m.due_at,
            m.last_status_code,
            m.last_error.as_deref()
        ),
        (
            MessageStatus::Pending,
            at(5_000),
            Some(500),
            Some("refused")
        )
    );
    assert_eq!(
        b.get_endpoint("ep_d").await.unwrap().unwrap().failing_since,
        Some(at(410)),
        "a failure starts the endpoint's failing run"
    );
    let again = b
        .claim_messages(at(5_000), &lease("w3", 9_000), 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].endpoint_id.as_str(), again[0].attempts),
        ("ep_d", 2)
    );
    b.record_attempt(
        &attempt("msg_c1", "ep_d", None, 5_010),
        "w3",
        AttemptOutcome::Failed,
        at(420),
        "every attempt failed",
    )
    .await
    .unwrap();
    let d = a.get_endpoint("ep_d").await.unwrap().unwrap();
    assert!(d.disabled, "failing since before the threshold disables it");
    assert_eq!(d.disabled_reason.as_deref(), Some("every attempt failed"));
    assert_eq!(
        a.get_message("msg_c1", "ep_d")
            .await
            .unwrap()
            .unwrap()
            .status,
        MessageStatus::Failed
    );
    let attempts = a.list_attempts("msg_c1", "ep_d", 10).await.unwrap();
    assert_eq!(
        attempts.iter().map(|x| x.status_code).collect::<Vec<_>>(),
        [None, Some(500)],
        "attempts newest first"
    );
    assert_eq!(attempts[1], attempt("msg_c1", "ep_d", Some(500), 410));
    // A lease that ran out lets another worker claim; a disabled endpoint's
    // messages are not claimed, even pending ones.
    b.replay_message("msg_c1", "ep_d", at(5_900)).await.unwrap();
    a.append_events(&[event("msg_c3", EventType::UserCreated, 6_000)])
        .await
        .unwrap();
    let claimed = a
        .claim_messages(at(6_000), &lease("w4", 6_100), 10)
        .await
        .unwrap();
    assert_eq!(
        claimed
            .iter()
            .map(|m| (m.event_id.as_str(), m.endpoint_id.as_str()))
            .collect::<Vec<_>>(),
        [("msg_c2", "ep_c"), ("msg_c3", "ep_c")],
        "the ran-out lease of msg_c2 and the new event, not the disabled endpoint's"
    );
    // Enabled again, its pending message goes; a delivery ends the failing run.
    a.update_endpoint(&WebhookEndpoint {
        disabled: false,
        disabled_reason: None,
        ..a.get_endpoint("ep_d").await.unwrap().unwrap()
    })
    .await
    .unwrap();
    let d_claim = b
        .claim_messages(at(6_050), &lease("w5", 9_000), 10)
        .await
        .unwrap();
    assert_eq!(d_claim.len(), 1);
    let d_msg = d_claim.iter().find(|m| m.endpoint_id == "ep_d").unwrap();
    b.record_attempt(
        &attempt(&d_msg.event_id, "ep_d", Some(200), 6_300),
        "w5",
        AttemptOutcome::Delivered,
        at(0),
        "failing",
    )
    .await
    .unwrap();
    assert_eq!(
        a.get_endpoint("ep_d").await.unwrap().unwrap().failing_since,
        None
    );
    for id in ["ep_c", "ep_d"] {
        assert!(a.delete_endpoint(id).await.unwrap());
    }
}

async fn concurrent_claims_never_share(h: &WebhookHandles) {
    h.a.create_endpoint(&endpoint("ep_race", &[], 10_000))
        .await
        .unwrap();
    let events: Vec<NewEvent> = (0..40)
        .map(|i| event(&format!("msg_r{i:02}"), EventType::SessionCreated, 10_000))
        .collect();
    h.a.append_events(&events).await.unwrap();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let store = if worker % 2 == 0 {
            h.a.clone()
        } else {
            h.b.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_messages(at(10_000), &lease(&format!("race{worker}"), 99_000), 3)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|m| m.event_id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let distinct: BTreeSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 40, "every message claimed once");
    assert_eq!(distinct.len(), 40, "no message claimed twice");
    assert!(h.a.delete_endpoint("ep_race").await.unwrap());
}

async fn replays_and_purges(h: &WebhookHandles) {
    let (a, b) = (&*h.a, &*h.b);
    a.create_endpoint(&endpoint("ep_p", &[], 20_000))
        .await
        .unwrap();
    a.append_events(&[
        event("msg_p1", EventType::UserCreated, 20_100),
        event("msg_p2", EventType::UserUpdated, 20_200),
    ])
    .await
    .unwrap();
    let claimed = a
        .claim_messages(at(20_300), &lease("p", 99_000), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    for (id, outcome) in [
        ("msg_p1", AttemptOutcome::Failed),
        ("msg_p2", AttemptOutcome::Delivered),
    ] {
        a.record_attempt(
            &attempt(id, "ep_p", Some(500), 20_400),
            "p",
            outcome,
            at(0),
            "x",
        )
        .await
        .unwrap();
    }
    assert_eq!(
        b.replay_message("msg_none", "ep_p", at(20_500)).await,
        Err(StoreError::NotFound)
    );
    b.replay_message("msg_p2", "ep_p", at(20_500))
        .await
        .unwrap();
    let m = a.get_message("msg_p2", "ep_p").await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.attempts, m.due_at),
        (MessageStatus::Pending, 0, at(20_500)),
        "a replayed message is pending again at once"
    );
    assert_eq!(
        a.list_attempts("msg_p2", "ep_p", 10).await.unwrap().len(),
        1,
        "its past attempts stay"
    );
    // An endpoint made later gets the events of a range, with its types.
    a.create_endpoint(&endpoint("ep_late", &[EventType::UserCreated], 20_600))
        .await
        .unwrap();
    let n = b
        .replay_range(
            "ep_late",
            &["user.created".into()],
            at(20_000),
            at(20_300),
            at(20_700),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(messages_of(a, "ep_late").await, pending(&["msg_p1"]));
    // Failed messages in the range are pending again; delivered ones stay.
    let n = b
        .replay_range("ep_p", &[], at(20_000), at(20_150), at(20_700))
        .await
        .unwrap();
    assert_eq!(n, 1, "msg_p1 failed and is in the range; msg_p2 is not");
    assert_eq!(
        b.replay_range("ep_p", &[], at(20_000), at(20_150), at(20_700))
            .await
            .unwrap(),
        0,
        "a message pending with no failed attempt is left as it is"
    );
    assert_eq!(
        a.get_message("msg_p1", "ep_p")
            .await
            .unwrap()
            .unwrap()
            .status,
        MessageStatus::Pending
    );
    // Settle everything, then purge.
    let claimed = a
        .claim_messages(at(20_800), &lease("q", 99_000), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    for m in &claimed {
        let outcome = if m.event_id == "msg_p2" {
            AttemptOutcome::RetryAt(at(50_000))
        } else {
            AttemptOutcome::Delivered
        };
        a.record_attempt(
            &attempt(&m.event_id, &m.endpoint_id, Some(200), 20_900),
            "q",
            outcome,
            at(0),
            "x",
        )
        .await
        .unwrap();
    }
    // msg_p1 is finished everywhere (and the earlier sections' events have
    // no endpoint left); msg_p2 still has a pending message.
    assert!(b.purge_events(at(30_000)).await.unwrap() >= 1);
    assert_eq!(b.purge_events(at(30_000)).await.unwrap(), 0);
    assert!(a.get_message("msg_p1", "ep_p").await.unwrap().is_none());
    assert!(
        a.list_attempts("msg_p1", "ep_p", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(a.get_message("msg_p2", "ep_p").await.unwrap().is_some());
}
