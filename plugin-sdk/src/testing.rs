//! Helpers for plugins' own tests.

use crate::{StreamDecoder, StreamOutput};

/// Feeds `body` to `decoder` cut at `cuts` (taken modulo its length, in any order), then
/// finishes it; the outputs merged as the host merges them. Equal results for different cuts
/// show a decoder does not depend on how the network split the stream.
pub fn decode_split(decoder: &mut dyn StreamDecoder, body: &[u8], cuts: &[usize]) -> StreamOutput {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut all = StreamOutput::default();
    let absorb = |out: StreamOutput, all: &mut StreamOutput| {
        all.sse.extend(out.sse);
        all.info.merge(out.info);
        all.done |= out.done;
        all.error = all.error.take().or(out.error);
    };
    let mut last = 0;
    for p in points.into_iter().chain([body.len()]) {
        let mut out = StreamOutput::default();
        decoder.feed(&body[last..p], &mut out);
        absorb(out, &mut all);
        last = p;
    }
    let mut out = StreamOutput::default();
    decoder.finish(&mut out);
    absorb(out, &mut all);
    all
}
