//! Which hosts and origins name this machine. Pure string rules, shared by
//! the SMTP sender (cleartext AUTH only to a loopback relay), the API's CORS
//! check and the OAuth redirect check on a development instance.

use std::net::IpAddr;

/// Whether `host` names this machine: `localhost` or a loopback address
/// (an IPv6 one may be bracketed).
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').unwrap_or(host);
    let bare = bare.strip_suffix(']').unwrap_or(bare);
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `origin` is `http(s)://` and a loopback host with an optional
/// port, and nothing else (no path, no user info).
pub fn is_loopback_origin(origin: &str) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = match authority.strip_prefix('[') {
        // Brackets are the only way to write an IPv6 host with a port.
        Some(rest) => match rest.split_once(']') {
            Some((host, port))
                if host.contains(':')
                    && (port.is_empty() || port.strip_prefix(':').is_some_and(is_port)) =>
            {
                host
            }
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, port)) if is_port(port) => host,
            Some(_) => return false,
            None => authority,
        },
    };
    is_loopback_host(host)
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// `url` with `name=value` added to its query (before any fragment). Both
/// must be URL-safe already (a parameter name, a base64url nonce, an error
/// code): nothing is encoded.
/// `scheme://host[:port]` of an absolute http(s) URL, lower-cased; `None`
/// for anything else (relative, other schemes, user info, odd characters).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let valid = !authority.is_empty()
        && !authority.contains('@')
        && !authority.contains('\\')
        && authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    valid.then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

pub fn with_query(url: &str, name: &str, value: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let pair = format!("{name}={value}");
    match fragment {
        Some(f) => format!("{base}{sep}{pair}#{f}"),
        None => format!("{base}{sep}{pair}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_query_adds_a_pair_before_any_fragment() {
        for (url, expected) in [
            ("https://a.example/cb", "https://a.example/cb?k=v"),
            ("https://a.example/cb?x=1", "https://a.example/cb?x=1&k=v"),
            ("https://a.example/cb#top", "https://a.example/cb?k=v#top"),
            (
                "https://a.example/cb?x=1#top",
                "https://a.example/cb?x=1&k=v#top",
            ),
        ] {
            assert_eq!(with_query(url, "k", "v"), expected, "{url}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "LOCALHOST",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "smtp.example.com",
            "10.0.0.1",
            "localhost.example.com",
            "",
            "[]",
            "[localhost]x",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn loopback_origins_are_exactly_the_local_ones() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://127.0.0.1:8443",
            "http://127.0.0.1",
            "http://[::1]:5173",
            "http://[::1]:8080",
            "http://[::1]",
        ] {
            assert!(is_loopback_origin(ok), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example",
            "http://127.0.0.1.evil.example",
            "http://127.0.0.1.evil.example:80",
            "http://evil.example/localhost",
            "localhost:3000",
            "http://localhost:30a0",
            "http://localhost:",
            "http://[::1].evil",
            "http://[localhost]",
            "http://::1",
            "http://user@localhost",
            "ftp://localhost",
            "null",
        ] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }
}
