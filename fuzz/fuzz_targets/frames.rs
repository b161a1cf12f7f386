//! Fuzzes the frame decoder and op dispatch: any bytes a client can send must get
//! exactly one well-formed reply and never an INTERNAL error or a panic.
//!
//! Run: `cargo +nightly fuzz run frames fuzz/corpus/frames` (from the repo root).

#![no_main]

use canopy_server::fuzzing::FrameHarness;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static HARNESS: RefCell<FrameHarness> = RefCell::new(FrameHarness::new());
}

fuzz_target!(|data: &[u8]| {
    HARNESS.with(|harness| {
        if let Err(broken) = harness.borrow_mut().check(data) {
            panic!("{broken}");
        }
    });
});
