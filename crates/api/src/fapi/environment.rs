//! `/v1/environment`: the instance settings as clerk-js reads them.

use warp::http::StatusCode;

use crate::error::ApiError;
use crate::http::ApiResponse;

use super::FapiReply;
use crate::{ApiState, render};

/// `GET`/`PATCH /v1/environment` (development browsers send PATCH).
pub fn read(state: &ApiState) -> Result<FapiReply, ApiError> {
    let environment = render::environment(&state.services.settings(), &state.config.instance_id);
    let text = serde_json::to_string(&environment)
        .map_err(|_| ApiError::internal("serialising the environment"))?;
    Ok(FapiReply {
        response: ApiResponse::json_text(StatusCode::OK, text),
        new_token: None,
        client_gone: false,
        client_uat: None,
    })
}
