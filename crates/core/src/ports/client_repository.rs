//! Durable storage of clients and their sessions.

use async_trait::async_trait;
use mockall::automock;

use crate::error::StoreError;
use crate::model::{Client, ClientId, Session, SessionId, SessionStatus};

/// Filters for listing sessions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionQuery {
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Matches the stored status.
    pub status: Option<SessionStatus>,
    pub limit: u32,
    pub offset: u32,
}

/// Clients (devices) and the sessions they hold.
#[automock]
#[async_trait]
pub trait ClientRepository: Send + Sync {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Finds the client whose current token has this SHA-256 (hex). Earlier
    /// tokens of a rotated client MUST NOT match.
    async fn find_client_by_token_hash(
        &self,
        token_hash: &str,
    ) -> Result<Option<Client>, StoreError>;

    /// Replaces the stored client. MUST fail with `NotFound` if it does not exist.
    async fn update_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Deletes the client; its sessions stay, marked `removed`.
    async fn delete_client(&self, id: &ClientId) -> Result<(), StoreError>;

    /// Stores a new session and the updated client (new token, last active
    /// session) in one atomic step: both or neither.
    async fn insert_session(&self, session: &Session, client: &Client) -> Result<(), StoreError>;

    async fn get_session(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Replaces the stored session. MUST fail with `NotFound` if it does not exist.
    async fn update_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The sessions of one client, oldest first.
    async fn sessions_of_client(&self, client_id: &ClientId) -> Result<Vec<Session>, StoreError>;

    /// Sessions matching `query`, newest first, paginated.
    async fn list_sessions(&self, query: &SessionQuery) -> Result<Vec<Session>, StoreError>;

    /// How many sessions match `query`, ignoring pagination.
    async fn count_sessions(&self, query: &SessionQuery) -> Result<u64, StoreError>;
}
