//! [`SignUpSteps`]: a new sign-up with its client's change in one write, a
//! step's client and sign-up in one read transaction, and a completed
//! sign-up with its user and session in one write, since this store keeps
//! them all.

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Client, NewEvent, Session, SignUp, SignUpId, Timestamp, User};
use latch_core::ports::{SignUpStep, SignUpSteps};

use crate::SqliteStore;
use crate::flows::{FlowRow, client_and_flow, replace_row, replacement, start_row};

#[async_trait]
impl SignUpSteps for SqliteStore {
    async fn read_sign_up_step(
        &self,
        token_hash: &str,
        id: &SignUpId,
        now: Timestamp,
    ) -> Result<Option<SignUpStep>, StoreError> {
        let (token_hash, id) = (token_hash.to_owned(), id.clone());
        self.pool
            .read(move |tx| {
                let read = client_and_flow::<SignUp>(tx, &token_hash, id.as_str(), now)?;
                Ok(read.map(|(found, sign_up)| SignUpStep { found, sign_up }))
            })
            .await
    }

    async fn start_sign_up(
        &self,
        sign_up: &SignUp,
        new_client: Option<Client>,
        previous: Option<SignUpId>,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let row = FlowRow::of(sign_up)?;
        self.pool
            .write(move |tx| {
                let previous = previous.as_ref().map(SignUpId::as_str);
                start_row::<SignUp>(tx, &row, new_client.as_ref(), previous, at)
            })
            .await
    }

    async fn complete_sign_up(
        &self,
        sign_up: &SignUp,
        user: &User,
        session: &Session,
        expected_token_hash: &str,
        new_token_hash: &str,
        events: &[NewEvent],
    ) -> Result<(), StoreError> {
        let (row, expected) = replacement(sign_up)?;
        let (user, session, events) = (user.clone(), session.clone(), events.to_vec());
        let tokens = (expected_token_hash.to_owned(), new_token_hash.to_owned());
        self.pool
            .write(move |tx| {
                replace_row::<SignUp>(tx, &row, expected)?;
                crate::clients::insert_user_with_session_on(
                    tx,
                    &user,
                    &session,
                    (&tokens.0, &tokens.1),
                    &events,
                )
            })
            .await
    }
}
