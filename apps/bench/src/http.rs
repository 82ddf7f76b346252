//! One HTTP/1.1 keep-alive connection per virtual user, on hyper directly,
//! so that the generator's own cost per request stays small.

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub const FORM: &str = "application/x-www-form-urlencoded";

/// A keep-alive connection to latch; reopened if the server closed it.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

/// A response read in full.
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, after checking the status.
    pub fn json(&self, want: u16) -> Result<serde_json::Value> {
        self.expect(want)?;
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }

    pub fn expect(&self, want: u16) -> Result<()> {
        if self.status != want {
            bail!(
                "HTTP {} (wanted {want}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(())
    }

    /// The client token latch sends back in native mode.
    pub fn client_token(&self) -> Option<String> {
        self.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self {
            addr,
            host: addr.to_string(),
            sender,
        })
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply> {
        if self.sender.is_closed() {
            *self = Self::open(self.addr).await?;
        }
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body))?;
        self.sender.ready().await?;
        let (parts, body) = self.sender.send_request(req).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    /// A native-mode Frontend API form POST with the given client token ("" for none).
    pub async fn post_form(&mut self, path: &str, token: &str, form: Bytes) -> Result<Reply> {
        self.send(
            Method::POST,
            path,
            &[("authorization", token), ("content-type", FORM)],
            form,
        )
        .await
    }
}

/// application/x-www-form-urlencoded escaping of one value.
pub fn form_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::form_escape;

    #[test]
    fn escapes_what_forms_must() {
        assert_eq!(
            form_escape("u1+clerk_test@example.com"),
            "u1%2Bclerk_test%40example.com"
        );
        assert_eq!(form_escape("a b&c=d"), "a%20b%26c%3Dd");
    }
}
