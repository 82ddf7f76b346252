//! The Backend API: what a server holding the secret key calls.

use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use warp::http::{Method, StatusCode};

use latch_core::model::{SessionStatus, UserPatch};
use latch_core::ports::{SessionQuery, UserQuery};
use latch_core::service::CreateUser;
use latch_core::{Error, ErrorCode, ErrorKind};

use crate::ApiState;
use crate::fapi::method_not_allowed;
use crate::http::{ApiRequest, ApiResponse};
use crate::render::{self, Audience};

/// Routes a Backend API request; `None` when no route has this path.
pub async fn handle(
    state: &ApiState,
    req: &ApiRequest,
    segs: &[&str],
) -> Option<Result<ApiResponse, Error>> {
    let known = matches!(
        segs,
        ["v1", "users"]
            | ["v1", "users", _]
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
    let latch = &state.latch;
    let user_json = |u: &latch_core::model::User| render::user(u, Audience::Backend);
    Some(match (req.method.clone(), segs) {
        (Method::POST, ["v1", "users"]) => match create_user_params(req) {
            Ok(params) => latch
                .create_user(params)
                .await
                .map(|u| ApiResponse::ok(user_json(&u))),
            Err(err) => Err(err),
        },
        (Method::GET, ["v1", "users"]) => match user_query(req) {
            Ok((query, limit)) => latch.list_users(query, limit).await.map(|page| {
                ApiResponse::ok(Value::Array(page.users.iter().map(user_json).collect()))
            }),
            Err(err) => Err(err),
        },
        (Method::GET, ["v1", "users", "count"]) => match user_query(req) {
            Ok((query, _)) => latch
                .count_users(query)
                .await
                .map(|n| ApiResponse::ok(json!({ "object": "total_count", "total_count": n }))),
            Err(err) => Err(err),
        },
        (Method::GET, ["v1", "users", id]) => latch
            .get_user(id)
            .await
            .map(|u| ApiResponse::ok(user_json(&u))),
        (Method::PATCH, ["v1", "users", id]) => match user_patch(req) {
            Ok(patch) => latch
                .update_user(id, patch)
                .await
                .map(|u| ApiResponse::ok(user_json(&u))),
            Err(err) => Err(err),
        },
        (Method::DELETE, ["v1", "users", id]) => latch
            .delete_user(id)
            .await
            .map(|()| ApiResponse::ok(json!({ "object": "user", "id": id, "deleted": true }))),
        (Method::GET, ["v1", "sessions"]) => list_sessions(state, req).await,
        (Method::GET, ["v1", "sessions", id]) => latch
            .get_session(id)
            .await
            .map(|s| ApiResponse::ok(render::session_bapi(&s))),
        (Method::POST, ["v1", "sessions", id, "revoke"]) => latch
            .revoke_session(id)
            .await
            .map(|s| ApiResponse::ok(render::session_bapi(&s))),
        (Method::GET, ["v1", "jwks"]) => Ok(ApiResponse::ok(state.keys.jwks())),
        _ => Err(method_not_allowed()),
    })
}

/// `Authorization: Bearer <secret key>`, compared in constant time.
fn authenticate(state: &ApiState, req: &ApiRequest) -> Result<(), Error> {
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    let expected = state.config.secret_key.as_bytes();
    if bool::from(given.as_bytes().ct_eq(expected)) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::Unauthenticated,
        ErrorCode::AuthenticationInvalid,
        "Invalid authentication",
        "The secret key in the Authorization header is missing or invalid.",
    ))
}

fn create_user_params(req: &ApiRequest) -> Result<CreateUser, Error> {
    Ok(CreateUser {
        email_addresses: req.param_list("email_address")?,
        phone_numbers: req.param_list("phone_number")?,
        username: req.param("username")?,
        password: req.param("password")?,
        password_digest: req.param("password_digest")?,
        password_hasher: req.param("password_hasher")?,
        skip_password_checks: req.param_bool("skip_password_checks")?.unwrap_or(false),
        first_name: req.param("first_name")?,
        last_name: req.param("last_name")?,
        external_id: req.param("external_id")?,
        public_metadata: req.param_object("public_metadata")?,
        private_metadata: req.param_object("private_metadata")?,
        unsafe_metadata: req.param_object("unsafe_metadata")?,
    })
}

fn user_patch(req: &ApiRequest) -> Result<UserPatch, Error> {
    // A present key with `null` clears the field; an absent key keeps it.
    let clearable = |name: &str| -> Result<Option<Option<String>>, Error> {
        if req.has_param(name) {
            Ok(Some(req.param(name)?))
        } else {
            Ok(None)
        }
    };
    Ok(UserPatch {
        username: clearable("username")?,
        password: req.param("password")?,
        skip_password_checks: req.param_bool("skip_password_checks")?.unwrap_or(false),
        first_name: clearable("first_name")?,
        last_name: clearable("last_name")?,
        external_id: clearable("external_id")?,
        primary_email_address_id: req.param("primary_email_address_id")?,
        primary_phone_number_id: req.param("primary_phone_number_id")?,
        public_metadata: req.param_object("public_metadata")?,
        private_metadata: req.param_object("private_metadata")?,
        unsafe_metadata: req.param_object("unsafe_metadata")?,
    })
}

fn number(req: &ApiRequest, name: &str) -> Result<Option<u32>, Error> {
    req.query_param(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u32>().map_err(|_| {
                Error::param_format_invalid(name, format!("{name} must be a non-negative integer."))
            })
        })
        .transpose()
}

fn user_query(req: &ApiRequest) -> Result<(UserQuery, Option<u32>), Error> {
    let order = req.query_param("order_by").unwrap_or("-created_at");
    let oldest_first = match order {
        "-created_at" => false,
        "+created_at" | "created_at" => true,
        _ => {
            return Err(Error::param_value_invalid(
                "order_by",
                "order_by must be -created_at or +created_at.",
            ));
        }
    };
    let query = UserQuery {
        user_ids: req.query_all("user_id"),
        email_addresses: req.query_all("email_address"),
        phone_numbers: req.query_all("phone_number"),
        usernames: req.query_all("username"),
        external_ids: req.query_all("external_id"),
        oldest_first,
        limit: 0,
        offset: number(req, "offset")?.unwrap_or(0),
    };
    Ok((query, number(req, "limit")?))
}

async fn list_sessions(state: &ApiState, req: &ApiRequest) -> Result<ApiResponse, Error> {
    let status = match req.query_param("status").filter(|s| !s.is_empty()) {
        Some(raw) => Some(
            SessionStatus::parse(raw)
                .ok_or_else(|| Error::param_value_invalid("status", "Unknown session status."))?,
        ),
        None => None,
    };
    let query = SessionQuery {
        user_id: req
            .query_param("user_id")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        client_id: req
            .query_param("client_id")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        status,
        now: Default::default(),
        limit: 0,
        offset: number(req, "offset")?.unwrap_or(0),
    };
    let page = state
        .latch
        .list_sessions(query, number(req, "limit")?)
        .await?;
    let data: Vec<Value> = page.sessions.iter().map(render::session_bapi).collect();
    if req.query_param("paginated") == Some("true") {
        Ok(ApiResponse::ok(
            json!({ "data": data, "total_count": page.total_count }),
        ))
    } else {
        Ok(ApiResponse::json(StatusCode::OK, Value::Array(data)))
    }
}
