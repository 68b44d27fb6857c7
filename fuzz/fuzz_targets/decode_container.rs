//! ContainerCodec (proxy → container packets, body mode toggled per packet by the input)
//! fed arbitrary bytes in arbitrary reads: must never panic, every decoded message must
//! re-encode to itself, and the split must not change the outcome.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/ajp-codec/tests/common/check.rs"]
#[allow(dead_code)]
mod check;
mod input;

fuzz_target!(|data: &[u8]| {
    let Some(input) = input::Input::parse(data) else {
        return;
    };
    let split = check::feed_container(
        input.stream,
        &input.splits,
        &input.body_mode,
        input.packet_size,
    );
    let whole = check::feed_container(input.stream, &[], &input.body_mode, input.packet_size);
    assert_eq!(split, whole, "the read splits changed the outcome");
});
