//! `latch-core`: the sign-in domain of Latch.
//!
//! This crate owns the rules of Clerk's sign-in flow and knows nothing about HTTP,
//! databases or wire formats. Everything it needs from the outside world comes in
//! through the traits in [`ports`], held as `Arc<dyn Port>`; the adapters that
//! implement them live in other crates.
//!
//! - [`model`]: domain types built by parsing (identifiers, passwords), the user,
//!   client, session and the sign-in state machine, and the instance settings.
//! - [`ports`]: one trait per outbound dependency, each with its contract.
//! - [`service`]: the use cases the inbound adapters call.
//! - [`error`]: the core's typed errors: what went wrong and its data, no wire codes.
//! - [`password`]: the rules of argon2 digests (parameters, PHC strings,
//!   imports, rehashing); the hashing runs in an adapter.
//!
//! Invariants: no dependency on warp, rusqlite, redis, reqwest, lettre or
//! tokio-postgres; and no I/O of its own: no threads, no reading of the wall
//! clock, no OS randomness (those come through [`ports`], from `latch-os`).
//! CI checks both (`.ci/check-architecture`).

#![forbid(unsafe_code)]

pub mod error;
pub mod metrics;
pub mod model;
pub mod password;
pub mod ports;
pub mod secrets;
pub mod service;

pub use error::{Error, Param, Problem, Resource};
