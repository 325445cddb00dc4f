//! Operation sequences on one NDIS_RW_LOCK_EX, checked step by step against the reference
//! model (tests/support/fuzz_model.rs): success with the data intact, or the model's bug check.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/fuzz_model.rs"]
mod fuzz_model;

fuzz_target!(|data: &[u8]| {
    fuzz_model::let_bug_checks_unwind();
    let processor = u32::from(data.first().copied().unwrap_or(0) % 2);
    let ops = fuzz_model::Op::decode(data.get(1..).unwrap_or_default());
    fuzz_model::check_sequence(&ops, processor);
});
