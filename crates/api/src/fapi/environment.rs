//! `/v1/environment`: the instance settings as clerk-js reads them.

use crate::error::ApiError;

use super::FapiReply;
use crate::{ApiState, render};

/// `GET`/`PATCH /v1/environment` (development browsers send PATCH).
pub fn read(state: &ApiState) -> Result<FapiReply, ApiError> {
    Ok(FapiReply::ok(render::environment(
        state.services.settings(),
        &state.config.instance_id,
    )))
}
