//! [`SignInSteps`]: a new sign-in with its client's change in one write, a
//! step's client, sign-in and user in one read transaction, and a completed
//! sign-in with its session in one write, since this store keeps all three.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Client, NewEvent, Session, SignIn, SignInId, Standing, Timestamp};
use latch_core::ports::{DigestUpgrade, PassedAttempt, SignInStep, SignInSteps};

use crate::SqliteStore;
use crate::flows::{
    FlowRow, client_and_flow, delete_row, insert_row, replace_row, replacement, start_row,
};

#[async_trait]
impl SignInSteps for SqliteStore {
    async fn read_sign_in_step(
        &self,
        token_hash: &str,
        id: &SignInId,
        now: Timestamp,
    ) -> Result<Option<SignInStep>, StoreError> {
        let (token_hash, id) = (token_hash.to_owned(), id.clone());
        self.pool
            .read(move |tx| {
                let Some((found, sign_in)) =
                    client_and_flow::<SignIn>(tx, &token_hash, id.as_str(), now)?
                else {
                    return Ok(None);
                };
                let user = match sign_in.as_ref() {
                    Some(sign_in) if !sign_in.is_phantom() => match sign_in.user_id() {
                        Some(user) => crate::users::load_user(tx, user.as_str())?,
                        None => None,
                    },
                    _ => None,
                };
                Ok(Some(SignInStep {
                    found,
                    sign_in,
                    user,
                }))
            })
            .await
    }

    async fn complete_sign_in(
        &self,
        sign_in: &SignIn,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
        passed: Option<PassedAttempt>,
    ) -> Result<Standing, StoreError> {
        let (row, expected) = replacement(sign_in)?;
        let (session, events) = (session.clone(), events.to_vec());
        let tokens = (expected_token_hash.to_owned(), new_token_hash.to_owned());
        self.pool
            .write(move |tx| {
                replace_row::<SignIn>(tx, &row, expected)?;
                start_session_on(
                    tx,
                    &session,
                    &tokens,
                    upgrade.as_ref(),
                    &events,
                    passed.as_ref(),
                )
            })
            .await
    }

    async fn complete_new_sign_in(
        &self,
        sign_in: &SignIn,
        new_client: Option<Client>,
        previous: Option<SignInId>,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        upgrade: Option<DigestUpgrade>,
        events: &[NewEvent],
        passed: Option<PassedAttempt>,
    ) -> Result<Standing, StoreError> {
        let row = FlowRow::of(sign_in)?;
        let (session, events) = (session.clone(), events.to_vec());
        let tokens = (expected_token_hash.to_owned(), new_token_hash.to_owned());
        self.pool
            .write(move |tx| {
                if let Some(client) = &new_client {
                    crate::clients::insert_client_on(tx, client)?;
                }
                let standing = start_session_on(
                    tx,
                    &session,
                    &tokens,
                    upgrade.as_ref(),
                    &events,
                    passed.as_ref(),
                )?;
                insert_row::<SignIn>(tx, &row)?;
                if let Some(previous) = &previous {
                    delete_row::<SignIn>(tx, previous.as_str())?;
                }
                Ok(standing)
            })
            .await
    }

    async fn start_sign_in(
        &self,
        sign_in: &SignIn,
        new_client: Option<Client>,
        previous: Option<SignInId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let row = FlowRow::of(sign_in)?;
        self.pool
            .write(move |tx| {
                let previous = previous.as_ref().map(SignInId::as_str);
                start_row::<SignIn>(tx, &row, new_client.as_ref(), previous, at)
            })
            .await
    }
}

/// A completing sign-in's session, stored as `insert_session` stores one,
/// with the attempt whose check passed settled, in the caller's
/// transaction.
fn start_session_on(
    tx: &rusqlite::Transaction<'_>,
    session: &Session,
    (expected, new): &(String, String),
    upgrade: Option<&DigestUpgrade>,
    events: &[NewEvent],
    passed: Option<&PassedAttempt>,
) -> Result<Standing, crate::error::DbError> {
    let standing =
        crate::clients::insert_session_on(tx, session, (expected, new), upgrade, events)?;
    if let Some(passed) = passed {
        crate::users::settle_passed_on(tx, passed)?;
    }
    Ok(standing)
}
