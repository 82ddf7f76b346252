//! Pages another inbound crate serves under a path prefix on Latch's own
//! listener (the dashboard at `/dashboard`): [`ApiState::with_pages`]
//! mounts them. Their requests are read as every request is (body size
//! and deadline, cookies, parameters given once) and their answers carry
//! the same security headers, but no CORS headers: pages are for the
//! browser on Latch's own origin, never for an application's script.

use std::future::Future;
use std::pin::Pin;

use crate::ApiState;
use crate::http::{ApiRequest, ApiResponse};

/// What a page handler returns.
pub type PageFuture<'a> = Pin<Box<dyn Future<Output = ApiResponse> + Send + 'a>>;

/// A set of pages under one path prefix.
pub trait Pages: Send + Sync {
    /// The prefix every page's path is, or starts with followed by `/`
    /// (`/dashboard`).
    fn prefix(&self) -> &'static str;

    /// Answers a request whose path is under [`Self::prefix`]. The handler
    /// sets the request's context (`latch_core::service::in_request`)
    /// itself, as it alone knows who is behind it.
    fn handle<'a>(&'a self, state: &'a ApiState, req: &'a ApiRequest) -> PageFuture<'a>;
}

/// Whether `path` is under `prefix`.
pub(crate) fn under(prefix: &str, path: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn a_prefix_holds_its_own_paths_only() {
        assert!(under("/dashboard", "/dashboard"));
        assert!(under("/dashboard", "/dashboard/users"));
        assert!(!under("/dashboard", "/dashboards"));
        assert!(!under("/dashboard", "/v1/dashboard"));
    }
}
