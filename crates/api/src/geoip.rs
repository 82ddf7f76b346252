//! Where an address is, from a local table of IP ranges (`server.geoip_file`):
//! the city and country a session's `latest_activity` shows. Off unless a
//! file is configured; nothing is ever looked up over the network.
//!
//! The file is CSV, one range per line, in either of two layouts:
//! - DB-IP's "IP to City Lite" (`start,end,continent,country,region,city,
//!   latitude,longitude`), which its publisher offers as a monthly download;
//! - four columns, `start,end,country,city`.
//!
//! Addresses are IPv4 or IPv6; a field may be quoted (`"Washington, D.C."`).
//! Ranges are kept sorted, and a lookup is a binary search.

use std::net::IpAddr;
use std::sync::Arc;

/// A city and country, either of which may be unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub city: Option<Arc<str>>,
    /// The country as the file names it (an ISO 3166 code in DB-IP's).
    pub country: Option<Arc<str>>,
}

/// The table.
#[derive(Debug, Default)]
pub struct GeoIp {
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    places: Vec<Place>,
}

impl GeoIp {
    /// Reads the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_csv(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the CSV text; a line that is not a range is an error naming
    /// its number. Empty lines and `#` comments are skipped.
    pub fn from_csv(text: &str) -> Result<Self, String> {
        let mut table = GeoIp::default();
        // Cities and countries repeat over many ranges: each is kept once.
        let mut interned: std::collections::HashMap<(String, String), u32> =
            std::collections::HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("line {}: {why}", n + 1);
            let fields = split_csv(line).ok_or_else(|| bad("an unclosed quote"))?;
            let (country, city) = match fields.len() {
                4 => (&fields[2], &fields[3]),
                8.. => (&fields[3], &fields[5]),
                _ => return Err(bad("not 4 or 8 columns")),
            };
            let start: IpAddr = fields[0]
                .parse()
                .map_err(|_| bad("the first column is not an address"))?;
            let end: IpAddr = fields[1]
                .parse()
                .map_err(|_| bad("the second column is not an address"))?;
            let key = (country.trim().to_owned(), city.trim().to_owned());
            let next = u32::try_from(table.places.len()).map_err(|_| bad("too many places"))?;
            let place = *interned.entry(key.clone()).or_insert_with(|| {
                let text = |s: String| (!s.is_empty() && s != "-").then(|| Arc::from(s));
                table.places.push(Place {
                    country: text(key.0),
                    city: text(key.1),
                });
                next
            });
            match (start, end) {
                (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => {
                    table.v4.push((u32::from(a), u32::from(b), place));
                }
                (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => {
                    table.v6.push((u128::from(a), u128::from(b), place));
                }
                _ => return Err(bad("the range ends before it starts, or mixes families")),
            }
        }
        table.v4.sort_unstable();
        table.v6.sort_unstable();
        Ok(table)
    }

    /// The place of `ip` (an address as text), if a range holds it.
    pub fn locate(&self, ip: &str) -> Option<&Place> {
        let index = match ip.parse::<IpAddr>().ok()? {
            IpAddr::V4(a) => find(&self.v4, u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(a)),
            },
        }?;
        self.places.get(usize::try_from(index).ok()?)
    }

    /// How many ranges the table holds.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The place of the last range starting at or before `key`, if it ends at
/// or after it.
fn find<T: Ord + Copy>(ranges: &[(T, T, u32)], key: T) -> Option<u32> {
    let after = ranges.partition_point(|(start, _, _)| *start <= key);
    let (_, end, place) = ranges.get(after.checked_sub(1)?)?;
    (key <= *end).then_some(*place)
}

/// The fields of one CSV line; `None` for an unclosed quote.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SAMPLE: &str = "\
# DB-IP layout, then the short one
1.0.0.0,1.0.0.255,OC,AU,Queensland,\"South Brisbane\",-27.4767,153.017
192.0.2.0,192.0.2.255,EU,NZ,\"Wellington\",\"Wellington, Te Aro\",-41.29,174.77
2001:db8::,2001:db8::ffff,DE,Berlin
198.51.100.0,198.51.100.127,-,
";

    #[test]
    fn addresses_find_their_range_and_others_nothing() {
        let table = GeoIp::from_csv(SAMPLE).unwrap();
        assert_eq!(table.len(), 4);
        let place = |ip| table.locate(ip).cloned();
        let named = |city: &str, country: &str| Place {
            city: Some(city.into()),
            country: Some(country.into()),
        };
        assert_eq!(place("1.0.0.7"), Some(named("South Brisbane", "AU")));
        assert_eq!(
            place("192.0.2.255"),
            Some(named("Wellington, Te Aro", "NZ"))
        );
        assert_eq!(
            place("::ffff:192.0.2.1"),
            Some(named("Wellington, Te Aro", "NZ"))
        );
        assert_eq!(place("2001:db8::42"), Some(named("Berlin", "DE")));
        assert_eq!(
            place("198.51.100.5"),
            Some(Place::default()),
            "unknowns stay unknown"
        );
        for outside in [
            "1.0.1.0",
            "0.255.255.255",
            "2001:db8::1:0",
            "10.0.0.1",
            "nonsense",
            "",
        ] {
            assert_eq!(place(outside), None, "{outside}");
        }
    }

    #[test]
    fn a_line_that_is_not_a_range_is_refused_by_number() {
        for (text, why) in [
            ("1.0.0.0,1.0.0.255,AU", "line 1: not 4 or 8 columns"),
            (
                "x,1.0.0.255,AU,Brisbane",
                "line 1: the first column is not an address",
            ),
            (
                "\n1.0.0.9,1.0.0.1,AU,Brisbane",
                "line 2: the range ends before it starts, or mixes families",
            ),
            (
                "1.0.0.0,::1,AU,Brisbane",
                "line 1: the range ends before it starts, or mixes families",
            ),
            ("1.0.0.0,1.0.0.2,AU,\"Brisbane", "line 1: an unclosed quote"),
        ] {
            assert_eq!(GeoIp::from_csv(text).unwrap_err(), why);
        }
    }
}
