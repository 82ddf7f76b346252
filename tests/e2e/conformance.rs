//! Clerk's own SDKs against the real binary: runs the Node suite in
//! `tests/conformance` (installing its pinned packages and Chromium if missing).

use std::process::Command;

use crate::support::{BIN, repo_root};

#[test]
fn clerk_sdks_sign_in_against_latch() {
    let suite = repo_root().join("tests/conformance");
    let setup = Command::new("bash")
        .arg(suite.join("setup.sh"))
        .current_dir(&suite)
        .status()
        .expect("bash runs");
    assert!(setup.success(), "tests/conformance/setup.sh failed");
    let out = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .current_dir(&suite)
        .env("LATCH_BIN", BIN)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the Clerk SDK conformance suite failed"
    );
    assert!(
        stdout.contains("# pass") || stdout.contains("ℹ pass"),
        "the suite reported its passes"
    );
    assert!(!stdout.contains("ℹ pass 0"), "the suite ran tests");
}
