//! Clerk's browser bundles, served the way Clerk's Frontend API serves them:
//! `GET /npm/@clerk/clerk-js@<version>/dist/<file>` and
//! `GET /npm/@clerk/ui@<version>/dist/<file>`.
//!
//! Clerk's SDKs load `clerk.browser.js` and `ui.browser.js` from the
//! Frontend API host under a major-version range (`@6`, `@1`); each bundle
//! then loads its chunks from its own folder with the exact version pinned
//! (`@6.40.0`). Both forms are served, from copies kept in the repository
//! (`vendor/clerk/`, refreshed by `scripts/update-clerk-bundles.sh`) and
//! embedded in the binary by `build.rs`, each file also gzip-compressed.
//!
//! - A version is the pinned one exactly, or its major alone; anything else
//!   (another version, `latest`, a minor range) is a 404 naming what is
//!   served.
//! - A file is looked up by its exact name among the embedded ones: nothing
//!   reads the file system, so no path can reach outside them.
//! - The script tags say `crossorigin="anonymous"`: every answer allows any
//!   origin, without credentials.
//! - An exact version never changes: cached for a year, `immutable`; a range
//!   may move to another version: cached for five minutes.
//! - Gzip when `Accept-Encoding` allows it, with an `ETag` per encoding;
//!   `If-None-Match` gets a 304.

use bytes::Bytes;
use warp::http::{Method, StatusCode, header};

use crate::error::{ApiError, ErrorCode, ErrorKind};
use crate::http::{ApiRequest, ApiResponse};

/// The route's path: `{package}` is `<name>@<version>`, `{file}` one file
/// of the package's `dist/`.
pub const PATH: &str = "/npm/@clerk/{package}/dist/{file}";

/// `Cache-Control` for an exact version.
pub const CACHE_EXACT: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for a range (`@6`).
pub const CACHE_RANGE: &str = "public, max-age=300";

/// One package of `vendor/clerk/`.
pub struct Package {
    /// `@clerk/clerk-js`.
    pub name: &'static str,
    /// `6.40.0`.
    pub version: &'static str,
    /// The file under `dist/` that pages load (`clerk.browser.js`).
    pub entry: &'static str,
    /// Every file of its `dist/`, sorted by name.
    files: &'static [Asset],
}

/// One file of a package's `dist/`.
struct Asset {
    name: &'static str,
    raw: &'static [u8],
    gzip: &'static [u8],
    /// A hash of `raw`.
    etag: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/bundles.rs"));

impl Package {
    /// `clerk-js` for `@clerk/clerk-js`: what precedes the `@` in the path.
    pub fn short_name(&self) -> &'static str {
        self.name.strip_prefix("@clerk/").unwrap_or(self.name)
    }

    /// The major version (`6`), which the SDKs ask for.
    pub fn major(&self) -> &'static str {
        self.version.split('.').next().unwrap_or(self.version)
    }

    /// The names of the files served, sorted.
    pub fn files(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.files.iter().map(|a| a.name)
    }

    /// The bytes of `file`, as they are in the package.
    pub fn file(&self, file: &str) -> Option<&'static [u8]> {
        self.asset(file).map(|a| a.raw)
    }

    fn asset(&self, file: &str) -> Option<&'static Asset> {
        let files: &'static [Asset] = self.files;
        files
            .binary_search_by(|a| a.name.cmp(file))
            .ok()
            .map(|i| &files[i])
    }
}

/// Every package served.
pub fn packages() -> &'static [Package] {
    PACKAGES
}

/// How the path named the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pinned {
    Exact,
    Range,
}

/// The package a `{package}` segment names (`clerk-js@6`, `ui@1.36.0`).
fn resolve(segment: &str) -> Option<(&'static Package, Pinned)> {
    let (name, version) = segment.split_once('@')?;
    let mut found: Option<(&'static Package, Pinned)> = None;
    for package in packages().iter().filter(|p| p.short_name() == name) {
        if package.version == version {
            return Some((package, Pinned::Exact));
        }
        // Several versions of one major: the range names the newest.
        let newer = found.is_none_or(|(held, _)| newer(package.version, held.version));
        if package.major() == version && newer {
            found = Some((package, Pinned::Range));
        }
    }
    found
}

/// Whether version `a` is after `b` (dotted numbers).
fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}

/// `GET`/`HEAD /npm/@clerk/{package}/dist/{file}`.
pub fn serve(req: &ApiRequest, package: &str, file: &str, trace_id: &str) -> ApiResponse {
    let Some((package, pinned)) = resolve(package) else {
        return not_served(unknown_package(), trace_id);
    };
    let Some(asset) = package.asset(file) else {
        return not_served(unknown_file(package), trace_id);
    };
    let gzip = accepts_gzip(req);
    let etag = if gzip {
        format!("\"{}-gzip\"", asset.etag)
    } else {
        format!("\"{}\"", asset.etag)
    };
    let cache = match pinned {
        Pinned::Exact => CACHE_EXACT,
        Pinned::Range => CACHE_RANGE,
    };
    let body = if gzip { asset.gzip } else { asset.raw };
    let fresh = req
        .header(header::IF_NONE_MATCH.as_str())
        .is_some_and(|tags| matches_etag(tags, &etag));
    let mut response = if fresh {
        ApiResponse::empty(StatusCode::NOT_MODIFIED)
    } else if req.method == Method::HEAD {
        ApiResponse::empty(StatusCode::OK)
            .with_header(header::CONTENT_LENGTH, &body.len().to_string())
    } else {
        ApiResponse::bytes(StatusCode::OK, Bytes::from_static(body))
    };
    if !fresh {
        response = response.with_header(header::CONTENT_TYPE, content_type(asset.name));
        if gzip {
            response = response.with_header(header::CONTENT_ENCODING, "gzip");
        }
    }
    response
        .with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
        .with_header(header::CACHE_CONTROL, cache)
        .with_header(header::ETAG, &etag)
        .with_header(header::VARY, "Accept-Encoding")
}

/// The content type of a file, by its extension.
pub fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether `Accept-Encoding` takes gzip: named (or `*`, when gzip is not
/// named) with a non-zero weight.
fn accepts_gzip(req: &ApiRequest) -> bool {
    let mut star = false;
    for value in req.headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .filter_map(|q| q.trim().parse::<f32>().ok())
                .next()
                .unwrap_or(1.0);
            match coding.as_str() {
                "gzip" | "x-gzip" => return weight > 0.0,
                "*" => star = weight > 0.0,
                _ => {}
            }
        }
    }
    star
}

/// Whether an `If-None-Match` list names `etag` (weakly compared) or is `*`.
fn matches_etag(tags: &str, etag: &str) -> bool {
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// What is served, for the 404s: `@clerk/clerk-js 6.40.0 (as @6 or @6.40.0)`.
fn served() -> String {
    let list: Vec<String> = packages()
        .iter()
        .map(|p| {
            format!(
                "{} {} (as {}@{} or {}@{})",
                p.name,
                p.version,
                p.name,
                p.major(),
                p.name,
                p.version
            )
        })
        .collect();
    list.join(" and ")
}

fn unknown_package() -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        ErrorCode::ResourceNotFound,
        "not found",
        format!(
            "This package or version is not served here. Latch serves {}, under /npm/<package>@<version>/dist/.",
            served()
        ),
    )
}

fn unknown_file(package: &Package) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        ErrorCode::ResourceNotFound,
        "not found",
        format!(
            "{} {} has no such file: Latch serves dist/{} and the chunks it loads.",
            package.name, package.version, package.entry
        ),
    )
}

/// A 404 that a script tag can read too.
fn not_served(err: ApiError, trace_id: &str) -> ApiResponse {
    ApiResponse::error(&err, trace_id).with_header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_pinned_packages_are_embedded_with_their_entries() {
        let names: Vec<&str> = packages().iter().map(|p| p.name).collect();
        assert_eq!(names, ["@clerk/clerk-js", "@clerk/ui"]);
        for package in packages() {
            let entry = package.file(package.entry).unwrap();
            assert!(entry.len() > 10_000, "{}", package.name);
            let files: Vec<&str> = package.files().collect();
            let mut sorted = files.clone();
            sorted.sort_unstable();
            assert_eq!(files, sorted);
            for file in files {
                assert!(package.file(file).is_some());
            }
        }
    }

    #[test]
    fn a_package_is_its_exact_version_or_its_major() {
        let name = |s: &str| resolve(s).map(|(p, pinned)| (p.name, p.version, pinned));
        assert_eq!(
            name("clerk-js@6"),
            Some(("@clerk/clerk-js", "6.40.0", Pinned::Range))
        );
        assert_eq!(
            name("clerk-js@6.40.0"),
            Some(("@clerk/clerk-js", "6.40.0", Pinned::Exact))
        );
        assert_eq!(name("ui@1"), Some(("@clerk/ui", "1.36.0", Pinned::Range)));
        assert_eq!(
            name("ui@1.36.0"),
            Some(("@clerk/ui", "1.36.0", Pinned::Exact))
        );
        for other in [
            "clerk-js",
            "clerk-js@",
            "clerk-js@5",
            "clerk-js@6.40",
            "clerk-js@6.39.0",
            "clerk-js@latest",
            "clerk-js@^6",
            "ui@2",
            "react@6",
            "@6",
            "clerk-js@6@6",
        ] {
            assert_eq!(name(other), None, "{other}");
        }
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(newer("6.40.0", "6.9.0"));
        assert!(!newer("6.9.0", "6.40.0"));
        assert!(!newer("1.0.0", "1.0.0"));
    }

    #[test]
    fn etags_match_strongly_weakly_or_by_star() {
        assert!(matches_etag("\"a\"", "\"a\""));
        assert!(matches_etag("\"b\", W/\"a\"", "\"a\""));
        assert!(matches_etag("*", "\"a\""));
        assert!(!matches_etag("\"a-gzip\"", "\"a\""));
    }
}
