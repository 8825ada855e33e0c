//! Integration tests for palisade-fwscan (one binary: one link step).

mod common;
mod crypt_oracle;
mod hostile;
mod images;
mod props;
