//! `latch-os`: the adapters through which Latch reaches the operating system
//! itself rather than a network service.
//!
//! - [`SystemClock`]: the [`Clock`](latch_core::ports::Clock) port over the
//!   system's wall clock.
//! - [`OsRandom`]: the [`Random`](latch_core::ports::Random) port over the
//!   operating system's CSPRNG.
//! - [`ConsoleCodeSender`]: the [`CodeSender`](latch_core::ports::CodeSender)
//!   port writing codes to the log, for development.
//! - [`password`]: the [`PasswordHasher`](latch_core::ports::PasswordHasher)
//!   port as argon2id on a pool of dedicated threads.
//!
//! Invariant: among Latch crates this one depends on `latch-core` only, and no
//! other adapter depends on it; only the binary's wiring (and tests) pick these
//! adapters. Whatever reads the clock, the entropy pool or starts threads lives
//! here, so that `latch-core` stays free of I/O (CI checks both).

#![forbid(unsafe_code)]

mod clock;
mod console;
pub mod password;
mod random;

pub use clock::SystemClock;
pub use console::ConsoleCodeSender;
pub use password::Argon2Hasher;
pub use random::OsRandom;
