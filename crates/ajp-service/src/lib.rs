//! ajp-service (work in progress).
