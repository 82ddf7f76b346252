//! The request as the handlers see it, and the response they build.

use std::net::SocketAddr;

use bytes::Bytes;
use serde_json::{Value, json};
use warp::http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use crate::error::{ApiError, ErrorKind};

/// A parsed request: the effective method (after `_method`), the path, query
/// and body parameters, and the headers.
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Body,
    pub remote: Option<SocketAddr>,
}

/// The longest value one parameter may have. Identifiers, passwords and codes
/// have tighter limits of their own; this one bounds every other field.
pub const MAX_PARAM_BYTES: usize = 4096;

fn check_size(name: &str, value: &str) -> Result<(), ApiError> {
    if value.len() > MAX_PARAM_BYTES {
        return Err(ApiError::param_value_invalid(
            name,
            format!("{name} must be at most {MAX_PARAM_BYTES} bytes long."),
        ));
    }
    Ok(())
}

/// A request body: form fields, a JSON document, or nothing.
pub enum Body {
    Empty,
    Form(Vec<(String, String)>),
    Json(Value),
}

impl ApiRequest {
    pub fn parse(
        method: Method,
        path: String,
        raw_query: Option<String>,
        headers: HeaderMap,
        body: Bytes,
        remote: Option<SocketAddr>,
    ) -> Result<Self, ApiError> {
        let query: Vec<(String, String)> = match raw_query.as_deref() {
            Some(q) => serde_urlencoded::from_str(q).map_err(|_| {
                ApiError::param_format_invalid("query", "The query string is malformed.")
            })?,
            None => Vec::new(),
        };
        // Browsers and clerk-js send PATCH/PUT/DELETE as POST with `_method`.
        let method = match (method, query.iter().find(|(k, _)| k == "_method")) {
            (Method::POST, Some((_, m))) => match m.to_ascii_uppercase().as_str() {
                "PATCH" => Method::PATCH,
                "PUT" => Method::PUT,
                "DELETE" => Method::DELETE,
                "POST" => Method::POST,
                _ => {
                    return Err(ApiError::param_value_invalid(
                        "_method",
                        "_method must be PATCH, PUT or DELETE.",
                    ));
                }
            },
            (m, _) => m,
        };
        let body = parse_body(&headers, &body)?;
        Ok(Self {
            method,
            path,
            query,
            headers,
            body,
            remote,
        })
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated query parameter (`k=a&k=b` or `k[]=a&k[]=b`).
    pub fn query_all(&self, name: &str) -> Vec<String> {
        let bracketed = format!("{name}[]");
        self.query
            .iter()
            .filter(|(k, _)| k == name || *k == bracketed)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then_some(v)
            })
    }

    /// A body parameter as a string: a form field, or a JSON string, number
    /// or bool, at most [`MAX_PARAM_BYTES`] long.
    pub fn param(&self, name: &str) -> Result<Option<String>, ApiError> {
        let value = self.raw_param(name)?;
        if let Some(v) = &value {
            check_size(name, v)?;
        }
        Ok(value)
    }

    fn raw_param(&self, name: &str) -> Result<Option<String>, ApiError> {
        match &self.body {
            Body::Empty => Ok(None),
            Body::Form(fields) => Ok(fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())),
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(ApiError::param_format_invalid(
                    name,
                    format!("{name} must be a string."),
                )),
            },
        }
    }

    /// A parameter that may be a string or a list of strings, each at most
    /// [`MAX_PARAM_BYTES`] long.
    pub fn param_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let values = self.raw_param_list(name)?;
        for v in &values {
            check_size(name, v)?;
        }
        Ok(values)
    }

    fn raw_param_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        match &self.body {
            Body::Empty => Ok(Vec::new()),
            Body::Form(fields) => {
                let bracketed = format!("{name}[]");
                Ok(fields
                    .iter()
                    .filter(|(k, _)| k == name || *k == bracketed)
                    .map(|(_, v)| v.clone())
                    .collect())
            }
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| {
                        v.as_str().map(str::to_owned).ok_or_else(|| {
                            ApiError::param_format_invalid(
                                name,
                                format!("{name} must be a list of strings."),
                            )
                        })
                    })
                    .collect(),
                Some(_) => Err(ApiError::param_format_invalid(
                    name,
                    format!("{name} must be a list of strings."),
                )),
            },
        }
    }

    pub fn param_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.param(name)?.as_deref() {
            None | Some("") => Ok(None),
            Some("true") | Some("1") => Ok(Some(true)),
            Some("false") | Some("0") => Ok(Some(false)),
            Some(_) => Err(ApiError::param_format_invalid(
                name,
                format!("{name} must be true or false."),
            )),
        }
    }

    /// A JSON object parameter (metadata); form bodies carry it as JSON text.
    pub fn param_object(&self, name: &str) -> Result<Option<Value>, ApiError> {
        let invalid =
            || ApiError::param_format_invalid(name, format!("{name} must be a JSON object."));
        match &self.body {
            Body::Json(doc) => match doc.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
                Some(_) => Err(invalid()),
            },
            _ => match self.param(name)? {
                None => Ok(None),
                Some(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .filter(Value::is_object)
                    .map(Some)
                    .ok_or_else(invalid),
            },
        }
    }

    /// Whether the body has this key at all (JSON `null` included), for
    /// updates where `null` clears a field.
    pub fn has_param(&self, name: &str) -> bool {
        match &self.body {
            Body::Empty => false,
            Body::Form(fields) => fields.iter().any(|(k, _)| k == name),
            Body::Json(doc) => doc.get(name).is_some(),
        }
    }
}

fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Body, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Body::Empty);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/json") {
        let doc: Value = serde_json::from_slice(body).map_err(|_| {
            ApiError::param_format_invalid("body", "The request body is not valid JSON.")
        })?;
        if !doc.is_object() {
            return Err(ApiError::param_format_invalid(
                "body",
                "The request body must be a JSON object.",
            ));
        }
        Ok(Body::Json(doc))
    } else {
        // clerk-js sends forms; a missing content type is read as a form too.
        let fields = serde_urlencoded::from_bytes(body).map_err(|_| {
            ApiError::param_format_invalid("body", "The request body is not a valid form.")
        })?;
        Ok(Body::Form(fields))
    }
}

/// A response: status, JSON body and extra headers.
pub struct ApiResponse {
    pub status: StatusCode,
    pub body: Option<Value>,
    /// A JSON body serialised already; sent instead of `body` when set.
    pub text: Option<String>,
    pub headers: HeaderMap,
}

impl ApiResponse {
    pub fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            text: None,
            headers: HeaderMap::new(),
        }
    }

    /// A JSON body given as text, for answers assembled from parts that
    /// were serialised once.
    pub fn json_text(status: StatusCode, text: String) -> Self {
        Self {
            status,
            body: None,
            text: Some(text),
            headers: HeaderMap::new(),
        }
    }

    pub fn ok(body: Value) -> Self {
        Self::json(StatusCode::OK, body)
    }

    pub fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            text: None,
            headers: HeaderMap::new(),
        }
    }

    pub fn with_header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    /// Clerk's error envelope.
    pub fn error(err: &ApiError, trace_id: &str) -> Self {
        let status = status_of(err.kind);
        let mut entry = json!({
            "code": err.code.as_str(),
            "message": err.message,
            "long_message": err.long_message,
        });
        let mut meta = serde_json::Map::new();
        if let Some(param) = &err.param_name {
            meta.insert("param_name".into(), Value::String(param.clone()));
        }
        for (key, value) in &err.meta {
            meta.insert((*key).to_owned(), value.clone());
        }
        entry["meta"] = Value::Object(meta);
        let mut resp = Self::json(
            status,
            json!({ "errors": [entry], "clerk_trace_id": trace_id }),
        );
        match err.kind {
            ErrorKind::TooManyRequests { retry_after_secs } => {
                resp = resp.with_header(header::RETRY_AFTER, &retry_after_secs.to_string());
            }
            // The rest of the body may still be on its way: the connection
            // cannot carry another request.
            ErrorKind::RequestTimeout => resp = resp.with_header(header::CONNECTION, "close"),
            _ => {}
        }
        resp
    }

    pub fn into_warp(self) -> warp::reply::Response {
        let text = self.text.or_else(|| self.body.map(|b| b.to_string()));
        let mut response = match text {
            Some(text) => {
                let mut r = warp::reply::Response::new(text.into());
                // @clerk/backend parses only an exact `application/json`.
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }
            None => warp::reply::Response::new(Default::default()),
        };
        *response.status_mut() = self.status;
        for (name, value) in self.headers.iter() {
            response.headers_mut().append(name, value.clone());
        }
        response
    }
}

/// The one place where error kinds become HTTP statuses.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
