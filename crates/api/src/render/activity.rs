//! A session's `latest_activity` (the Backend API's `session_activity`):
//! the device and browser read from the User-Agent it was made with, and
//! its address, and the city and country of that address when a local table
//! is configured (`server.geoip_file`, see [`crate::geoip`]). A string it
//! cannot tell is left out, not `null`, as Clerk's schema has it.
//!
//! The User-Agent is classified by a fixed list of tokens over at most
//! [`MAX_USER_AGENT_BYTES`] of it: bounded work whatever arrives. Tablets
//! count as mobile devices.

use serde::Serialize;
use serde_json::Value;

/// How much of a User-Agent is read.
pub const MAX_USER_AGENT_BYTES: usize = 512;

/// Longest run of digits read as one part of a version.
const MAX_VERSION_DIGITS: usize = 8;

/// What a session's activity is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct Activity<'a> {
    /// The activity's id.
    pub id: &'a str,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Where the address is, if the table knows.
    pub place: Option<&'a crate::geoip::Place>,
}

/// Clerk's `SessionActivityResponse`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct LatestActivity<'a> {
    object: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_type: Option<&'static str>,
    is_mobile: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    browser_name: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    browser_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
}

impl<'a> LatestActivity<'a> {
    pub fn of(activity: &Activity<'a>) -> Self {
        let agent = activity.user_agent.map(Agent::parse).unwrap_or_default();
        let (browser_name, browser_version) = match agent.browser {
            Some(b) => (Some(b.name), b.version),
            None => (None, None),
        };
        LatestActivity {
            object: "session_activity",
            id: activity.id,
            device_type: agent.device.map(Device::name),
            is_mobile: agent.device.is_some_and(Device::is_mobile),
            browser_name,
            browser_version,
            ip_address: activity.ip_address.filter(|ip| !ip.is_empty()),
            city: activity.place.and_then(|p| p.city.as_deref()),
            country: activity.place.and_then(|p| p.country.as_deref()),
        }
    }
}

/// The `latest_activity` object of a session.
pub fn latest_activity(activity: &Activity) -> Value {
    serde_json::to_value(LatestActivity::of(activity)).unwrap_or(Value::Null)
}

/// What a User-Agent says of its device and browser.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Agent {
    pub device: Option<Device>,
    pub browser: Option<Browser>,
}

/// A browser, or another HTTP client, with its `major.minor` version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    pub name: &'static str,
    pub version: Option<String>,
}

/// The kind of device a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    IPhone,
    IPad,
    IPod,
    Android,
    WindowsPhone,
    Windows,
    Macintosh,
    ChromeOs,
    Linux,
}

impl Device {
    pub const fn name(self) -> &'static str {
        match self {
            Device::IPhone => "iPhone",
            Device::IPad => "iPad",
            Device::IPod => "iPod",
            Device::Android => "Android",
            Device::WindowsPhone => "Windows Phone",
            Device::Windows => "Windows",
            Device::Macintosh => "Macintosh",
            Device::ChromeOs => "Chrome OS",
            Device::Linux => "Linux",
        }
    }

    /// Phones and tablets.
    pub const fn is_mobile(self) -> bool {
        matches!(
            self,
            Device::IPhone | Device::IPad | Device::IPod | Device::Android | Device::WindowsPhone
        )
    }
}

/// Devices by the token that names them, the more specific first: Windows
/// Phone agents also say "Android", iOS ones "like Mac OS X", Android and
/// Chrome OS ones "Linux".
const DEVICES: &[(&str, Device)] = &[
    ("Windows Phone", Device::WindowsPhone),
    ("iPad", Device::IPad),
    ("iPhone", Device::IPhone),
    ("iPod", Device::IPod),
    ("Android", Device::Android),
    ("Windows", Device::Windows),
    ("Macintosh", Device::Macintosh),
    ("Mac OS X", Device::Macintosh),
    ("CrOS", Device::ChromeOs),
    ("Linux", Device::Linux),
    ("X11", Device::Linux),
];

/// Browsers and other clients by their product token (`token/version`), the
/// more specific first: Edge, Opera and Samsung Internet also say "Chrome",
/// Chromium-based and iOS browsers all say "Safari".
const BROWSERS: &[(&str, &str)] = &[
    ("SamsungBrowser/", "Samsung Internet"),
    ("OPR/", "Opera"),
    ("OPiOS/", "Opera"),
    ("Edg/", "Edge"),
    ("EdgA/", "Edge"),
    ("EdgiOS/", "Edge"),
    ("Edge/", "Edge"),
    ("FxiOS/", "Firefox"),
    ("Firefox/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    // Safari's own version is in `Version/`; its `Safari/` token is WebKit's.
    ("Version/", "Safari"),
];

/// Clients that are no browser (apps, servers), by the product token their
/// User-Agent starts with.
const CLIENTS: &[(&str, &str)] = &[
    ("Expo/", "Expo"),
    ("okhttp/", "okhttp"),
    ("curl/", "curl"),
    ("node-fetch/", "Node.js"),
    ("undici", "Node.js"),
    ("node", "Node.js"),
    ("python-requests/", "python-requests"),
    ("Go-http-client/", "Go"),
];

impl Agent {
    /// Reads at most [`MAX_USER_AGENT_BYTES`] of `user_agent`.
    pub fn parse(user_agent: &str) -> Agent {
        let ua = head(user_agent, MAX_USER_AGENT_BYTES);
        let device = DEVICES
            .iter()
            .find(|(token, _)| ua.contains(token))
            .map(|(_, device)| *device);
        let browser = BROWSERS
            .iter()
            .find_map(|(token, name)| {
                let at = ua.find(token)?;
                // `Version/` alone is any WebKit browser's; Safari also says `Safari/`.
                if *token == "Version/" && !ua.contains("Safari/") {
                    return None;
                }
                Some(Browser::at(name, &ua[at + token.len()..]))
            })
            .or_else(|| {
                CLIENTS.iter().find_map(|(token, name)| {
                    let rest = ua.strip_prefix(token)?;
                    // A bare name is the whole token, or followed by `/version`.
                    let rest = if token.ends_with('/') || rest.is_empty() {
                        rest
                    } else {
                        rest.strip_prefix('/')?
                    };
                    Some(Browser::at(name, rest))
                })
            });
        Agent { device, browser }
    }
}

impl Browser {
    /// `name`, its version read from the start of `rest`.
    fn at(name: &'static str, rest: &str) -> Browser {
        Browser {
            name,
            version: version(rest),
        }
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn head(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `major.minor` (or `major`) from the start of `text`, e.g. "120.0" from
/// "120.0.6099.109 Safari".
fn version(text: &str) -> Option<String> {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let major = digits(text);
    if major == 0 || major > MAX_VERSION_DIGITS {
        return None;
    }
    let after = &text[major..];
    let minor = after.strip_prefix('.').map_or(0, digits);
    if minor > MAX_VERSION_DIGITS {
        return Some(text[..major].to_owned());
    }
    let end = if minor > 0 { major + 1 + minor } else { major };
    Some(text[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `(device, is_mobile, browser, version)` of a User-Agent.
    fn read(
        ua: &str,
    ) -> (
        Option<&'static str>,
        bool,
        Option<&'static str>,
        Option<String>,
    ) {
        let agent = Agent::parse(ua);
        (
            agent.device.map(Device::name),
            agent.device.is_some_and(Device::is_mobile),
            agent.browser.as_ref().map(|b| b.name),
            agent.browser.and_then(|b| b.version),
        )
    }

    fn check(
        ua: &str,
        device: Option<&str>,
        mobile: bool,
        browser: Option<&str>,
        version: Option<&str>,
    ) {
        let (d, m, b, v) = read(ua);
        assert_eq!(
            (d, m, b, v.as_deref()),
            (device, mobile, browser, version),
            "{ua}"
        );
    }

    #[test]
    fn desktop_browsers() {
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Windows"),
            false,
            Some("Chrome"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            Some("Windows"),
            false,
            Some("Edge"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
            Some("Windows"),
            false,
            Some("Opera"),
            Some("106.0"),
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
            Some("Linux"),
            false,
            Some("Firefox"),
            Some("121.0"),
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2.1 Safari/605.1.15",
            Some("Macintosh"),
            false,
            Some("Safari"),
            Some("17.2"),
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
            Some("Macintosh"),
            false,
            Some("Chrome"),
            Some("119.0"),
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chromium/120.0.6099.109 Chrome/120.0.6099.109 Safari/537.36",
            Some("Linux"),
            false,
            Some("Chromium"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            Some("Chrome OS"),
            false,
            Some("Chrome"),
            Some("120.0"),
        );
    }

    #[test]
    fn mobile_browsers() {
        check(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
            Some("Android"),
            true,
            Some("Chrome"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1",
            Some("iPhone"),
            true,
            Some("Chrome"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 EdgA/120.0.2210.115",
            Some("Android"),
            true,
            Some("Edge"),
            Some("120.0"),
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 EdgiOS/120.2210.126 Mobile/15E148 Safari/605.1.15",
            Some("iPhone"),
            true,
            Some("Edge"),
            Some("120.2210"),
        );
        check(
            "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
            Some("Android"),
            true,
            Some("Firefox"),
            Some("121.0"),
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
            Some("iPhone"),
            true,
            Some("Firefox"),
            Some("121.0"),
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            Some("iPhone"),
            true,
            Some("Safari"),
            Some("17.2"),
        );
        check(
            "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            Some("iPad"),
            true,
            Some("Safari"),
            Some("17.2"),
        );
        check(
            "Mozilla/5.0 (Linux; Android 10; VOG-L29) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 OPR/79.2.4195.76718",
            Some("Android"),
            true,
            Some("Opera"),
            Some("79.2"),
        );
        check(
            "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
            Some("Android"),
            true,
            Some("Samsung Internet"),
            Some("23.0"),
        );
        check(
            "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
            Some("Windows Phone"),
            true,
            Some("Edge"),
            Some("15.15063"),
        );
    }

    #[test]
    fn clients_that_are_no_browser() {
        check("okhttp/4.9.2", None, false, Some("okhttp"), Some("4.9"));
        check("curl/8.4.0", None, false, Some("curl"), Some("8.4"));
        check("node", None, false, Some("Node.js"), None);
        check("undici", None, false, Some("Node.js"), None);
        check(
            "Expo/2.30.0 CFNetwork/1492.0.1 Darwin/23.3.0",
            None,
            false,
            Some("Expo"),
            Some("2.30"),
        );
        check(
            "python-requests/2.31.0",
            None,
            false,
            Some("python-requests"),
            Some("2.31"),
        );
        check("Go-http-client/1.1", None, false, Some("Go"), Some("1.1"));
        // An Android WebView app is still Chrome on Android.
        check(
            "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36",
            Some("Android"),
            true,
            Some("Chrome"),
            Some("116.0"),
        );
    }

    #[test]
    fn nothing_known_says_nothing() {
        for ua in [
            "",
            " ",
            "Mozilla/5.0",
            "MyApp/1.0",
            "Version/1.0",
            "nodes",
            "my node",
        ] {
            assert_eq!(read(ua), (None, false, None, None), "{ua}");
        }
        // A product token without a number has a name and no version.
        check("Chrome/x", None, false, Some("Chrome"), None);
        check("Firefox/", None, false, Some("Firefox"), None);
        check("node/20.11.0", None, false, Some("Node.js"), Some("20.11"));
    }

    #[test]
    fn versions_are_major_and_minor_and_bounded() {
        assert_eq!(version("120.0.6099.109 Safari").as_deref(), Some("120.0"));
        assert_eq!(version("17").as_deref(), Some("17"));
        assert_eq!(version("17.").as_deref(), Some("17"));
        assert_eq!(version("17.x").as_deref(), Some("17"));
        assert_eq!(version("x17"), None);
        assert_eq!(version(&"9".repeat(9)), None);
        assert_eq!(
            version(&format!("1.{}", "2".repeat(9))).as_deref(),
            Some("1")
        );
    }

    #[test]
    fn a_huge_or_garbage_user_agent_is_read_only_in_its_head() {
        // 10 KB of noise, then tokens past the head that must not count.
        let noise: String = (0..10_240u32)
            .map(|i| char::from_u32(0x20 + (i * 7919) % 0x5f).unwrap_or('x'))
            .collect();
        let late = format!("{noise} (iPhone) Chrome/1.2");
        assert_eq!(read(&late), (None, false, None, None));
        // Multibyte characters at the cut.
        let wide = "é".repeat(6_000);
        assert_eq!(read(&wide), (None, false, None, None));
        assert_eq!(
            head(&wide, MAX_USER_AGENT_BYTES).len(),
            MAX_USER_AGENT_BYTES
        );
        let odd = format!("a{wide}");
        assert_eq!(
            head(&odd, MAX_USER_AGENT_BYTES).len(),
            MAX_USER_AGENT_BYTES - 1
        );
        // Tokens in the head still count.
        let early = format!("Mozilla/5.0 (Macintosh) Firefox/99.1 {noise}");
        assert_eq!(
            read(&early),
            (
                Some("Macintosh"),
                false,
                Some("Firefox"),
                Some("99.1".to_owned())
            )
        );
    }

    #[test]
    fn the_activity_has_clerks_shape() {
        let place = crate::geoip::Place {
            city: Some("Wellington".into()),
            country: Some("NZ".into()),
        };
        let full = latest_activity(&Activity {
            place: Some(&place),
            id: "sess_activity_1",
            ip_address: Some("203.0.113.9"),
            user_agent: Some(
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
            ),
        });
        assert_eq!(
            full,
            json!({
                "object": "session_activity",
                "id": "sess_activity_1",
                "device_type": "iPhone",
                "is_mobile": true,
                "browser_name": "Safari",
                "browser_version": "17.2",
                "ip_address": "203.0.113.9",
                "city": "Wellington",
                "country": "NZ",
            })
        );
    }

    #[test]
    fn what_is_unknown_is_left_out_never_null() {
        for (ip, ua) in [
            (None, None),
            (Some(""), Some("")),
            (None, Some("\u{0}\u{7f}")),
        ] {
            let bare = latest_activity(&Activity {
                id: "act_2",
                ip_address: ip,
                user_agent: ua,
                place: Some(&crate::geoip::Place::default()),
            });
            assert_eq!(
                bare,
                json!({ "object": "session_activity", "id": "act_2", "is_mobile": false }),
                "{ip:?} {ua:?}"
            );
        }
        let curl = latest_activity(&Activity {
            id: "act_3",
            ip_address: Some("2001:db8::1"),
            user_agent: Some("curl/8.4.0"),
            place: None,
        });
        assert_eq!(
            curl,
            json!({
                "object": "session_activity",
                "id": "act_3",
                "is_mobile": false,
                "browser_name": "curl",
                "browser_version": "8.4",
                "ip_address": "2001:db8::1",
            })
        );
        let object = curl
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>());
        assert!(object.is_some_and(
            |keys| !keys.contains(&"city".to_owned()) && !keys.contains(&"country".to_owned())
        ));
    }
}
