//! Ports: the traits through which the core reaches the outside world. One file
//! per port; each states the contract every adapter MUST keep, and each has a
//! contract test in `latch-testkit`.

mod client_repository;
mod clock;
mod instance_store;
mod password_hasher;
mod random;
mod sign_in_store;
mod user_repository;

pub use client_repository::{ClientRepository, MockClientRepository, SessionQuery};
pub use clock::{Clock, MockClock, SystemClock};
pub use instance_store::{InstanceStore, MockInstanceStore};
pub use password_hasher::{MockPasswordHasher, PasswordHasher};
pub use random::{MockRandom, OsRandom, Random};
pub use sign_in_store::{MockSignInStore, SignInStore};
pub use user_repository::{MockUserRepository, UserQuery, UserRepository};
