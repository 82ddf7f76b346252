//! The [`ClientRepository`] contract.

use std::sync::Arc;

use latch_core::error::StoreError;
use latch_core::model::{Client, ClientId, Session, SessionId, SessionStatus, SignInId, UserId};
use latch_core::ports::{ClientRepository, SessionQuery, UserRepository};

use crate::fixtures::{self, at, token_hash};

/// Runs the whole [`ClientRepository`] contract against `clients`; `users` is
/// the user repository of the same storage (sessions belong to users, and
/// deleting a user deletes its sessions). Both must be fresh and empty.
///
/// Covers: client round trips and lookup by token hash, rotation (an earlier
/// hash never matches), `update_*` failing with `NotFound`, `insert_session`
/// storing the session and the client together or neither (a missing client
/// fails it with `NotFound`), `sessions_of_client` oldest first, `list_sessions`
/// and `count_sessions` by user, client and status, newest first and paginated,
/// `delete_client` keeping the sessions with the active ones marked `removed`,
/// and user deletion taking the user's sessions along.
pub async fn client_repository_contract(
    clients: Arc<dyn ClientRepository>,
    users: Arc<dyn UserRepository>,
) {
    let clients = &*clients;
    empty_store(clients).await;
    for (id, email) in [("user_a", "a@example.com"), ("user_b", "b@example.com")] {
        users
            .insert(&fixtures::user(id, email))
            .await
            .expect("insert session owner");
    }
    clients_and_token_rotation(clients).await;
    let sessions = insert_session_is_atomic(clients).await;
    list_and_count(clients, &sessions).await;
    delete_client_marks_sessions_removed(clients, &sessions).await;
    deleting_a_user_deletes_its_sessions(clients, &*users, &sessions).await;
}

fn cid(id: &str) -> ClientId {
    ClientId(id.to_owned())
}

fn sid(id: &str) -> SessionId {
    SessionId(id.to_owned())
}

fn ids(sessions: &[Session]) -> Vec<&str> {
    sessions.iter().map(|s| s.id.as_str()).collect()
}

async fn get_client(clients: &dyn ClientRepository, id: &str) -> Option<Client> {
    clients
        .get_client(&cid(id))
        .await
        .expect("get_client succeeds")
}

async fn by_hash(clients: &dyn ClientRepository, token: u64) -> Option<Client> {
    clients
        .find_client_by_token_hash(&token_hash(token))
        .await
        .expect("find_client_by_token_hash succeeds")
}

async fn get_session(clients: &dyn ClientRepository, id: &str) -> Option<Session> {
    clients
        .get_session(&sid(id))
        .await
        .expect("get_session succeeds")
}

async fn empty_store(clients: &dyn ClientRepository) {
    assert_eq!(get_client(clients, "client_1").await, None);
    assert_eq!(by_hash(clients, 1).await, None);
    assert_eq!(
        clients
            .update_client(&fixtures::client("client_1", 1))
            .await,
        Err(StoreError::NotFound),
        "update of an unknown client"
    );
    assert_eq!(
        get_client(clients, "client_1").await,
        None,
        "a failed update stores nothing"
    );
    assert_eq!(get_session(clients, "sess_1").await, None);
    let session = fixtures::session("sess_1", "client_1", "user_a", at(0));
    assert_eq!(
        clients.update_session(&session).await,
        Err(StoreError::NotFound),
        "update of an unknown session"
    );
    assert_eq!(
        get_session(clients, "sess_1").await,
        None,
        "a failed update stores nothing"
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_1")).await,
        Ok(vec![])
    );
    let all = SessionQuery {
        limit: 100,
        ..SessionQuery::default()
    };
    assert_eq!(clients.list_sessions(&all).await, Ok(vec![]));
    assert_eq!(clients.count_sessions(&all).await, Ok(0));
}

async fn clients_and_token_rotation(clients: &dyn ClientRepository) {
    let c1 = fixtures::client("client_1", 1);
    clients.insert_client(&c1).await.expect("insert client_1");
    assert_eq!(get_client(clients, "client_1").await, Some(c1.clone()));
    assert_eq!(
        by_hash(clients, 1).await,
        Some(c1.clone()),
        "find by the current token hash"
    );
    assert_eq!(
        by_hash(clients, 99).await,
        None,
        "an unknown hash matches nothing"
    );

    let rotated = Client {
        token_hash: token_hash(2),
        sign_in_id: Some(SignInId("sia_1".to_owned())),
        last_active_session_id: Some(sid("sess_gone")),
        updated_at: at(10),
        ..c1.clone()
    };
    clients
        .update_client(&rotated)
        .await
        .expect("rotate client_1");
    assert_eq!(
        by_hash(clients, 1).await,
        None,
        "a rotated-out token hash MUST NOT match"
    );
    assert_eq!(by_hash(clients, 2).await, Some(rotated.clone()));
    assert_eq!(get_client(clients, "client_1").await, Some(rotated.clone()));

    let cleared = Client {
        sign_in_id: None,
        last_active_session_id: None,
        updated_at: at(20),
        ..rotated
    };
    clients
        .update_client(&cleared)
        .await
        .expect("clear client_1's sign-in");
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(cleared.clone()),
        "optional fields can be cleared"
    );

    let c2 = fixtures::client("client_2", 3);
    clients.insert_client(&c2).await.expect("insert client_2");
    assert_eq!(get_client(clients, "client_2").await, Some(c2));
    assert_eq!(
        get_client(clients, "client_1").await,
        Some(cleared),
        "clients are independent"
    );
}

/// Stores five sessions through `insert_session` and returns them as stored:
/// on client_1: s1 (user_a, t100), s3 (user_a, t200, ended), s2 (user_b, t300);
/// on client_2: s4 (user_b, t150), s5 (user_a, t250, revoked).
async fn insert_session_is_atomic(clients: &dyn ClientRepository) -> Vec<Session> {
    let mut token = 10;
    let mut insert = async |session: &Session| {
        token += 1;
        let mut client = get_client(clients, session.client_id.as_str())
            .await
            .expect("client exists");
        let old_hash = client.token_hash.clone();
        client.token_hash = token_hash(token);
        client.last_active_session_id = Some(session.id.clone());
        client.updated_at = session.created_at;
        clients
            .insert_session(session, &client)
            .await
            .expect("insert_session");
        assert_eq!(
            get_session(clients, session.id.as_str()).await.as_ref(),
            Some(session),
            "the session is stored"
        );
        assert_eq!(
            get_client(clients, client.id.as_str()).await,
            Some(client.clone()),
            "the client is updated"
        );
        assert_eq!(
            by_hash(clients, token).await,
            Some(client.clone()),
            "the new token hash matches"
        );
        assert_eq!(
            clients.find_client_by_token_hash(&old_hash).await,
            Ok(None),
            "the old token hash no longer matches"
        );
    };

    let s1 = fixtures::session("sess_1", "client_1", "user_a", at(100));
    let mut s2 = fixtures::session("sess_2", "client_1", "user_b", at(300));
    s2.second_factor_verified_at = Some(at(301));
    s2.last_active_at = at(350);
    let s3 = fixtures::session("sess_3", "client_1", "user_a", at(200));
    let s4 = fixtures::session("sess_4", "client_2", "user_b", at(150));
    let s5 = fixtures::session("sess_5", "client_2", "user_a", at(250));
    // Out of creation order, so the store must sort.
    for session in [&s1, &s2, &s3, &s5, &s4] {
        insert(session).await;
    }

    // Both or neither: the client does not exist, so the session is not stored.
    let orphan = fixtures::session("sess_orphan", "client_missing", "user_a", at(400));
    let missing = Client {
        last_active_session_id: Some(orphan.id.clone()),
        ..fixtures::client("client_missing", 5)
    };
    assert_eq!(
        clients.insert_session(&orphan, &missing).await,
        Err(StoreError::NotFound),
        "insert_session with a missing client"
    );
    assert_eq!(
        get_session(clients, "sess_orphan").await,
        None,
        "a failed insert_session stores no session"
    );
    assert_eq!(
        get_client(clients, "client_missing").await,
        None,
        "a failed insert_session stores no client"
    );
    assert_eq!(by_hash(clients, 5).await, None);

    assert_eq!(
        ids(&clients.sessions_of_client(&cid("client_1")).await.unwrap()),
        ["sess_1", "sess_3", "sess_2"],
        "oldest first"
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_2")).await,
        Ok(vec![s4.clone(), s5.clone()])
    );
    assert_eq!(
        clients.sessions_of_client(&cid("client_missing")).await,
        Ok(vec![])
    );

    let s3 = Session {
        status: SessionStatus::Ended,
        updated_at: at(400),
        ..s3
    };
    clients.update_session(&s3).await.expect("end sess_3");
    assert_eq!(
        get_session(clients, "sess_3").await,
        Some(s3.clone()),
        "update_session replaces the session"
    );
    let s5 = Session {
        status: SessionStatus::Revoked,
        last_active_at: at(260),
        updated_at: at(410),
        ..s5
    };
    clients.update_session(&s5).await.expect("revoke sess_5");
    assert_eq!(get_session(clients, "sess_5").await, Some(s5.clone()));

    vec![s1, s2, s3, s4, s5]
}

async fn list_and_count(clients: &dyn ClientRepository, stored: &[Session]) {
    let query =
        |user: Option<&str>, client: Option<&str>, status: Option<SessionStatus>| SessionQuery {
            user_id: user.map(str::to_owned),
            client_id: client.map(str::to_owned),
            status,
            limit: 100,
            offset: 0,
        };
    let cases: Vec<(&str, SessionQuery, Vec<&str>)> = vec![
        (
            "nothing",
            query(None, None, None),
            vec!["sess_2", "sess_5", "sess_3", "sess_4", "sess_1"],
        ),
        (
            "user",
            query(Some("user_a"), None, None),
            vec!["sess_5", "sess_3", "sess_1"],
        ),
        (
            "client",
            query(None, Some("client_1"), None),
            vec!["sess_2", "sess_3", "sess_1"],
        ),
        (
            "status",
            query(None, None, Some(SessionStatus::Active)),
            vec!["sess_2", "sess_4", "sess_1"],
        ),
        (
            "user and client",
            query(Some("user_a"), Some("client_1"), None),
            vec!["sess_3", "sess_1"],
        ),
        (
            "user, client and status",
            query(
                Some("user_a"),
                Some("client_1"),
                Some(SessionStatus::Active),
            ),
            vec!["sess_1"],
        ),
        (
            "an unmatched status",
            query(Some("user_b"), None, Some(SessionStatus::Revoked)),
            vec![],
        ),
        (
            "an unknown user",
            query(Some("user_nobody"), None, None),
            vec![],
        ),
    ];
    for (name, q, expected) in cases {
        assert_eq!(
            ids(&clients.list_sessions(&q).await.unwrap()),
            expected,
            "list_sessions by {name}, newest first"
        );
        assert_eq!(
            clients.count_sessions(&q).await,
            Ok(expected.len() as u64),
            "count_sessions by {name}"
        );
    }
    let listed = clients
        .list_sessions(&query(None, None, None))
        .await
        .unwrap();
    for session in stored {
        assert!(
            listed.contains(session),
            "list_sessions returns {} as stored",
            session.id
        );
    }

    let page = SessionQuery {
        limit: 2,
        offset: 1,
        ..SessionQuery::default()
    };
    assert_eq!(
        ids(&clients.list_sessions(&page).await.unwrap()),
        ["sess_5", "sess_3"]
    );
    assert_eq!(
        clients.count_sessions(&page).await,
        Ok(5),
        "count_sessions ignores pagination"
    );
    let page = SessionQuery {
        limit: 1,
        offset: 2,
        ..query(Some("user_a"), None, None)
    };
    assert_eq!(
        ids(&clients.list_sessions(&page).await.unwrap()),
        ["sess_1"]
    );
    assert_eq!(clients.count_sessions(&page).await, Ok(3));
    let past_end = SessionQuery {
        limit: 2,
        offset: 5,
        ..SessionQuery::default()
    };
    assert_eq!(clients.list_sessions(&past_end).await, Ok(vec![]));
}

async fn delete_client_marks_sessions_removed(clients: &dyn ClientRepository, stored: &[Session]) {
    let hash = get_client(clients, "client_1")
        .await
        .expect("client_1 exists")
        .token_hash;
    clients
        .delete_client(&cid("client_1"))
        .await
        .expect("delete client_1");
    assert_eq!(
        get_client(clients, "client_1").await,
        None,
        "the client is gone"
    );
    assert_eq!(
        clients.find_client_by_token_hash(&hash).await,
        Ok(None),
        "its token no longer matches"
    );

    let kept = clients.sessions_of_client(&cid("client_1")).await.unwrap();
    assert_eq!(
        ids(&kept),
        ["sess_1", "sess_3", "sess_2"],
        "the client's sessions stay"
    );
    for session in &kept {
        let before = stored.iter().find(|s| s.id == session.id).unwrap();
        assert_eq!(
            (&session.user_id, &session.client_id, session.created_at),
            (&before.user_id, &before.client_id, before.created_at)
        );
        if before.status == SessionStatus::Active {
            assert_eq!(
                session.status,
                SessionStatus::Removed,
                "active {} is marked removed",
                session.id
            );
        } else {
            assert_ne!(
                session.status,
                SessionStatus::Active,
                "{} does not come back to life",
                session.id
            );
        }
    }
    let removed = SessionQuery {
        status: Some(SessionStatus::Removed),
        limit: 100,
        ..SessionQuery::default()
    };
    assert_eq!(
        ids(&clients.list_sessions(&removed).await.unwrap()),
        ["sess_2", "sess_1"]
    );

    let other = clients.sessions_of_client(&cid("client_2")).await.unwrap();
    let expected: Vec<&Session> = stored
        .iter()
        .filter(|s| s.client_id.as_str() == "client_2")
        .collect();
    assert_eq!(
        other.iter().collect::<Vec<_>>(),
        expected,
        "other clients' sessions are untouched"
    );
    assert!(
        get_client(clients, "client_2").await.is_some(),
        "other clients stay"
    );
}

async fn deleting_a_user_deletes_its_sessions(
    clients: &dyn ClientRepository,
    users: &dyn UserRepository,
    stored: &[Session],
) {
    assert_eq!(users.delete(&UserId("user_b".to_owned())).await, Ok(true));
    assert_eq!(
        get_session(clients, "sess_2").await,
        None,
        "user_b's session on the deleted client is gone"
    );
    assert_eq!(
        get_session(clients, "sess_4").await,
        None,
        "user_b's session on client_2 is gone"
    );
    let by_b = SessionQuery {
        user_id: Some("user_b".to_owned()),
        limit: 100,
        ..SessionQuery::default()
    };
    assert_eq!(clients.list_sessions(&by_b).await, Ok(vec![]));
    assert_eq!(clients.count_sessions(&by_b).await, Ok(0));
    let s5 = stored.iter().find(|s| s.id.as_str() == "sess_5").unwrap();
    assert_eq!(
        clients.sessions_of_client(&cid("client_2")).await,
        Ok(vec![s5.clone()]),
        "user_a's sessions stay"
    );
    let all = SessionQuery {
        limit: 100,
        ..SessionQuery::default()
    };
    assert_eq!(
        ids(&clients.list_sessions(&all).await.unwrap()),
        ["sess_5", "sess_3", "sess_1"]
    );
}
