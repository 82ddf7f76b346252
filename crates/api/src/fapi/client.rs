//! `/v1/client`: the device itself.

use serde_json::json;

use crate::error::ApiError;

use super::{FapiReply, wrap};
use crate::http::ApiResponse;
use crate::{ApiState, render};

/// `GET /v1/client`: the client, or `null` for none.
pub async fn read(state: &ApiState, token: Option<&str>) -> Result<FapiReply, ApiError> {
    let snapshot = state.services.clients.get_client(token).await?;
    // The client is the response too: rendered and serialised once.
    let client = match snapshot {
        Some(s) => render::client(&s, state.services.settings()).to_string(),
        None => "null".to_owned(),
    };
    Ok(FapiReply {
        response: ApiResponse::json_text(
            warp::http::StatusCode::OK,
            format!(r#"{{"response":{client},"client":{client}}}"#),
        ),
        new_token: None,
        client_gone: false,
    })
}

/// `PUT`/`POST /v1/client`: a new client with its own token.
pub async fn create(state: &ApiState) -> Result<FapiReply, ApiError> {
    let outcome = state.services.clients.create_client().await?;
    Ok(wrap(state, outcome, |s| {
        render::client(s, state.services.settings())
    }))
}

/// `DELETE /v1/client`: the client is forgotten, and so is its token.
pub async fn delete(state: &ApiState, token: Option<&str>) -> Result<FapiReply, ApiError> {
    let outcome = state.services.clients.delete_client(token).await?;
    let response = outcome
        .response
        .as_ref()
        .map(|s| render::client(s, state.services.settings()));
    Ok(FapiReply {
        response: ApiResponse::ok(json!({ "response": response, "client": null })),
        new_token: None,
        client_gone: true,
    })
}
