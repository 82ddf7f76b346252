//! The client's IP address, for rate limits: the socket's peer, unless that
//! peer is a proxy the operator trusts, in which case the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy.

use std::net::IpAddr;
use std::str::FromStr;

use crate::http::ApiRequest;

/// An address or a network in CIDR notation (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32, self.prefix)
                    == masked(u128::from(u32::from(ip)), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix)
                    == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// The top `prefix` bits of a `width`-bit address.
fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?;
        let addr = addr.to_canonical();
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("{s:?} has a prefix length outside 0..={width}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// Where a request comes from, as a session it starts keeps it: the client's
/// address (as [`client_ip`] finds it) and its User-Agent.
pub fn session_origin(req: &ApiRequest, trusted: &[IpNet]) -> latch_core::model::SessionOrigin {
    latch_core::model::SessionOrigin::of_request(
        client_ip(req, trusted).map(|ip| ip.to_string()),
        req.header("user-agent"),
    )
}

/// The scheme the browser used to reach Latch: `https` when Latch serves
/// TLS itself, or when a proxy the operator runs (`trusted_proxies`) says
/// it took the request over HTTPS (`X-Forwarded-Proto`); else `http`.
pub fn request_scheme(config: &crate::ApiConfig, req: &ApiRequest) -> &'static str {
    let trusted = |ip: IpAddr| {
        config
            .trusted_proxies
            .iter()
            .any(|net| net.contains(ip.to_canonical()))
    };
    let proxied_https = req.remote.is_some_and(|peer| trusted(peer.ip()))
        && req
            .header("x-forwarded-proto")
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    if config.tls || proxied_https {
        "https"
    } else {
        "http"
    }
}

/// The client address of `req`; `None` when the socket's peer is unknown.
pub fn client_ip(req: &ApiRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.remote?.ip().to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    // Each proxy appends the address it received the request from, so the
    // list is read from the right, through the proxies the operator runs, to
    // the first address a trusted proxy vouches for but did not add itself.
    let mut client = peer;
    for header in req.headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(header) = header.to_str() else {
            return Some(client);
        };
        for hop in header.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                return Some(client);
            };
            client = ip.to_canonical();
            if !is_trusted(client) {
                return Some(client);
            }
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use warp::http::{HeaderMap, HeaderValue, Method};

    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> ApiRequest {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        ApiRequest::parse(
            Method::GET,
            "/v1/client".into(),
            None,
            headers,
            bytes::Bytes::new(),
            Some(format!("{peer}:4000").parse().unwrap()),
        )
        .unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let req = request("203.0.113.9", &["198.51.100.1"]);
        assert_eq!(client_ip(&req, &[]), ip("203.0.113.9"));
        assert_eq!(client_ip(&req, &nets(&["10.0.0.0/8"])), ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_chain_is_read_from_the_right() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client put a fake address first; the proxies appended the rest.
        let req = request("10.0.0.2", &["6.6.6.6, 198.51.100.7", "10.0.0.1"]);
        assert_eq!(client_ip(&req, &trusted), ip("198.51.100.7"));
        let req = request("10.0.0.2", &[]);
        assert_eq!(
            client_ip(&req, &trusted),
            ip("10.0.0.2"),
            "no header: the proxy"
        );
        let req = request("10.0.0.2", &["garbage"]);
        assert_eq!(
            client_ip(&req, &trusted),
            ip("10.0.0.2"),
            "unreadable: the proxy"
        );
    }

    #[test]
    fn networks_parse_and_match_by_prefix() {
        let net: IpNet = "192.168.4.0/22".parse().unwrap();
        assert!(net.contains("192.168.7.255".parse().unwrap()));
        assert!(!net.contains("192.168.8.0".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.5.1".parse().unwrap()));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(!v6.contains("192.168.5.1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("example.com".parse::<IpNet>().is_err());
        let single: IpNet = "127.0.0.1".parse().unwrap();
        assert!(single.contains("127.0.0.1".parse().unwrap()));
        assert!(!single.contains("127.0.0.2".parse().unwrap()));
    }
}
