//! SPDY/3.1 frames and their bytes (draft 3.1, section 2.2): pure
//! functions over buffers plus the per-connection header (de)compressor,
//! wrapped as a `tokio_util` codec for the connection's I/O shell.
//!
//! ```text
//! control: |1| version(15) | type(16) | flags(8) | length(24) | data
//! data:    |0| stream-id(31)          | flags(8) | length(24) | data
//! ```
//!
//! Header blocks are `u32` pair counts and `u32`-length-prefixed names and
//! values (several values of one name joined by NUL), zlib-compressed (see
//! [`super::zlib`]). Frames we have no use for (SETTINGS, WINDOW_UPDATE,
//! CREDENTIAL, unknown types) are decoded far enough to be skipped.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::zlib::{HeaderCompressor, HeaderDecompressor, ZlibError};

/// The protocol version carried in control frames.
pub const VERSION: u16 = 3;
/// FLAG_FIN (control and data frames): the sender's last frame on the stream.
pub const FLAG_FIN: u8 = 0x01;
/// FLAG_UNIDIRECTIONAL (SYN_STREAM).
pub const FLAG_UNIDIRECTIONAL: u8 = 0x02;
/// Largest payload of one frame (24-bit length).
pub const MAX_FRAME_PAYLOAD: usize = (1 << 24) - 1;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// RST_STREAM status codes.
pub mod rst {
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// INVALID_STREAM.
    pub const INVALID_STREAM: u32 = 2;
    /// REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 3;
    /// CANCEL.
    pub const CANCEL: u32 = 5;
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: u32 = 6;
}

/// Name/value pairs of a header block, names in lower case, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    /// Empty headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a pair (the name is lower-cased, as SPDY requires).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.0.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// SYN_STREAM: opens a stream.
    SynStream {
        /// Stream ID (odd from the client, even from the server).
        stream_id: u32,
        /// Associated stream (server push; 0 here).
        associated_to: u32,
        /// Priority 0 (highest) to 7.
        priority: u8,
        /// FLAG_FIN / FLAG_UNIDIRECTIONAL.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// SYN_REPLY: accepts a stream.
    SynReply {
        /// Stream ID.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// RST_STREAM: ends a stream abnormally.
    RstStream {
        /// Stream ID.
        stream_id: u32,
        /// Status ([`rst`]).
        status: u32,
    },
    /// SETTINGS (decoded and ignored: nothing here uses them).
    Settings,
    /// PING: echoed by the side that did not send it.
    Ping {
        /// Odd from the client, even from the server.
        id: u32,
    },
    /// GOAWAY: the sender takes no new streams.
    GoAway {
        /// Last stream the sender accepted.
        last_good_stream_id: u32,
        /// 0 OK, 1 PROTOCOL_ERROR, 2 INTERNAL_ERROR.
        status: u32,
    },
    /// HEADERS: more headers on a stream.
    Headers {
        /// Stream ID.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Headers.
        headers: Headers,
    },
    /// WINDOW_UPDATE (decoded and ignored, see `conn`).
    WindowUpdate {
        /// Stream ID (0 for the connection).
        stream_id: u32,
        /// Window increase.
        delta: u32,
    },
    /// A control frame of a type this implementation skips.
    Unknown {
        /// Its type.
        frame_type: u16,
    },
    /// DATA.
    Data {
        /// Stream ID.
        stream_id: u32,
        /// FLAG_FIN.
        flags: u8,
        /// Payload.
        data: Bytes,
    },
}

/// Bytes that are not valid SPDY/3.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    UnsupportedVersion(u16),
    /// A frame too short for its type, or with bad fields.
    #[error("invalid {kind} frame: {reason}")]
    Invalid {
        /// Frame type.
        kind: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A header block that does not parse.
    #[error("invalid header block: {0}")]
    HeaderBlock(&'static str),
    /// The zlib stream of header blocks broke.
    #[error(transparent)]
    Zlib(#[from] ZlibError),
    /// A frame to send that cannot be encoded (payload too large).
    #[error("frame payload of {0} bytes exceeds the 24-bit length")]
    TooLarge(usize),
    /// Reading or writing the connection failed.
    #[error("connection I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serializes a header block (uncompressed).
pub fn header_block(headers: &Headers) -> Vec<u8> {
    // Several values of one name travel as one NUL-joined value.
    let mut merged: Vec<(&str, Vec<&str>)> = Vec::new();
    for (n, v) in &headers.0 {
        match merged.iter_mut().find(|(m, _)| *m == n.as_str()) {
            Some((_, vs)) => vs.push(v),
            None => merged.push((n, vec![v])),
        }
    }
    let mut out = Vec::new();
    out.put_u32(merged.len() as u32);
    for (n, vs) in merged {
        out.put_u32(n.len() as u32);
        out.extend_from_slice(n.to_ascii_lowercase().as_bytes());
        let v = vs.join("\0");
        out.put_u32(v.len() as u32);
        out.extend_from_slice(v.as_bytes());
    }
    out
}

/// Parses an uncompressed header block.
pub fn parse_header_block(mut b: &[u8]) -> Result<Headers, FrameError> {
    let short = FrameError::HeaderBlock("truncated");
    if b.len() < 4 {
        return Err(short);
    }
    let count = b.get_u32() as usize;
    let mut headers = Headers::new();
    for _ in 0..count {
        let mut field = || -> Result<String, FrameError> {
            if b.len() < 4 {
                return Err(FrameError::HeaderBlock("truncated"));
            }
            let len = b.get_u32() as usize;
            if b.len() < len {
                return Err(FrameError::HeaderBlock("truncated"));
            }
            let s = String::from_utf8_lossy(&b[..len]).into_owned();
            b.advance(len);
            Ok(s)
        };
        let name = field()?.to_ascii_lowercase();
        let value = field()?;
        if name.is_empty() {
            return Err(FrameError::HeaderBlock("empty header name"));
        }
        for v in value.split('\0') {
            headers.0.push((name.clone(), v.to_string()));
        }
    }
    Ok(headers)
}

fn control_header(out: &mut BytesMut, frame_type: u16, flags: u8, len: usize) {
    out.put_u16(0x8000 | VERSION);
    out.put_u16(frame_type);
    out.put_u32((u32::from(flags) << 24) | len as u32);
}

/// Encodes a frame, compressing header blocks with `z`.
pub fn encode(
    frame: &Frame,
    z: &mut HeaderCompressor,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let check = |len: usize| {
        if len > MAX_FRAME_PAYLOAD {
            Err(FrameError::TooLarge(len))
        } else {
            Ok(len)
        }
    };
    match frame {
        Frame::SynStream {
            stream_id,
            associated_to,
            priority,
            flags,
            headers,
        } => {
            let block = z.compress(&header_block(headers))?;
            control_header(out, TYPE_SYN_STREAM, *flags, check(10 + block.len())?);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(associated_to & 0x7fff_ffff);
            out.put_u8((priority & 0x07) << 5);
            out.put_u8(0); // credential slot
            out.extend_from_slice(&block);
        }
        Frame::SynReply {
            stream_id,
            flags,
            headers,
        }
        | Frame::Headers {
            stream_id,
            flags,
            headers,
        } => {
            let t = if matches!(frame, Frame::SynReply { .. }) {
                TYPE_SYN_REPLY
            } else {
                TYPE_HEADERS
            };
            let block = z.compress(&header_block(headers))?;
            control_header(out, t, *flags, check(4 + block.len())?);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.extend_from_slice(&block);
        }
        Frame::RstStream { stream_id, status } => {
            control_header(out, TYPE_RST_STREAM, 0, 8);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::Settings => {
            control_header(out, TYPE_SETTINGS, 0, 4);
            out.put_u32(0);
        }
        Frame::Ping { id } => {
            control_header(out, TYPE_PING, 0, 4);
            out.put_u32(*id);
        }
        Frame::GoAway {
            last_good_stream_id,
            status,
        } => {
            control_header(out, TYPE_GOAWAY, 0, 8);
            out.put_u32(last_good_stream_id & 0x7fff_ffff);
            out.put_u32(*status);
        }
        Frame::WindowUpdate { stream_id, delta } => {
            control_header(out, TYPE_WINDOW_UPDATE, 0, 8);
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32(delta & 0x7fff_ffff);
        }
        Frame::Unknown { .. } => {}
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            let len = check(data.len())?;
            out.put_u32(stream_id & 0x7fff_ffff);
            out.put_u32((u32::from(*flags) << 24) | len as u32);
            out.extend_from_slice(data);
        }
    }
    Ok(())
}

fn invalid(kind: &'static str, reason: &'static str) -> FrameError {
    FrameError::Invalid { kind, reason }
}

/// Decodes one frame from the front of `buf` if it is complete, consuming
/// it; `Ok(None)` means more bytes are needed.
pub fn decode(buf: &mut BytesMut, z: &mut HeaderDecompressor) -> Result<Option<Frame>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let first = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let flags = buf[4];
    let len = u32::from_be_bytes([0, buf[5], buf[6], buf[7]]) as usize;
    if buf.len() < 8 + len {
        buf.reserve(8 + len - buf.len());
        return Ok(None);
    }
    buf.advance(8);
    let mut p = buf.split_to(len).freeze();
    if first & 0x8000_0000 == 0 {
        let stream_id = first & 0x7fff_ffff;
        if stream_id == 0 {
            return Err(invalid("DATA", "stream id 0"));
        }
        return Ok(Some(Frame::Data {
            stream_id,
            flags,
            data: p,
        }));
    }
    let version = ((first >> 16) & 0x7fff) as u16;
    let frame_type = (first & 0xffff) as u16;
    if version != VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let need = |p: &Bytes, n: usize, kind| {
        if p.len() < n {
            Err(invalid(kind, "too short"))
        } else {
            Ok(())
        }
    };
    let frame = match frame_type {
        TYPE_SYN_STREAM => {
            need(&p, 10, "SYN_STREAM")?;
            let stream_id = p.get_u32() & 0x7fff_ffff;
            let associated_to = p.get_u32() & 0x7fff_ffff;
            let priority = p.get_u8() >> 5;
            let _slot = p.get_u8();
            let headers = parse_header_block(&z.decompress(&p)?)?;
            if stream_id == 0 {
                return Err(invalid("SYN_STREAM", "stream id 0"));
            }
            Frame::SynStream {
                stream_id,
                associated_to,
                priority,
                flags,
                headers,
            }
        }
        TYPE_SYN_REPLY | TYPE_HEADERS => {
            let kind = if frame_type == TYPE_SYN_REPLY {
                "SYN_REPLY"
            } else {
                "HEADERS"
            };
            need(&p, 4, kind)?;
            let stream_id = p.get_u32() & 0x7fff_ffff;
            let headers = parse_header_block(&z.decompress(&p)?)?;
            if stream_id == 0 {
                return Err(invalid(kind, "stream id 0"));
            }
            if frame_type == TYPE_SYN_REPLY {
                Frame::SynReply {
                    stream_id,
                    flags,
                    headers,
                }
            } else {
                Frame::Headers {
                    stream_id,
                    flags,
                    headers,
                }
            }
        }
        TYPE_RST_STREAM => {
            need(&p, 8, "RST_STREAM")?;
            let stream_id = p.get_u32() & 0x7fff_ffff;
            let status = p.get_u32();
            Frame::RstStream { stream_id, status }
        }
        TYPE_SETTINGS => Frame::Settings,
        TYPE_PING => {
            need(&p, 4, "PING")?;
            Frame::Ping { id: p.get_u32() }
        }
        TYPE_GOAWAY => {
            need(&p, 4, "GOAWAY")?;
            let last_good_stream_id = p.get_u32() & 0x7fff_ffff;
            let status = if p.len() >= 4 { p.get_u32() } else { 0 };
            Frame::GoAway {
                last_good_stream_id,
                status,
            }
        }
        TYPE_WINDOW_UPDATE => {
            need(&p, 8, "WINDOW_UPDATE")?;
            let stream_id = p.get_u32() & 0x7fff_ffff;
            let delta = p.get_u32() & 0x7fff_ffff;
            Frame::WindowUpdate { stream_id, delta }
        }
        other => Frame::Unknown { frame_type: other },
    };
    Ok(Some(frame))
}

/// The connection's codec: one compressor for what we send, one
/// decompressor for what we receive.
#[derive(Debug, Default)]
pub struct Codec {
    compressor: HeaderCompressor,
    decompressor: HeaderDecompressor,
}

impl tokio_util::codec::Decoder for Codec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        decode(src, &mut self.decompressor)
    }
}

impl tokio_util::codec::Encoder<Frame> for Codec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode(&frame, &mut self.compressor, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frames: &[Frame]) -> Vec<Frame> {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let mut buf = BytesMut::new();
        for f in frames {
            encode(f, &mut c, &mut buf).unwrap();
        }
        let mut out = Vec::new();
        // Feed byte by byte: decoding must wait for whole frames.
        let all = buf.freeze();
        let mut pending = BytesMut::new();
        for b in all.iter() {
            pending.put_u8(*b);
            while let Some(f) = decode(&mut pending, &mut d).unwrap() {
                out.push(f);
            }
        }
        assert!(pending.is_empty());
        out
    }

    #[test]
    fn every_frame_round_trips() {
        let h = Headers::new()
            .with("streamType", "error")
            .with("Port", "8080")
            .with("x-multi", "a")
            .with("x-multi", "b");
        let frames = vec![
            Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: h.clone(),
            },
            Frame::SynReply {
                stream_id: 1,
                flags: FLAG_FIN,
                headers: Headers::new(),
            },
            Frame::Data {
                stream_id: 1,
                flags: 0,
                data: Bytes::from_static(b"hello"),
            },
            Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::new(),
            },
            Frame::Headers {
                stream_id: 3,
                flags: 0,
                headers: h.clone(),
            },
            Frame::RstStream {
                stream_id: 5,
                status: rst::CANCEL,
            },
            Frame::Ping { id: 7 },
            Frame::Settings,
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 65536,
            },
            Frame::GoAway {
                last_good_stream_id: 5,
                status: 0,
            },
        ];
        let back = round_trip(&frames);
        assert_eq!(back, frames);
        // Lower-cased names, repeated names kept in order.
        match &back[0] {
            Frame::SynStream { headers, .. } => {
                assert_eq!(headers.get("STREAMTYPE"), Some("error"));
                assert_eq!(headers.0.iter().filter(|(n, _)| n == "x-multi").count(), 2);
            }
            f => panic!("{f:?}"),
        }
    }

    /// Bytes as the SPDY/3 draft lays them out, written by hand.
    #[test]
    fn layouts_match_the_draft() {
        let mut c = HeaderCompressor::new();
        let mut b = BytesMut::new();
        encode(
            &Frame::Data {
                stream_id: 3,
                flags: FLAG_FIN,
                data: Bytes::from_static(b"ab"),
            },
            &mut c,
            &mut b,
        )
        .unwrap();
        encode(&Frame::Ping { id: 2 }, &mut c, &mut b).unwrap();
        encode(
            &Frame::RstStream {
                stream_id: 1,
                status: rst::CANCEL,
            },
            &mut c,
            &mut b,
        )
        .unwrap();
        encode(
            &Frame::GoAway {
                last_good_stream_id: 9,
                status: 0,
            },
            &mut c,
            &mut b,
        )
        .unwrap();
        assert_eq!(
            &b[..],
            &[
                0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b', // DATA
                0x80, 3, 0, 6, 0, 0, 0, 4, 0, 0, 0, 2, // PING
                0x80, 3, 0, 3, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 5, // RST_STREAM
                0x80, 3, 0, 7, 0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0, 0, // GOAWAY
            ][..]
        );
        assert_eq!(
            header_block(&Headers::new().with("port", "80")),
            b"\0\0\0\x01\0\0\0\x04port\0\0\0\x0280"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut d = HeaderDecompressor::new();
        // SPDY/2 control frame.
        let mut b = BytesMut::from(&[0x80u8, 2, 0, 6, 0, 0, 0, 4, 0, 0, 0, 1][..]);
        assert!(matches!(
            decode(&mut b, &mut d),
            Err(FrameError::UnsupportedVersion(2))
        ));
        // DATA on stream 0.
        let mut b = BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 0][..]);
        assert!(decode(&mut b, &mut d).is_err());
        // SYN_STREAM too short.
        let mut b = BytesMut::from(&[0x80u8, 3, 0, 1, 0, 0, 0, 2, 0, 0][..]);
        assert!(decode(&mut b, &mut d).is_err());
        // Header blocks that lie about their lengths.
        assert!(parse_header_block(b"\0\0\0\x05").is_err());
        assert!(parse_header_block(b"\0\0\0\x01\0\0\0\x09port").is_err());
        assert!(parse_header_block(b"\0\0\0\x01\0\0\0\0\0\0\0\0").is_err());
        // Unknown control types are skipped whole.
        let mut b = BytesMut::from(&[0x80u8, 3, 0, 10, 0, 0, 0, 2, 9, 9, 0, 0][..]);
        assert_eq!(
            decode(&mut b, &mut d).unwrap(),
            Some(Frame::Unknown { frame_type: 10 })
        );
        assert_eq!(&b[..], &[0, 0]);
    }
}
