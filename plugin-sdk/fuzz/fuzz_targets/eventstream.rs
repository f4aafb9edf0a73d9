//! Fuzz target of the event-stream reader: arbitrary bytes, fed whole and split at points the
//! input chooses, must decode to the same messages and the same error, never panic, and never
//! buffer more than the frame limit.
//!
//! Random mutations almost never produce valid CRC-32s, which would keep the fuzzer at the
//! prelude check. So when the first byte is odd, the target first rewrites the checksums of the
//! frames the input declares: header parsing, payload handling and frame chaining are then
//! explored as deeply as the checks themselves.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_plugin_sdk::eventstream::{decode_frame, EventStreamReader, FrameError, Message};

const MAX_FRAME: usize = 4096;

fn run(pieces: &[&[u8]]) -> (Vec<Message>, Option<FrameError>) {
    let mut reader = EventStreamReader::new(MAX_FRAME);
    let mut messages = Vec::new();
    for piece in pieces {
        let result = reader.feed(piece, |m| messages.push(m));
        assert!(
            reader.buffered() <= MAX_FRAME,
            "reader buffered past its limit"
        );
        if let Err(e) = result {
            return (messages, Some(e));
        }
    }
    let e = reader.finish().err();
    (messages, e)
}

/// Rewrites the prelude and message checksums of every frame `body` declares.
fn repair_checksums(body: &mut [u8]) {
    let mut at = 0;
    while body.len() - at >= 12 {
        let total =
            u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]) as usize;
        let crc = crc32(&body[at..at + 8]);
        body[at + 8..at + 12].copy_from_slice(&crc.to_be_bytes());
        if total < 16 || total > body.len() - at {
            return;
        }
        let crc = crc32(&body[at..at + total - 4]);
        body[at + total - 4..at + total].copy_from_slice(&crc.to_be_bytes());
        at += total;
    }
}

/// CRC-32 (IEEE), bitwise: independent of the decoder's own implementation.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fuzz_target!(|data: &[u8]| {
    // Byte 0: checksum repair on odd values; bytes 1-2 choose the split; the rest is the stream.
    let (repair, step, body) = match data {
        [m, a, b, rest @ ..] => (
            m & 1 == 1,
            usize::from(u16::from_be_bytes([*a, *b])) % 97 + 1,
            rest,
        ),
        _ => (false, 1, data),
    };
    let mut body = body.to_vec();
    if repair {
        repair_checksums(&mut body);
    }
    let body = &body[..];
    let whole = run(&[body]);
    let pieces: Vec<&[u8]> = body.chunks(step).collect();
    let split = run(&pieces);
    assert_eq!(whole, split, "split every {step} bytes decodes differently");
    let _ = decode_frame(body);
});
