//! Integration tests of palisade-policy (one binary, modules per area).

mod common;
mod learn_check;
mod netns;
mod nft;
mod profiles;
