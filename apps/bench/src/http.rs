//! One HTTP/1.1 keep-alive connection per virtual user, written and read
//! in the virtual user's own task: a request is one write, its response one
//! or two reads, with no connection task or channel between them. The
//! generator shares the machine's cores with latch, so every microsecond it
//! spends per request is taken from what it measures (hyper's client, with
//! its connection task and the wake-ups between the two, cost about twice
//! as much per request).

use std::net::SocketAddr;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::Method;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const FORM: &str = "application/x-www-form-urlencoded";

/// Most headers a response of latch's may carry.
const MAX_HEADERS: usize = 64;

/// A keep-alive connection to latch; reopened if the server closed it.
pub struct Conn {
    addr: SocketAddr,
    host: String,
    /// `None` once the server said it closes the connection, or an
    /// exchange on it failed: the next request opens another.
    stream: Option<TcpStream>,
    /// What the request is written into, kept between requests.
    out: Vec<u8>,
    /// Bytes read and not yet taken by a response.
    buf: Vec<u8>,
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

/// Where a response's head ends and how its body is framed.
struct Head {
    status: u16,
    headers: HeaderMap,
    len: usize,
    content_length: usize,
    close: bool,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Self> {
        let mut conn = Self {
            addr,
            host: addr.to_string(),
            stream: None,
            out: Vec::with_capacity(512),
            buf: Vec::with_capacity(8192),
        };
        conn.stream = Some(connect(addr).await?);
        Ok(conn)
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Reply> {
        self.out.clear();
        self.out.extend_from_slice(method.as_str().as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(path.as_bytes());
        self.out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        self.out.extend_from_slice(self.host.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        for (name, value) in headers {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value.as_bytes());
            self.out.extend_from_slice(b"\r\n");
        }
        if !body.is_empty() || !matches!(method, Method::GET | Method::HEAD) {
            self.out
                .extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(&body);
        self.exchange(method == Method::HEAD).await
    }

    /// Writes the request in `out` and reads its response. The connection
    /// is kept only after a whole response that did not close it.
    async fn exchange(&mut self, head_only: bool) -> Result<Reply> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => {
                self.buf.clear();
                connect(self.addr).await?
            }
        };
        stream.write_all(&self.out).await?;
        let head = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            read_more(&mut stream, &mut self.buf).await?;
        };
        let body_len = if head_only { 0 } else { head.content_length };
        while self.buf.len() < head.len + body_len {
            read_more(&mut stream, &mut self.buf).await?;
        }
        let body = Bytes::copy_from_slice(&self.buf[head.len..head.len + body_len]);
        self.buf.drain(..head.len + body_len);
        if !head.close {
            self.stream = Some(stream);
        }
        Ok(Reply {
            status: head.status,
            headers: head.headers,
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

async fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads what the server has sent next onto `buf`; an error if it closed.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<()> {
    buf.reserve(8192);
    if stream.read_buf(buf).await? == 0 {
        bail!("latch closed the connection mid-response");
    }
    Ok(())
}

/// The response head at the start of `buf`, once it is all there. Latch
/// frames every body it sends by its length.
fn parse_head(buf: &[u8]) -> Result<Option<Head>> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(buf).context("reading a response head")? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    let (mut content_length, mut close) = (0, false);
    for header in response.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes())?;
        let value = HeaderValue::from_bytes(header.value)?;
        if name == hyper::header::CONTENT_LENGTH {
            content_length = value.to_str()?.trim().parse()?;
        } else if name == hyper::header::TRANSFER_ENCODING {
            bail!("a response framed by transfer-encoding, which the bench does not read");
        } else if name == hyper::header::CONNECTION {
            close = value.as_bytes().eq_ignore_ascii_case(b"close");
        }
        headers.append(name, value);
    }
    Ok(Some(Head {
        status: response.code.context("a response without a status")?,
        headers,
        len,
        content_length,
        close,
    }))
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
    #![allow(clippy::unwrap_used)]

    use super::{form_escape, parse_head};

    #[test]
    fn escapes_what_forms_must() {
        assert_eq!(
            form_escape("u1+clerk_test@example.com"),
            "u1%2Bclerk_test%40example.com"
        );
        assert_eq!(form_escape("a b&c=d"), "a%20b%26c%3Dd");
    }

    #[test]
    fn reads_a_response_head_once_it_is_whole() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nauthorization: tok\r\n\r\nhello";
        assert!(parse_head(&head[..20]).unwrap().is_none());
        let parsed = parse_head(head).unwrap().unwrap();
        assert_eq!(parsed.status, 200);
        assert_eq!(parsed.len, head.len() - 5);
        assert_eq!(parsed.content_length, 5);
        assert!(!parsed.close);
        assert_eq!(parsed.headers["authorization"], "tok");
        let closing = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(parse_head(closing).unwrap().unwrap().close);
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).is_err());
    }
}
