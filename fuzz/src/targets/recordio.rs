//! The RecordIO decoder (framework and executor event streams).
//!
//! Input: byte 0 picks the maximum record size (2^0 .. 2^20), byte 1 the
//! chunk size the stream arrives in; the rest is the stream. The decoder
//! must give the same records and the same error whether the stream comes
//! whole or in chunks, never a record above the maximum, and must refuse an
//! oversized length before buffering (the memory bound sees that).

use bytes::Bytes;
use kube_mesos_proto::recordio::{Decoder, RecordIoError, DEFAULT_MAX_RECORD_SIZE};

type Outcome = (Vec<Bytes>, Option<RecordIoError>);

fn decode(stream: &[u8], max: usize, chunk: usize) -> Outcome {
    let mut decoder = Decoder::with_max_record_size(max);
    let mut records = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_record() {
                Ok(Some(r)) => records.push(r),
                Ok(None) => break,
                Err(e) => return (records, Some(e)),
            }
        }
    }
    (records, decoder.finish().err())
}

/// The target.
pub fn run(data: &[u8]) {
    let (max, chunk, stream) = match data {
        [m, c, rest @ ..] => (1usize << (m % 21), usize::from(c % 17) + 1, rest),
        _ => (DEFAULT_MAX_RECORD_SIZE, 1, data),
    };
    let whole = decode(stream, max, stream.len());
    let chunked = decode(stream, max, chunk);
    assert_eq!(whole, chunked, "chunks of {chunk} decode differently");
    for r in &whole.0 {
        assert!(r.len() <= max, "a record of {} bytes above {max}", r.len());
    }
    if whole.1.is_none() {
        // Everything decoded: re-framing the records gives a stream of the
        // same records (headers may differ only in leading zeros).
        let mut again = Vec::new();
        for r in &whole.0 {
            kube_mesos_proto::recordio::encode_into(r, &mut again);
        }
        assert_eq!(decode(&again, max, again.len()), whole);
    }
}
