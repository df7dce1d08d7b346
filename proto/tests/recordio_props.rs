//! Property tests for RecordIO: any set of records survives any chunking, and
//! garbage never panics the decoder or makes it buffer past its limit.

use kube_mesos_proto::recordio::{encode, Decoder, RecordIoError};
use proptest::prelude::*;

/// Splits `data` at the given cut points (taken modulo its length).
fn chunk(data: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| {
            if data.is_empty() {
                0
            } else {
                c % (data.len() + 1)
            }
        })
        .collect();
    points.push(0);
    points.push(data.len());
    points.sort_unstable();
    points.dedup();
    points
        .windows(2)
        .map(|w| data[w[0]..w[1]].to_vec())
        .collect()
}

/// Feeds chunks and drains records after each one.
fn feed(decoder: &mut Decoder, chunks: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, RecordIoError> {
    let mut records = Vec::new();
    for piece in chunks {
        decoder.push(piece);
        while let Some(record) = decoder.next_record()? {
            records.push(record.to_vec());
        }
    }
    Ok(records)
}

proptest! {
    #[test]
    fn round_trip_under_any_chunking(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
        let mut decoder = Decoder::new();
        let decoded = feed(&mut decoder, &chunk(&stream, &cuts)).unwrap();
        prop_assert_eq!(decoded, records);
        prop_assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn round_trip_one_byte_at_a_time(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..8),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
        let chunks: Vec<Vec<u8>> = stream.chunks(1).map(<[u8]>::to_vec).collect();
        let mut decoder = Decoder::new();
        prop_assert_eq!(feed(&mut decoder, &chunks).unwrap(), records);
        prop_assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn truncated_stream_is_reported(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..8),
        cut in any::<usize>(),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
        // Cut strictly inside the stream, but not on a record boundary.
        let boundaries: Vec<usize> = records
            .iter()
            .scan(0, |end, r| { *end += encode(r).len(); Some(*end) })
            .collect();
        let cut = 1 + cut % (stream.len() - 1);
        prop_assume!(!boundaries.contains(&cut));
        let mut decoder = Decoder::new();
        feed(&mut decoder, &[stream[..cut].to_vec()]).unwrap();
        let truncated = matches!(
            decoder.finish(),
            Err(RecordIoError::TruncatedRecord { .. } | RecordIoError::TruncatedHeader { .. })
        );
        prop_assert!(truncated, "a cut at byte {} was not reported", cut);
    }

    #[test]
    fn garbage_never_panics_and_respects_the_limit(
        garbage in prop::collection::vec(any::<u8>(), 0..2000),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        max in 0usize..512,
    ) {
        let mut decoder = Decoder::with_max_record_size(max);
        match feed(&mut decoder, &chunk(&garbage, &cuts)) {
            Ok(records) => {
                for record in &records {
                    prop_assert!(record.len() <= max);
                }
                let _ = decoder.finish();
            }
            Err(error) => {
                // A failed decoder stays failed.
                prop_assert_eq!(decoder.next_record(), Err(error.clone()));
                prop_assert_eq!(decoder.finish(), Err(error));
            }
        }
    }

    #[test]
    fn digits_garbage_is_bounded(
        digits in prop::collection::vec(prop::sample::select(b"0123456789\n".to_vec()), 0..200),
    ) {
        let mut decoder = Decoder::with_max_record_size(1000);
        decoder.push(&digits);
        while let Ok(Some(record)) = decoder.next_record() {
            prop_assert!(record.len() <= 1000);
        }
    }
}
