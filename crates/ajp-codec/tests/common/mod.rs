//! Helpers shared by the integration tests (and, through `#[path]`, by the fuzz targets).

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub(crate) mod check;
pub(crate) mod strategies;
