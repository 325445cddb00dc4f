//! Operation sequences on one lock, checked step by step against its reference model
//! (tests/support/fuzz_model.rs, fuzz_push.rs, fuzz_legacy.rs): success with the data and the
//! lock's state as predicted, or the model's bug check. The first byte picks the lock
//! (NDIS_RW_LOCK_EX, the push locks, the legacy NDIS_RW_LOCK) and the processor.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/fuzz_model.rs"]
mod fuzz_model;

fuzz_target!(|data: &[u8]| {
    fuzz_model::let_bug_checks_unwind();
    ndis_rwlock::sim::boot(fuzz_model::PROCESSORS);
    fuzz_model::check_input(data);
});
