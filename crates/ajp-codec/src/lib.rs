//! ajp-codec (work in progress).
