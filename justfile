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

# Install what the tests need: Node packages and Chromium for the conformance
# suite, aiosmtpd (in a virtualenv) and openssl for the SMTP tests, and
# oidc-provider for the OAuth tests.
setup:
    bash tests/conformance/setup.sh
    bash crates/testkit/smtp/setup.sh
    bash .ci/services
    bash crates/testkit/oidc/setup.sh

# Everything CI runs.
ci:
    bash .ci/run

# Benchmarks (see BENCHMARKS.md): release builds, then latch on a fresh
# temporary database under loopback load, again on PostgreSQL and Redis (the
# `postgres` and `scale` rows need both on this machine), and at data scale
# (10,000,000 users on SQLite, 1,000,000 on PostgreSQL: about 6 GB of
# temporary disk); prints medians over runs and writes
# target/bench/results.md. `just bench --quick` is a short run; `just bench
# --help` lists the knobs (also BENCH_* variables).
bench *ARGS:
    cargo build --release --bin latch --bin latch-bench
    test -d bench/node/node_modules || (cd bench/node && npm ci --no-audit --no-fund)
    "${CARGO_TARGET_DIR:-target}/release/latch-bench" {{ARGS}}
