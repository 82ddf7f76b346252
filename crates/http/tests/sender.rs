//! The HTTP code sender against a real HTTP receiver on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use warp::Filter;
use warp::http::{HeaderMap, StatusCode};

use latch_core::ports::{CodeDestination, CodeMessage, CodePurpose, CodeSender};
use latch_http::{HttpCodeSender, HttpFormat, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};

type Seen = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A receiver that records requests and answers `status`.
async fn receiver(status: StatusCode) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let keep = Arc::clone(&seen);
    let route = warp::post()
        .and(warp::header::headers_cloned())
        .and(warp::body::bytes())
        .map(move |headers, body| {
            keep.lock().unwrap().push((headers, body));
            warp::reply::with_status("ok", status)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (format!("http://{addr}/codes"), seen)
}

fn message(destination: CodeDestination) -> CodeMessage {
    CodeMessage {
        destination,
        code: "123456".into(),
        purpose: CodePurpose::SignIn,
        expires_in_minutes: 10,
    }
}

#[tokio::test]
async fn json_messages_are_signed_with_the_shared_secret() {
    let (url, seen) = receiver(StatusCode::OK).await;
    let sender = HttpCodeSender::new(
        url,
        HttpFormat::Json {
            secret: "s3cret".into(),
        },
        Duration::from_secs(5),
    )
    .unwrap();
    sender
        .send(&message(CodeDestination::Email("ann@example.com".into())))
        .await
        .unwrap();
    let (headers, body) = seen.lock().unwrap().pop().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["channel"], "email");
    assert_eq!(doc["to"], "ann@example.com");
    assert_eq!(doc["code"], "123456");
    assert_eq!(doc["purpose"], "sign_in");
    assert!(doc["text"].as_str().unwrap().contains("123456"));
    let timestamp: u64 = headers[TIMESTAMP_HEADER].to_str().unwrap().parse().unwrap();
    assert_eq!(
        headers[SIGNATURE_HEADER].to_str().unwrap(),
        signature("s3cret", timestamp, &body)
    );
    assert_ne!(
        headers[SIGNATURE_HEADER].to_str().unwrap(),
        signature("other", timestamp, &body)
    );
}

#[tokio::test]
async fn twilio_format_posts_a_form_with_basic_auth() {
    let (url, seen) = receiver(StatusCode::CREATED).await;
    let format = HttpFormat::Twilio {
        account_sid: "AC123".into(),
        auth_token: "tok".into(),
        from: "+15550001111".into(),
    };
    let sender = HttpCodeSender::new(url, format, Duration::from_secs(5)).unwrap();
    sender
        .send(&message(CodeDestination::Sms("+15550002222".into())))
        .await
        .unwrap();
    let (headers, body) = seen.lock().unwrap().pop().unwrap();
    let form: Vec<(String, String)> = serde_urlencoded_pairs(&body);
    assert!(form.contains(&("To".into(), "+15550002222".into())));
    assert!(form.contains(&("From".into(), "+15550001111".into())));
    assert!(
        form.iter()
            .any(|(k, v)| k == "Body" && v.contains("123456"))
    );
    // base64("AC123:tok")
    assert_eq!(headers["authorization"], "Basic QUMxMjM6dG9r");
    let email = sender
        .send(&message(CodeDestination::Email("ann@example.com".into())))
        .await;
    assert!(email.is_err(), "the twilio format sends SMS only");
}

#[tokio::test]
async fn provider_errors_and_dead_endpoints_are_send_errors() {
    let (url, _) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    let sender = HttpCodeSender::new(
        url,
        HttpFormat::Json { secret: "x".into() },
        Duration::from_secs(5),
    )
    .unwrap();
    assert!(
        sender
            .send(&message(CodeDestination::Sms("+15550002222".into())))
            .await
            .is_err()
    );
    // A port nothing listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/codes", dead.local_addr().unwrap());
    drop(dead);
    let sender = HttpCodeSender::new(
        url,
        HttpFormat::Json { secret: "x".into() },
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(
        sender
            .send(&message(CodeDestination::Sms("+15550002222".into())))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let route = warp::any().map(|| {
        warp::redirect::found(warp::http::Uri::from_static("http://127.0.0.1:9/elsewhere"))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    let sender = HttpCodeSender::new(
        format!("http://{addr}/"),
        HttpFormat::Json { secret: "x".into() },
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(
        sender
            .send(&message(CodeDestination::Sms("+15550002222".into())))
            .await
            .is_err(),
        "a 302 is not a delivery"
    );
}

fn serde_urlencoded_pairs(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
