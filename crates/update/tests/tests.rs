//! Integration tests for palisade-update (one binary, modules per area).

mod common;
mod interop;
mod ours;
mod props;
