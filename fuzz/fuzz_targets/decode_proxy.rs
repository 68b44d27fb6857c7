//! ProxyCodec (container → proxy packets) fed arbitrary bytes in arbitrary reads: must
//! never panic, every decoded message must re-encode to itself, and the split must not
//! change the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/ajp-codec/tests/common/check.rs"]
#[allow(dead_code)]
mod check;
#[allow(dead_code)]
mod input;

fuzz_target!(|data: &[u8]| {
    let Some(input) = input::Input::parse(data) else {
        return;
    };
    let split = check::feed_proxy(input.stream, &input.splits, input.packet_size);
    let whole = check::feed_proxy(input.stream, &[], input.packet_size);
    assert_eq!(split, whole, "the read splits changed the outcome");
});
