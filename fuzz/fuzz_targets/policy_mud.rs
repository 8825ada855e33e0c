#![no_main]
//! MUD/ACL JSON parse → validate → serialise → re-parse → nft compile must never panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    palisade_policy::fuzzing::mud(data);
});
