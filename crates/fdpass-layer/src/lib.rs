//! fdpass-layer (work in progress).
