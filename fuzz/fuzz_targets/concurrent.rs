//! One input drives several threads on different processors over one NDIS_RW_LOCK_EX; the
//! protected pair must never tear and no write may be lost.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/support/fuzz_model.rs"]
mod fuzz_model;

fuzz_target!(|data: &[u8]| {
    fuzz_model::let_bug_checks_unwind();
    fuzz_model::check_concurrent(&data[..data.len().min(512)]);
});
