//! Removed once real integration tests exist.
