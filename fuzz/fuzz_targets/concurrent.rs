//! One input drives several threads on different processors over one lock (the first byte
//! picks NDIS_RW_LOCK_EX, the push locks or the legacy NDIS_RW_LOCK): the protected pairs must
//! never tear and no write may be lost.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/fuzz_model.rs"]
mod fuzz_model;

fuzz_target!(|data: &[u8]| {
    fuzz_model::let_bug_checks_unwind();
    ndis_rwlock::sim::boot(fuzz_model::PROCESSORS);
    fuzz_model::check_concurrent_input(&data[..data.len().min(512)]);
});
