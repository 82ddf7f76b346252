//! The core's `WebhookSender` port: signed event bodies POSTed to the
//! endpoints operators register.
//!
//! Endpoint URLs come from outside the server's trust, so each request is
//! bounded and kept off the server's own network:
//!
//! - the body is sent byte for byte (it is signed), as
//!   `application/json`, with a `Latch-Webhooks/<version>` user agent;
//! - redirects are never followed (a 3xx is returned as its status, which
//!   the core counts a failure), and proxy environment variables are
//!   ignored;
//! - one timeout bounds the whole request: connecting, the answer and the
//!   body;
//! - at most [`WebhookSenderConfig::max_response_bytes`] of the body are
//!   read, then the connection is dropped: only the status counts;
//! - unless [`WebhookSenderConfig::allow_private_targets`] is set, no
//!   request goes to an address that is loopback, private, link-local
//!   (cloud metadata services), shared (CGNAT), unspecified, multicast or
//!   broadcast. IP literals are checked before sending; names are checked
//!   by the resolver the client connects through, on every address a name
//!   resolves to, so the addresses checked are the ones connected to.
//!
//! Errors are short texts for operators: no response body and no URL (which
//! may carry credentials) is put into them.

use std::error::Error as StdError;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use reqwest::{Url, redirect};

use latch_core::ports::{WebhookResponse, WebhookSender};

type BoxError = Box<dyn StdError + Send + Sync>;

/// The user agent of every webhook request.
const AGENT: &str = concat!("Latch-Webhooks/", env!("CARGO_PKG_VERSION"));

/// How webhook requests are bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSenderConfig {
    /// Bound on each request, from connecting to reading the body
    /// (default 15 s).
    pub timeout: Duration,
    /// The most of a response body read before the connection is dropped
    /// (default 64 KiB).
    pub max_response_bytes: usize,
    /// Send to loopback, private and link-local addresses too (default
    /// off; for tests and endpoints on the server's own network).
    pub allow_private_targets: bool,
}

impl Default for WebhookSenderConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            max_response_bytes: 64 * 1024,
            allow_private_targets: false,
        }
    }
}

/// Posts webhook messages over HTTP(S); see the [module](self) for the
/// rules each request follows.
pub struct HttpWebhookSender {
    client: reqwest::Client,
    config: WebhookSenderConfig,
}

impl HttpWebhookSender {
    /// Builds the client; fails only if the TLS backend cannot start.
    pub fn new(config: WebhookSenderConfig) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout);
        if !config.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicResolver));
        }
        let client = builder
            .build()
            .map_err(|e| format!("webhook http client: {e}"))?;
        Ok(Self { client, config })
    }

    /// The request for `url`, or why none is sent.
    fn request(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<reqwest::RequestBuilder, String> {
        let url = Url::parse(url).map_err(|e| format!("the endpoint URL is not valid ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("the endpoint URL must be http or https".to_owned());
        }
        let Some(host) = url.host_str() else {
            return Err("the endpoint URL has no host".to_owned());
        };
        // The URL parser writes IPv4 hosts in dotted decimal (`127.1` and
        // `0x7f.0.0.1` are `127.0.0.1`) and IPv6 hosts in brackets.
        let literal = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .parse::<IpAddr>()
            .ok();
        // The client connects to an IP literal without resolving it, so the
        // resolver never sees it: it is checked here.
        if let Some(ip) = literal
            && !self.config.allow_private_targets
            && is_forbidden(ip)
        {
            return Err(Forbidden(ip).to_string());
        }
        if literal.is_none() && !self.config.allow_private_targets && is_local_name(host) {
            // Worded as a forbidden address: `localhost` is one by definition.
            return Err(format!(
                "the target address {host} is private or loopback, which this server does not \
                 send webhooks to"
            ));
        }
        Ok(self
            .client
            .post(url)
            .headers(header_map(headers)?)
            .body(body.to_owned()))
    }
}

/// `content-type: application/json`, then `headers`; a header given
/// replaces a default of the same name.
fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    map.insert(USER_AGENT, HeaderValue::from_static(AGENT));
    let mut given: Vec<HeaderName> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("invalid value for the header {name}"))?;
        if given.contains(&name) {
            map.append(name, value);
        } else {
            map.insert(name.clone(), value);
            given.push(name);
        }
    }
    Ok(map)
}

/// `localhost` and its subdomains, which resolve to loopback by definition
/// (RFC 6761), whatever a resolver says.
fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    fn refuses(&self, url: &str) -> Option<String> {
        self.request(url, &[], "").err()
    }

    async fn post(&self, url: &str, headers: &[(String, String)], body: &str) -> WebhookResponse {
        let request = match self.request(url, headers, body) {
            Ok(request) => request,
            Err(error) => return failed(error),
        };
        let max = self.config.max_response_bytes;
        let exchange = async move {
            let mut response = request.send().await?;
            let status = response.status().as_u16();
            // Read (and discard) up to `max` bytes so a small answer leaves
            // the connection reusable; past that, dropping the response
            // drops the connection. The body must come within the timeout;
            // any other failure reading it does not change the answer: the
            // status counts.
            let mut read = 0usize;
            while read < max {
                match response.chunk().await {
                    Ok(Some(chunk)) => read = read.saturating_add(chunk.len()),
                    Err(error) if error.is_timeout() => return Err(error),
                    Ok(None) | Err(_) => break,
                }
            }
            Ok::<u16, reqwest::Error>(status)
        };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(Ok(status)) => WebhookResponse {
                status: Some(status),
                error: None,
            },
            Ok(Err(error)) => failed(describe(&error, self.config.timeout)),
            Err(_) => failed(timed_out(self.config.timeout)),
        }
    }
}

fn failed(error: String) -> WebhookResponse {
    WebhookResponse {
        status: None,
        error: Some(error),
    }
}

fn timed_out(timeout: Duration) -> String {
    format!("timed out after {} s", timeout.as_secs_f64())
}

/// An operator's text for a failed request: what failed and its innermost
/// cause. reqwest's own text (which names the URL) is left out.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    let mut cause: Option<&(dyn StdError + 'static)> = error.source();
    let mut innermost = None;
    while let Some(current) = cause {
        if let Some(forbidden) = current.downcast_ref::<Forbidden>() {
            return forbidden.to_string();
        }
        innermost = Some(current);
        cause = current.source();
    }
    if error.is_timeout() {
        return timed_out(timeout);
    }
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_builder() {
        "the request could not be made"
    } else {
        "the request failed"
    };
    match innermost {
        Some(cause) => format!("{what}: {cause}"),
        None => what.to_owned(),
    }
}

/// A target address webhooks are not sent to.
#[derive(Debug)]
struct Forbidden(IpAddr);

impl fmt::Display for Forbidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the target address {} is private or loopback, which this server does not send \
             webhooks to",
            self.0
        )
    }
}

impl StdError for Forbidden {}

/// Resolves names with the system resolver and fails when any address
/// is forbidden, so that a name cannot lead to an internal address.
struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
                return Err(Box::new(Forbidden(bad.ip())) as BoxError);
            }
            Ok::<Addrs, BoxError>(Box::new(addrs.into_iter()))
        })
    }
}

/// Whether webhooks may not be sent to `ip`: loopback, private,
/// unique-local, link-local, shared (CGNAT), unspecified, "this network"
/// (0/8), reserved (240/4, broadcast included) or multicast, and IPv6 forms
/// that carry such an IPv4 address (mapped, compatible, NAT64).
fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_forbidden_v4(ip),
        IpAddr::V6(ip) => is_forbidden_v6(ip),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    a == 0 // this network, the unspecified address included
        || ip.is_loopback() // 127/8
        || ip.is_private() // 10/8, 172.16/12, 192.168/16
        || ip.is_link_local() // 169.254/16, cloud metadata
        || (a == 100 && (64..128).contains(&b)) // 100.64/10, shared (CGNAT)
        || ip.is_multicast() // 224/4
        || a >= 240 // 240/4 reserved, 255.255.255.255 broadcast
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, :: and ::1 too).
    if let Some(v4) = ip.to_ipv4() {
        return is_forbidden_v4(v4);
    }
    // 64:ff9b::a.b.c.d, NAT64's well-known prefix, reaches that IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return is_forbidden_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || (segments[0] & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (segments[0] & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (segments[0] & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || ip.is_multicast() // ff00::/8
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn endpoints_that_can_never_be_sent_to_are_refused_as_they_are_saved() {
        let strict = HttpWebhookSender::new(WebhookSenderConfig::default()).unwrap();
        for url in [
            "http://127.0.0.1:3000/hooks",
            "http://localhost/hooks",
            "http://LOCALHOST./hooks",
            "http://api.localhost/hooks",
            "http://[::1]/hooks",
            "http://169.254.169.254/latest",
            "ftp://example.com/",
        ] {
            assert!(strict.refuses(url).is_some(), "{url}");
        }
        // A name is resolved only when sending.
        assert_eq!(strict.refuses("https://hooks.example.com/latch"), None);
        assert_eq!(strict.refuses("https://8.8.8.8/latch"), None);
        let open = HttpWebhookSender::new(WebhookSenderConfig {
            allow_private_targets: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(open.refuses("http://localhost:3000/hooks"), None);
        assert_eq!(open.refuses("http://127.0.0.1:3000/hooks"), None);
    }

    #[test]
    fn public_addresses_are_allowed() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.167.1.1",
            "169.253.1.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_forbidden(ip), "{ip} should be allowed");
        }
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fc00::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::192.168.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_forbidden(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn headers_replace_defaults_of_the_same_name() {
        let map = header_map(&[
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("svix-id".into(), "msg_1".into()),
        ])
        .unwrap();
        assert_eq!(map.get_all(CONTENT_TYPE).iter().count(), 1);
        assert_eq!(map[CONTENT_TYPE], "application/json; charset=utf-8");
        assert_eq!(map["svix-id"], "msg_1");
        assert_eq!(map[USER_AGENT], AGENT);
        assert!(header_map(&[("bad name".into(), "x".into())]).is_err());
        assert!(header_map(&[("x-ok".into(), "line\nbreak".into())]).is_err());
    }

    #[test]
    fn timeouts_are_worded_in_seconds() {
        assert_eq!(timed_out(Duration::from_secs(15)), "timed out after 15 s");
        assert_eq!(
            timed_out(Duration::from_millis(500)),
            "timed out after 0.5 s"
        );
    }
}
