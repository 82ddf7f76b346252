//! The Backend API: what a server holding the secret key calls. This module
//! authenticates and routes; the handlers live in one module per resource.

mod sessions;
mod users;

use subtle::ConstantTimeEq;
use warp::http::Method;

use crate::error::{ApiError, EdgeError};

use crate::ApiState;
use crate::fapi::method_not_allowed;
use crate::http::{ApiRequest, ApiResponse};

/// Routes a Backend API request; `None` when no route has this path.
pub async fn handle(
    state: &ApiState,
    req: &ApiRequest,
    segs: &[&str],
) -> Option<Result<ApiResponse, ApiError>> {
    let known = matches!(
        segs,
        ["v1", "users"]
            | ["v1", "users", _]
            | [
                "v1",
                "users",
                _,
                "lock" | "unlock" | "ban" | "unban" | "mfa" | "totp" | "backup_code"
            ]
            | ["v1", "phone_numbers", _]
            | ["v1", "users", _, "external_accounts", _]
            | ["v1", "sessions"]
            | ["v1", "sessions", _]
            | ["v1", "sessions", _, "revoke"]
            | ["v1", "jwks"]
    );
    if !known {
        return None;
    }
    if let Err(err) = authenticate(state, req) {
        return Some(Err(err));
    }
    Some(match (req.method.clone(), segs) {
        (Method::POST, ["v1", "users"]) => users::create(state, req).await,
        (Method::GET, ["v1", "users"]) => users::list(state, req).await,
        (Method::GET, ["v1", "users", "count"]) => users::count(state, req).await,
        (Method::GET, ["v1", "users", id]) => users::read(state, id).await,
        (Method::PATCH, ["v1", "users", id]) => users::update(state, req, id).await,
        (Method::DELETE, ["v1", "users", id]) => users::delete(state, id).await,
        (Method::POST, ["v1", "users", id, "lock"]) => users::lock(state, id).await,
        (Method::POST, ["v1", "users", id, "unlock"]) => users::unlock(state, id).await,
        (Method::POST, ["v1", "users", id, "ban"]) => users::ban(state, id).await,
        (Method::POST, ["v1", "users", id, "unban"]) => users::unban(state, id).await,
        (Method::DELETE, ["v1", "users", id, "mfa"]) => users::disable_mfa(state, id).await,
        (Method::DELETE, ["v1", "users", id, "totp"]) => users::delete_totp(state, id).await,
        (Method::DELETE, ["v1", "users", id, "backup_code"]) => {
            users::delete_backup_codes(state, id).await
        }
        (Method::DELETE, ["v1", "users", id, "external_accounts", account]) => {
            users::delete_external_account(state, id, account).await
        }
        (Method::GET, ["v1", "phone_numbers", id]) => users::read_phone_number(state, id).await,
        (Method::PATCH, ["v1", "phone_numbers", id]) => {
            users::update_phone_number(state, req, id).await
        }
        (Method::GET, ["v1", "sessions"]) => sessions::list(state, req).await,
        (Method::GET, ["v1", "sessions", id]) => sessions::read(state, id).await,
        (Method::POST, ["v1", "sessions", id, "revoke"]) => sessions::revoke(state, id).await,
        (Method::GET, ["v1", "jwks"]) => Ok(ApiResponse::ok(state.keys.jwks())),
        _ => Err(method_not_allowed()),
    })
}

/// `Authorization: Bearer <secret key>`, compared in constant time.
fn authenticate(state: &ApiState, req: &ApiRequest) -> Result<(), ApiError> {
    let given = req
        .header("authorization")
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .unwrap_or("");
    let expected = state.config.secret_key.as_bytes();
    if bool::from(given.as_bytes().ct_eq(expected)) {
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
