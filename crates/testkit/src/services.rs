//! The services the tests talk to on loopback, started when they are down
//! (by `.ci/services`, the script CI runs first), so that the README's test
//! command works on its own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

/// Makes sure Redis answers on 127.0.0.1:6379 and PostgreSQL on
/// 127.0.0.1:5432.
pub fn ensure_services() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/services");
        let status = Command::new("bash")
            .arg(script)
            .status()
            .expect("bash runs");
        assert!(
            status.success(),
            ".ci/services could not start the services"
        );
    });
}
