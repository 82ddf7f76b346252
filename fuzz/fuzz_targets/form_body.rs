//! A request body and query string as they arrive: form-encoded or JSON,
//! read through every accessor the handlers use. Nothing may panic.

#![no_main]

use http::{HeaderMap, HeaderValue, Method};
use latch_api::http::ApiRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    // The first byte picks the content type and splits query from body.
    let content_type = match selector % 4 {
        0 => "application/x-www-form-urlencoded",
        1 => "application/json",
        2 => "application/json; charset=utf-8",
        _ => "text/plain",
    };
    let split = usize::from(selector).min(rest.len());
    let (query, body) = rest.split_at(split);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    let query = std::str::from_utf8(query).ok().map(str::to_owned);
    let method = if selector & 0x80 == 0 { Method::POST } else { Method::GET };
    let Ok(req) = ApiRequest::parse(
        method,
        "/v1/client/sign_ins".into(),
        query,
        headers,
        bytes::Bytes::copy_from_slice(body),
        None,
    ) else {
        return;
    };
    for name in ["identifier", "password", "strategy", "code", "redirect_url", "_method"] {
        let _ = req.param(name);
        let _ = req.param_bool(name);
        let _ = req.query_param(name);
    }
    // Lists are read only under the names that may repeat.
    for name in latch_api::http::LIST_BODY_PARAMS {
        let _ = req.param(name);
        let _ = req.param_list(name);
    }
    for name in latch_api::http::LIST_QUERY_PARAMS {
        let _ = req.query_param(name);
        let _ = req.query_all(name);
    }
});
