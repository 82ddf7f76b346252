# Latch tasks. `just --list` shows them.

# Start Latch on its embedded defaults (SQLite in ./data, console code sender).
run *ARGS:
    cargo run --release --bin latch -- {{ARGS}}

# Every test: unit, contract, HTTP, end-to-end and the Clerk SDK conformance suite.
test:
    cargo nextest run --workspace

# Formatting, lints and the architecture invariants.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    bash .ci/check-architecture

# Install what the conformance suite needs (Node packages, Chromium).
setup:
    bash tests/conformance/setup.sh

# Everything CI runs.
ci:
    bash .ci/run
