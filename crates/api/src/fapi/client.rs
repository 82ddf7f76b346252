//! `/v1/client`: the device itself.

use serde_json::json;

use crate::error::ApiError;

use super::{FapiReply, wrap};
use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};
use crate::render::Renderer;

/// `GET /v1/client`: the client, or `null` for none.
pub async fn read(
    state: &ApiState,
    req: &ApiRequest,
    token: Option<&str>,
) -> Result<FapiReply, ApiError> {
    let r = Renderer::for_client(state, req);
    let snapshot = state.services.clients.get_client(token).await?;
    // The client is the response too: rendered and serialised once.
    let client_uat = snapshot.as_ref().map(super::client_uat);
    let client = match snapshot {
        Some(s) => r.client_text(&s),
        None => "null".to_owned(),
    };
    Ok(FapiReply {
        response: ApiResponse::json_text(
            warp::http::StatusCode::OK,
            format!(r#"{{"response":{client},"client":{client}}}"#),
        ),
        new_token: None,
        client_gone: false,
        client_uat,
    })
}

/// `PUT`/`POST /v1/client`: a new client with its own token.
pub async fn create(state: &ApiState) -> Result<FapiReply, ApiError> {
    // A new client has no sessions: nothing to mint.
    let r = Renderer::new(state);
    let outcome = state.services.clients.create_client().await?;
    Ok(wrap(&r, outcome, |s| r.client(s)))
}

/// `DELETE /v1/client`: the client is forgotten, and so is its token.
pub async fn delete(state: &ApiState, token: Option<&str>) -> Result<FapiReply, ApiError> {
    let outcome = state.services.clients.delete_client(token).await?;
    // The client's sessions are gone with it: nothing to mint.
    let r = Renderer::new(state);
    let response = outcome.response.as_ref().map(|s| r.client(s));
    Ok(FapiReply {
        response: ApiResponse::ok(json!({ "response": response, "client": null })),
        new_token: None,
        client_gone: true,
        client_uat: None,
    })
}
