#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every check CI runs.
#
#   bash scripts/test.sh
#
# On a fresh Debian 12 machine (as root) it apt-installs the real peers the integration
# tests start (Tomcat 10, Apache httpd 2.4 with mod_proxy_ajp/mod_proxy_fdpass, mod_jk,
# a JDK for the test webapp), installs cargo-deny if missing, then runs: rustfmt check,
# clippy with warnings denied, the whole test suite, rustdoc with warnings denied, and
# cargo-deny (bans, licenses, sources; advisories need a network CI does not have).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "installing test peers (Tomcat 10, httpd 2.4, mod_jk, JDK)"
bash scripts/install-peers.sh

if ! command -v cargo-deny >/dev/null 2>&1; then
    step "installing cargo-deny"
    cargo install --locked cargo-deny
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast

step "cargo doc (warnings and broken intra-doc links denied)"
RUSTDOCFLAGS="-D warnings -D rustdoc::broken_intra_doc_links" cargo doc --workspace --no-deps --locked

step "cargo deny check bans licenses sources"
cargo deny --locked check bans licenses sources

step "all checks passed"
