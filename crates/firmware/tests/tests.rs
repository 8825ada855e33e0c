//! Integration tests for palisade-firmware (one binary, modules per area).

mod boot;
mod common;
mod imgtool;
mod props;
mod roundtrip;
