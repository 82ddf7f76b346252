//! `/v1/dev_browser`: development browsers that carry their client in URLs.

use serde_json::json;

use crate::error::{ApiError, EdgeError};
use latch_core::model::Environment;

use super::FapiReply;
use crate::ApiState;

/// `POST /v1/dev_browser`: a new client whose token clerk-js then appends as
/// `__clerk_db_jwt`. Development instances only.
pub async fn create(state: &ApiState) -> Result<FapiReply, ApiError> {
    if state.services.settings().environment != Environment::Development {
        return Err(EdgeError::NotServed("dev browser").into());
    }
    let token = state.services.clients.create_dev_browser().await?;
    Ok(FapiReply::ok(
        json!({ "object": "dev_browser", "id": token, "token": token }),
    ))
}
