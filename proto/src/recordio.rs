//! RecordIO: the framing Mesos uses for its streaming HTTP responses.
//!
//! The scheduler and executor event streams (and the master's operator event
//! stream) are a sequence of records, each written as its length in ASCII
//! decimal, a newline, then exactly that many bytes:
//!
//! ```text
//! 5\nhello6\nworld!
//! ```
//!
//! This module owns only the bytes: [`encode`]/[`encode_into`] build frames and
//! [`Decoder`] splits a byte stream that arrives in arbitrary chunks (one byte at
//! a time included) back into records. It is pure and synchronous so that it can
//! be tested exhaustively without sockets; the HTTP clients only feed it chunks.
//!
//! Decisions, checked against apache/mesos `3rdparty/stout/include/stout/recordio.hpp`
//! (`recordio::Decoder`) and `src/common/recordio.hpp` (`recordio::Reader`):
//!
//! - **Zero length** (`0\n`) is a valid, empty record. Mesos' decoder "immediately
//!   decodes" a 0-length record and hands an empty string to the deserializer, so
//!   we yield an empty record too (for protobuf that is a message with every field
//!   unset; rejecting it is the caller's business).
//! - **Empty length** (`\n`) is an error: Mesos' `numify` fails on an empty
//!   string and the decoder enters its FAILED state.
//! - **The length is ASCII digits only.** Mesos' encoder writes `stringify(size)`,
//!   so anything else (sign, whitespace, `\r`, hex) is rejected. Leading zeros
//!   are accepted as numify accepts them, but the header is capped at
//!   [`MAX_LENGTH_DIGITS`] digits so a stream of zeros cannot grow it forever.
//! - **A failed decoder stays failed**, like Mesos': once a length cannot be read
//!   there is no way to find the next record boundary, so every later call returns
//!   the same error.
//! - **Oversize records are refused before buffering them.** The length is checked
//!   against the configured maximum ([`DEFAULT_MAX_RECORD_SIZE`] unless set)
//!   digit by digit while the header is read, so a hostile `99999999999\n` is an
//!   error before a single byte of the body is kept. Mesos has no limit; ours
//!   protects the framework and executor from a misbehaving peer.
//! - **Truncation is reported by [`Decoder::finish`]**, which Mesos leaves as a
//!   TODO: a stream that ends inside a header or record is an error, not silence.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Default upper bound for one record: 16 MiB. Mesos events are far smaller in
/// practice (a large offer is tens of KiB); this only guards against a broken or
/// hostile peer making us buffer without bound.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 16 * 1024 * 1024;

/// Most digits a length header may have. 20 digits hold any `u64`; more can only
/// be leading zeros or garbage.
pub const MAX_LENGTH_DIGITS: usize = 20;

/// What went wrong while decoding a RecordIO stream. None of these is
/// retryable on the same stream: the record boundaries are lost, so the caller
/// drops the connection (and may open a new one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// The length header held a byte that is not an ASCII digit or the newline.
    #[error("invalid byte 0x{byte:02x} in RecordIO length header")]
    InvalidLengthByte {
        /// The offending byte.
        byte: u8,
    },
    /// The length header was empty (a bare newline).
    #[error("empty RecordIO length header")]
    EmptyLength,
    /// The length header had more than [`MAX_LENGTH_DIGITS`] digits.
    #[error("RecordIO length header longer than {max} digits")]
    LengthTooLong {
        /// The digit limit.
        max: usize,
    },
    /// The announced record length exceeds the configured maximum. `length` is
    /// the value read so far (at least the first value above the limit).
    #[error("RecordIO record of at least {length} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// The (partial) length read from the header.
        length: u64,
        /// The configured maximum record size.
        max: usize,
    },
    /// The stream ended in the middle of a length header.
    #[error("RecordIO stream ended inside a length header ({digits} digits read)")]
    TruncatedHeader {
        /// How many digits of the header had arrived.
        digits: usize,
    },
    /// The stream ended in the middle of a record.
    #[error("RecordIO stream ended inside a record: expected {expected} bytes, got {received}")]
    TruncatedRecord {
        /// The record length from the header.
        expected: usize,
        /// How many bytes of the record had arrived.
        received: usize,
    },
}

/// Appends the RecordIO frame of `record` (`<len>\n<bytes>`) to `out`.
pub fn encode_into(record: &[u8], out: &mut impl BufMut) {
    out.put_slice(record.len().to_string().as_bytes());
    out.put_u8(b'\n');
    out.put_slice(record);
}

/// Returns the RecordIO frame of `record` (`<len>\n<bytes>`).
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + MAX_LENGTH_DIGITS + 1);
    encode_into(record, &mut out);
    out
}

/// Decodes a complete RecordIO buffer into its records, with the default
/// maximum record size. A buffer that ends inside a record is an error.
pub fn decode_all(data: &[u8]) -> Result<Vec<Bytes>, RecordIoError> {
    let mut decoder = Decoder::new();
    decoder.push(data);
    let mut records = Vec::new();
    while let Some(record) = decoder.next_record()? {
        records.push(record);
    }
    decoder.finish()?;
    Ok(records)
}

/// Where the decoder is in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a length header: the value and digit count so far.
    Header { length: u64, digits: usize },
    /// Waiting for `length` bytes of record body.
    Record { length: usize },
    /// A fatal error happened; it is returned again on every call.
    Failed(RecordIoError),
}

/// Streaming RecordIO decoder: [`push`](Decoder::push) chunks as they arrive,
/// then call [`next_record`](Decoder::next_record) until it returns `Ok(None)`.
/// At end of stream call [`finish`](Decoder::finish) to detect truncation.
///
/// Memory: header digits are folded into a number as they are read, so the
/// buffer holds at most one record body (bounded by the maximum record size)
/// plus whatever the caller pushed and has not drained yet.
#[derive(Debug, Clone)]
pub struct Decoder {
    buffer: BytesMut,
    state: State,
    max_record_size: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with [`DEFAULT_MAX_RECORD_SIZE`].
    pub fn new() -> Self {
        Self::with_max_record_size(DEFAULT_MAX_RECORD_SIZE)
    }

    /// A decoder that refuses records longer than `max_record_size` bytes.
    pub fn with_max_record_size(max_record_size: usize) -> Self {
        Self {
            buffer: BytesMut::new(),
            state: State::Header {
                length: 0,
                digits: 0,
            },
            max_record_size,
        }
    }

    /// The configured maximum record size.
    pub fn max_record_size(&self) -> usize {
        self.max_record_size
    }

    /// Appends a chunk of the stream. Chunks may split headers and records
    /// anywhere. Data pushed after a failure is dropped.
    pub fn push(&mut self, chunk: &[u8]) {
        if !matches!(self.state, State::Failed(_)) {
            self.buffer.extend_from_slice(chunk);
        }
    }

    /// Returns the next complete record, `Ok(None)` if more input is needed, or
    /// the error that made the stream undecodable (again on every later call).
    pub fn next_record(&mut self) -> Result<Option<Bytes>, RecordIoError> {
        loop {
            match self.state.clone() {
                State::Failed(error) => return Err(error),
                State::Record { length } => {
                    if self.buffer.len() < length {
                        // Reserve up front once the header is known so the body
                        // is not re-copied as it grows; `length` is bounded.
                        self.buffer.reserve(length - self.buffer.len());
                        return Ok(None);
                    }
                    let record = self.buffer.split_to(length).freeze();
                    self.state = State::Header {
                        length: 0,
                        digits: 0,
                    };
                    return Ok(Some(record));
                }
                State::Header { length, digits } => {
                    if self.buffer.is_empty() {
                        return Ok(None);
                    }
                    let byte = self.buffer[0];
                    self.buffer.advance(1);
                    match self.step_header(length, digits, byte) {
                        Ok(Some(record)) => return Ok(Some(record)),
                        Ok(None) => {}
                        Err(error) => {
                            self.buffer = BytesMut::new();
                            self.state = State::Failed(error.clone());
                            return Err(error);
                        }
                    }
                }
            }
        }
    }

    /// Feeds one header byte; returns an empty record for a zero length.
    fn step_header(
        &mut self,
        length: u64,
        digits: usize,
        byte: u8,
    ) -> Result<Option<Bytes>, RecordIoError> {
        match byte {
            b'\n' if digits == 0 => Err(RecordIoError::EmptyLength),
            b'\n' => {
                if length == 0 {
                    self.state = State::Header {
                        length: 0,
                        digits: 0,
                    };
                    return Ok(Some(Bytes::new()));
                }
                // `length <= max_record_size` was checked digit by digit.
                let length =
                    usize::try_from(length).map_err(|_| RecordIoError::RecordTooLarge {
                        length,
                        max: self.max_record_size,
                    })?;
                self.state = State::Record { length };
                Ok(None)
            }
            b'0'..=b'9' => {
                let digits = digits + 1;
                if digits > MAX_LENGTH_DIGITS {
                    return Err(RecordIoError::LengthTooLong {
                        max: MAX_LENGTH_DIGITS,
                    });
                }
                let max = self.max_record_size;
                let too_large = |length| RecordIoError::RecordTooLarge { length, max };
                let length = length
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(u64::from(byte - b'0')))
                    .ok_or(too_large(u64::MAX))?;
                if length > self.max_record_size as u64 {
                    return Err(too_large(length));
                }
                self.state = State::Header { length, digits };
                Ok(None)
            }
            byte => Err(RecordIoError::InvalidLengthByte { byte }),
        }
    }

    /// Declares the end of the stream. Call it once [`next_record`](Self::next_record)
    /// has returned `Ok(None)`: it returns `Ok(())` if the stream ended on a
    /// record boundary, the earlier failure if there was one, and a truncation
    /// error if it ended inside a header or a record.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        match &self.state {
            State::Failed(error) => Err(error.clone()),
            State::Header { digits: 0, .. } if self.buffer.is_empty() => Ok(()),
            State::Header { digits, .. } => Err(RecordIoError::TruncatedHeader {
                digits: *digits + self.buffer.len(),
            }),
            State::Record { length } => Err(RecordIoError::TruncatedRecord {
                expected: *length,
                received: self.buffer.len().min(*length),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_chunks(chunks: &[&[u8]]) -> (Vec<Bytes>, Result<(), RecordIoError>) {
        let mut decoder = Decoder::new();
        let mut records = Vec::new();
        for chunk in chunks {
            decoder.push(chunk);
            loop {
                match decoder.next_record() {
                    Ok(Some(record)) => records.push(record),
                    Ok(None) => break,
                    Err(error) => return (records, Err(error)),
                }
            }
        }
        let end = decoder.finish();
        (records, end)
    }

    #[test]
    fn encodes_length_newline_bytes() {
        assert_eq!(encode(b"hello"), b"5\nhello");
        assert_eq!(encode(b""), b"0\n");
        let mut out = BytesMut::new();
        encode_into(b"world!", &mut out);
        assert_eq!(&out[..], b"6\nworld!");
    }

    #[test]
    fn decodes_the_mesos_example() {
        let records = decode_all(b"5\nhello6\nworld!").unwrap();
        assert_eq!(records, vec![Bytes::from("hello"), Bytes::from("world!")]);
    }

    #[test]
    fn zero_length_is_an_empty_record() {
        let records = decode_all(b"0\n0\n1\nx").unwrap();
        assert_eq!(records, vec![Bytes::new(), Bytes::new(), Bytes::from("x")]);
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(decode_all(b"003\nabc").unwrap(), vec![Bytes::from("abc")]);
    }

    #[test]
    fn empty_length_is_an_error() {
        assert_eq!(decode_all(b"\n"), Err(RecordIoError::EmptyLength));
    }

    #[test]
    fn non_digit_is_an_error() {
        assert_eq!(
            decode_all(b"1a\nx"),
            Err(RecordIoError::InvalidLengthByte { byte: b'a' })
        );
        assert_eq!(
            decode_all(b"-1\nx"),
            Err(RecordIoError::InvalidLengthByte { byte: b'-' })
        );
        assert_eq!(
            decode_all(b"1\r\nx"),
            Err(RecordIoError::InvalidLengthByte { byte: b'\r' })
        );
    }

    #[test]
    fn too_many_digits_is_an_error() {
        let header = [b'0'; MAX_LENGTH_DIGITS + 1];
        assert_eq!(
            decode_all(&header),
            Err(RecordIoError::LengthTooLong {
                max: MAX_LENGTH_DIGITS
            })
        );
        let mut ok = vec![b'0'; MAX_LENGTH_DIGITS - 1];
        ok.extend_from_slice(b"1\nz");
        assert_eq!(decode_all(&ok).unwrap(), vec![Bytes::from("z")]);
    }

    #[test]
    fn oversize_is_refused_before_the_body_arrives() {
        let mut decoder = Decoder::with_max_record_size(10);
        decoder.push(b"11");
        assert_eq!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLarge {
                length: 11,
                max: 10
            })
        );
        // The maximum itself is fine.
        let mut decoder = Decoder::with_max_record_size(10);
        decoder.push(b"10\n0123456789");
        assert_eq!(
            decoder.next_record().unwrap(),
            Some(Bytes::from("0123456789"))
        );
    }

    #[test]
    fn huge_length_does_not_overflow() {
        let mut decoder = Decoder::with_max_record_size(usize::MAX);
        decoder.push(b"99999999999999999999\n");
        assert!(matches!(
            decoder.next_record(),
            Err(RecordIoError::RecordTooLarge { .. })
        ));
    }

    #[test]
    fn failure_is_sticky() {
        let mut decoder = Decoder::new();
        decoder.push(b"x");
        let first = decoder.next_record().unwrap_err();
        decoder.push(b"1\na");
        assert_eq!(decoder.next_record().unwrap_err(), first);
        assert_eq!(decoder.finish().unwrap_err(), first);
    }

    #[test]
    fn byte_at_a_time() {
        let data = b"5\nhello0\n6\nworld!";
        let chunks: Vec<&[u8]> = data.chunks(1).collect();
        let (records, end) = decode_chunks(&chunks);
        assert_eq!(
            records,
            vec![Bytes::from("hello"), Bytes::new(), Bytes::from("world!")]
        );
        assert_eq!(end, Ok(()));
    }

    #[test]
    fn truncation_is_reported_by_finish() {
        assert_eq!(
            decode_chunks(&[b"5\nhel"]).1,
            Err(RecordIoError::TruncatedRecord {
                expected: 5,
                received: 3
            })
        );
        assert_eq!(
            decode_chunks(&[b"12"]).1,
            Err(RecordIoError::TruncatedHeader { digits: 2 })
        );
        assert_eq!(
            decode_chunks(&[b"5\n"]).1,
            Err(RecordIoError::TruncatedRecord {
                expected: 5,
                received: 0
            })
        );
        assert_eq!(decode_chunks(&[b""]).1, Ok(()));
    }
}
