//! Integration tests for palisade-risk (one binary, modules per area).

mod cpe_vectors;
mod importers;
mod props;
