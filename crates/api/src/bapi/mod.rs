//! The Backend API: what a server holding the secret key calls. This module
//! authenticates; the route table routes; the handlers live in one module per
//! resource.

pub(crate) mod addresses;
pub(crate) mod audit;
pub(crate) mod instance;
pub(crate) mod sessions;
pub(crate) mod users;
pub(crate) mod webhooks;

use crate::error::{ApiError, EdgeError};

use crate::ApiState;
use crate::http::ApiRequest;

/// `Authorization: Bearer <secret key>`: the current key, or the one it
/// replaced while its overlap lasts, compared in constant time.
pub(crate) fn authenticate(state: &ApiState, req: &ApiRequest) -> Result<(), ApiError> {
    let given = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .unwrap_or("");
    if state.services.secret_keys.accepts(given) {
        return Ok(());
    }
    Err(EdgeError::SecretKeyInvalid.into())
}

/// A non-negative integer query parameter (`limit`, `offset`).
pub(crate) fn number(req: &ApiRequest, name: &str) -> Result<Option<u32>, ApiError> {
    req.query_param(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u32>().map_err(|_| {
                ApiError::param_format_invalid(
                    name,
                    format!("{name} must be a non-negative integer."),
                )
            })
        })
        .transpose()
}
