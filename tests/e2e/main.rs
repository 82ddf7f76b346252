//! The real `latch` binary, end to end: configuration, admin commands,
//! restarts, shutdown, and Clerk's own SDKs driving it (`tests/conformance`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backup;
mod binary;
mod cluster;
mod conformance;
mod copy;
mod dashboard;
mod deliveries;
mod enumeration;
mod faults;
mod import;
mod observe;
mod postgres_tls;
mod private;
mod replicas;
mod round_trips;
mod support;
mod tls;
mod transport;
mod webhooks;
