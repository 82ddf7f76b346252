//! The HTTP API in-process: every route and its error cases, through warp's
//! test client, on a real SQLite file in a fresh temporary directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod account;
mod addresses;
mod attacks;
mod audit;
mod avatars;
mod backend;
mod client;
mod codes;
mod concurrency;
mod connections;
mod dashboard;
mod deliveries;
mod duplicates;
mod enumeration;
mod environment;
mod expiry;
mod handshake;
mod hosted;
mod instance;
mod lockout;
mod oauth;
mod observe;
mod openapi;
mod rate_limits;
mod reset;
mod reverification;
mod robustness;
mod routes;
mod scripts;
mod second_factors;
mod sessions;
mod sign_ins;
mod sign_up_oauth;
mod sign_ups;
mod standing;
mod transport;
mod webhooks;
mod wire;
