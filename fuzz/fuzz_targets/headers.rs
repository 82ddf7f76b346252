//! What identifies a caller: the `__client` cookie, the `authorization`
//! header, `__clerk_db_jwt` and `_is_native` in the query, and the
//! `X-Forwarded-For` chain read for rate limits. Nothing may panic, and a
//! forwarded address counts only when the peer is a trusted proxy.

#![no_main]

use std::net::SocketAddr;

use http::{HeaderMap, HeaderValue, Method};
use latch_api::client_ip::{IpNet, client_ip};
use latch_api::fapi::ClientAuth;
use latch_api::http::ApiRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(4, '\n');
    let (cookie, authorization, forwarded, query) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("cookie", cookie),
        ("authorization", authorization),
        ("x-forwarded-for", forwarded),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
    let peer: SocketAddr = "10.1.2.3:4000".parse().expect("an address");
    let Ok(req) = ApiRequest::parse(
        Method::GET,
        "/v1/client".into(),
        Some(query.to_owned()),
        headers,
        bytes::Bytes::new(),
        Some(peer),
    ) else {
        return;
    };
    let _ = req.cookie("__client");
    let _ = ClientAuth::of(&req, true);
    let _ = ClientAuth::of(&req, false);
    // An untrusted peer is the client whatever it forwards.
    assert_eq!(client_ip(&req, &[]), Some(peer.ip()));
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("a network")];
    let ip = client_ip(&req, &trusted).expect("a peer is known");
    let _ = ip;
    if let Some(net) = forwarded.split(',').next() {
        let _ = net.trim().parse::<IpNet>();
    }
});
