//! The container side of AJP13 (work in progress).
