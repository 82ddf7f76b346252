//! Default avatars: the picture a user's `image_url` points at while they
//! have none of their own, drawn from their initials alone.
//!
//! [`default_avatar_url`] builds `{base}/v1/avatars/default.svg?initials=XY`
//! from a user's names; the URL carries the initials and nothing else about
//! the user. `GET /v1/avatars/default.svg` ([`default_svg`]) draws a colored
//! square with those initials, or a neutral silhouette without them; the
//! color follows from the initials, so a user keeps the same picture.
//!
//! An `initials` value that is not one or two letters or digits (after
//! uppercasing) is ignored and the silhouette drawn: the URL sits in an
//! `<img>`, where an error would show as a broken picture, and nothing of a
//! refused value is drawn or echoed. Only letters and digits ever reach the
//! SVG, so it needs no escaping; it is drawn with presentation attributes
//! only (no `<style>`, no `style=`, no script), so the API's own policy of
//! `default-src 'none'` leaves it whole.

use warp::http::{StatusCode, header};

use crate::http::{ApiRequest, ApiResponse};

/// The route's path, below the Frontend API's origin.
pub const PATH: &str = "/v1/avatars/default.svg";

/// The longest `initials` value read: two characters of at most four bytes.
const MAX_INITIALS_BYTES: usize = 8;

/// One or two uppercase letters or digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initials(String);

impl Initials {
    /// Reads an `initials` parameter: one or two letters or digits, which
    /// are uppercased; anything else is `None`.
    pub fn parse(raw: &str) -> Option<Initials> {
        if raw.is_empty() || raw.len() > MAX_INITIALS_BYTES {
            return None;
        }
        let count = raw.chars().count();
        let valid = count <= 2 && raw.chars().all(char::is_alphanumeric);
        valid.then(|| Initials(raw.chars().map(upper).collect()))
    }

    /// The first letter of each name, or the first two letters of the one
    /// name given; `None` when neither name has a letter or digit.
    pub fn of_names(first_name: Option<&str>, last_name: Option<&str>) -> Option<Initials> {
        fn letters(name: Option<&str>) -> impl Iterator<Item = char> + '_ {
            name.unwrap_or_default()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .map(upper)
        }
        let initials: String = match (letters(first_name).next(), letters(last_name).next()) {
            (Some(a), Some(b)) => [a, b].into_iter().collect(),
            (Some(_), None) => letters(first_name).take(2).collect(),
            (None, Some(_)) => letters(last_name).take(2).collect(),
            (None, None) => return None,
        };
        Some(Initials(initials))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The uppercase form of `c` when it is one character (`ß` has none: it
/// stays as it is), so that initials stay at most two characters.
fn upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// The URL of a user's default avatar: `base` is the Frontend API's public
/// origin (one trailing `/` is dropped).
pub fn default_avatar_url(base: &str, first_name: Option<&str>, last_name: Option<&str>) -> String {
    let base = base.strip_suffix('/').unwrap_or(base);
    match Initials::of_names(first_name, last_name) {
        Some(initials) => format!(
            "{base}{PATH}?initials={}",
            percent_encode(initials.as_str())
        ),
        None => format!("{base}{PATH}"),
    }
}

/// Letters and digits as a query value: ASCII as it is, the rest as
/// percent-encoded UTF-8.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Background colors, each dark enough for white initials.
const PALETTE: [&str; 8] = [
    "#6C47FF", "#1F7A8C", "#C2410C", "#15803D", "#BE185D", "#4338CA", "#0E7490", "#A16207",
];

/// The silhouette's background and figure.
const NEUTRAL: (&str, &str) = ("#D4D4D8", "#A1A1AA");

/// The color of these initials: FNV-1a over their bytes, read from its top
/// byte (its low bits follow only the letters' low bits).
fn color(initials: &Initials) -> &'static str {
    let hash = initials.as_str().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    PALETTE[(hash >> 24) as usize % PALETTE.len()]
}

/// The picture: initials on their color, or the silhouette.
pub fn svg(initials: Option<&Initials>) -> String {
    const OPEN: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">"#;
    match initials {
        Some(initials) => format!(
            concat!(
                "{open}<rect width=\"128\" height=\"128\" fill=\"{color}\"/>",
                "<text x=\"64\" y=\"64\" dominant-baseline=\"central\" text-anchor=\"middle\" ",
                "fill=\"#FFFFFF\" font-family=\"system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif\" ",
                "font-size=\"52\" font-weight=\"600\">{initials}</text></svg>"
            ),
            open = OPEN,
            color = color(initials),
            initials = initials.as_str(),
        ),
        None => format!(
            concat!(
                "{open}<rect width=\"128\" height=\"128\" fill=\"{background}\"/>",
                "<circle cx=\"64\" cy=\"50\" r=\"22\" fill=\"{figure}\"/>",
                "<path d=\"M24 112c0-22 18-36 40-36s40 14 40 36z\" fill=\"{figure}\"/></svg>"
            ),
            open = OPEN,
            background = NEUTRAL.0,
            figure = NEUTRAL.1,
        ),
    }
}

/// `GET`/`HEAD /v1/avatars/default.svg[?initials=XY]`.
pub fn default_svg(req: &ApiRequest) -> ApiResponse {
    let initials = req.query_param("initials").and_then(Initials::parse);
    ApiResponse::content(StatusCode::OK, "image/svg+xml", svg(initials.as_ref()))
        // The picture of a URL never changes.
        .with_header(header::CACHE_CONTROL, "public, max-age=86400, immutable")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://clerk.example.com";

    fn url(first: Option<&str>, last: Option<&str>) -> String {
        default_avatar_url(BASE, first, last)
    }

    #[test]
    fn the_url_carries_the_first_letters_of_both_names() {
        assert_eq!(
            url(Some("ada"), Some("lovelace")),
            "https://clerk.example.com/v1/avatars/default.svg?initials=AL"
        );
        // Leading marks and spaces are skipped; digits count.
        assert_eq!(
            url(Some(" 'jo"), Some("3m")),
            format!("{BASE}{PATH}?initials=J3")
        );
    }

    #[test]
    fn letters_outside_ascii_are_uppercased_and_percent_encoded() {
        assert_eq!(
            url(Some("élodie"), Some("żak")),
            format!("{BASE}{PATH}?initials=%C3%89%C5%BB")
        );
        assert_eq!(
            url(Some("李"), Some("小龙")),
            format!("{BASE}{PATH}?initials=%E6%9D%8E%E5%B0%8F")
        );
        // `ß` has no one-character uppercase: it stays, and stays one letter.
        assert_eq!(
            Initials::of_names(Some("ßabine"), Some("x")).map(|i| i.0),
            Some("ßX".to_owned())
        );
    }

    #[test]
    fn one_name_gives_its_first_two_letters() {
        assert_eq!(
            url(Some("madonna"), None),
            format!("{BASE}{PATH}?initials=MA")
        );
        assert_eq!(url(None, Some("Ng")), format!("{BASE}{PATH}?initials=NG"));
        assert_eq!(
            url(Some("O'Neil"), Some("")),
            format!("{BASE}{PATH}?initials=ON")
        );
        assert_eq!(url(Some("Q"), None), format!("{BASE}{PATH}?initials=Q"));
    }

    #[test]
    fn no_letters_at_all_gives_the_bare_url() {
        for (first, last) in [
            (None, None),
            (Some(""), Some("")),
            (Some("  "), None),
            (Some("😀"), Some("-")),
        ] {
            assert_eq!(
                url(first, last),
                format!("{BASE}{PATH}"),
                "{first:?} {last:?}"
            );
        }
    }

    #[test]
    fn one_trailing_slash_of_the_base_is_dropped() {
        assert_eq!(
            default_avatar_url("https://clerk.example.com/", Some("a"), Some("b")),
            format!("{BASE}{PATH}?initials=AB")
        );
        assert_eq!(
            default_avatar_url("http://localhost:3000", None, None),
            "http://localhost:3000/v1/avatars/default.svg"
        );
    }

    #[test]
    fn every_url_built_names_initials_the_route_accepts() {
        for (first, last) in [
            (Some("ada"), Some("lovelace")),
            (Some("élodie"), Some("żak")),
            (Some("ßabine"), None),
            (Some("ŉx"), None),
            (Some("李"), Some("小龙")),
            (Some("x"), None),
        ] {
            let built = Initials::of_names(first, last);
            let reread = built.as_ref().and_then(|i| Initials::parse(i.as_str()));
            assert!(built.is_some(), "{first:?}");
            assert_eq!(reread, built, "{first:?} {last:?}");
        }
    }

    #[test]
    fn only_one_or_two_letters_or_digits_are_initials() {
        assert_eq!(Initials::parse("ab").map(|i| i.0), Some("AB".to_owned()));
        assert_eq!(Initials::parse("7").map(|i| i.0), Some("7".to_owned()));
        assert_eq!(Initials::parse("éż").map(|i| i.0), Some("ÉŻ".to_owned()));
        let long = "a".repeat(500);
        for raw in [
            "",
            "ABC",
            "<s",
            "A\0",
            "A ",
            "&",
            "\"",
            "'",
            "A>",
            "\u{202e}A",
            long.as_str(),
        ] {
            assert_eq!(Initials::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn the_picture_shows_the_initials_on_their_color() {
        let ab = Initials::parse("AB");
        let picture = svg(ab.as_ref());
        assert!(picture.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(picture.contains(">AB</text>"), "{picture}");
        assert!(picture.ends_with("</svg>"));
        // The same initials, the same picture; the palette is used.
        assert_eq!(svg(Initials::parse("ab").as_ref()), picture);
        let colors: std::collections::BTreeSet<&str> = ["AB", "CD", "EF", "GH", "IJ", "KL", "MN"]
            .iter()
            .filter_map(|i| Initials::parse(i))
            .map(|i| color(&i))
            .collect();
        assert!(colors.len() > 2, "{colors:?}");
    }

    #[test]
    fn the_silhouette_has_no_text_and_no_palette_color() {
        let picture = svg(None);
        assert!(!picture.contains("<text"));
        assert!(picture.contains(NEUTRAL.0));
        assert!(PALETTE.iter().all(|c| !picture.contains(c)));
    }

    #[test]
    fn the_picture_can_run_nothing_and_loads_nothing() {
        for picture in [svg(None), svg(Initials::parse("Zq").as_ref())] {
            for banned in [
                "<script",
                "<style",
                "style=",
                "href",
                "<foreignobject",
                "url(",
            ] {
                assert!(
                    !picture.to_ascii_lowercase().contains(banned),
                    "{banned}: {picture}"
                );
            }
            // No event handler attribute.
            let onevent = picture
                .split_whitespace()
                .any(|word| word.to_ascii_lowercase().starts_with("on"));
            assert!(!onevent, "{picture}");
        }
    }
}
