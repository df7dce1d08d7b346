//! SPDY/3 header compression: every header block of a connection, in each
//! direction, is one zlib stream primed with the SPDY/3 dictionary and
//! sync-flushed at the end of each block (SPDY/3 draft, section 2.6.10.1;
//! Go's `spdy.Framer` does the same with `zlib.NewWriterLevelDict` and
//! `zlib.NewReaderDict`). Both sides therefore keep one compressor and one
//! decompressor for the whole connection, and blocks must be handled in the
//! order they travel.

use std::sync::LazyLock;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Header names the dictionary starts with, each preceded on the wire by
/// its length as a big-endian u32 (the draft lists them in this order).
const DICTIONARY_WORDS: &[&str] = &[
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
    "200 OK",
    "version",
    "HTTP/1.1",
    "url",
    "public",
    "set-cookie",
    "keep-alive",
    "origin",
];

/// The dictionary's tail: common values, without length prefixes.
const DICTIONARY_TAIL: &str = concat!(
    "100101201202205206300302303304305306307402405406407408409410411412413414",
    "415416417502504505203 Non-Authoritative Information204 No Content301 Moved ",
    "Permanently400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 ",
    "Internal Server Error501 Not Implemented503 Service UnavailableJan Feb Mar ",
    "Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, ",
    "Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,",
    "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,",
    "deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.",
);

/// The SPDY/3 zlib dictionary (1423 bytes).
pub static DICTIONARY: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut d = Vec::with_capacity(1423);
    for w in DICTIONARY_WORDS {
        d.extend_from_slice(&(w.len() as u32).to_be_bytes());
        d.extend_from_slice(w.as_bytes());
    }
    d.extend_from_slice(DICTIONARY_TAIL.as_bytes());
    d
});

/// A header block could not be (de)compressed.
#[derive(Debug, thiserror::Error)]
#[error("header block zlib stream: {0}")]
pub struct ZlibError(String);

/// Largest decompressed header block accepted: a guard against a peer
/// that inflates a small frame into gigabytes.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;

/// The compressing half (what this side sends).
pub struct HeaderCompressor {
    z: Compress,
}

impl std::fmt::Debug for HeaderCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderCompressor").finish_non_exhaustive()
    }
}

impl Default for HeaderCompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderCompressor {
    /// A new stream; its zlib header names the dictionary (FDICT).
    pub fn new() -> Self {
        let mut z = Compress::new(Compression::best(), true);
        // Only fails if called after data was compressed.
        let _ = z.set_dictionary(&DICTIONARY);
        Self { z }
    }

    /// Compresses one header block and sync-flushes it.
    pub fn compress(&mut self, block: &[u8]) -> Result<Vec<u8>, ZlibError> {
        let mut out = Vec::with_capacity(block.len() / 2 + 64);
        let mut consumed = 0usize;
        loop {
            let before = self.z.total_in();
            self.z
                .compress_vec(&block[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| ZlibError(e.to_string()))?;
            consumed += (self.z.total_in() - before) as usize;
            if consumed == block.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            out.reserve(256);
        }
    }
}

/// The decompressing half (what the peer sends).
pub struct HeaderDecompressor {
    z: Decompress,
}

impl std::fmt::Debug for HeaderDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderDecompressor").finish_non_exhaustive()
    }
}

impl Default for HeaderDecompressor {
    fn default() -> Self {
        Self::new()
    }
}

impl HeaderDecompressor {
    /// A new stream.
    pub fn new() -> Self {
        Self {
            z: Decompress::new(true),
        }
    }

    /// Decompresses the compressed bytes of one frame's header block.
    pub fn decompress(&mut self, input: &[u8]) -> Result<Vec<u8>, ZlibError> {
        let mut out = Vec::with_capacity(input.len() * 4 + 64);
        let mut consumed = 0usize;
        loop {
            let before = self.z.total_in();
            let res = self
                .z
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync);
            consumed += (self.z.total_in() - before) as usize;
            match res {
                Ok(Status::StreamEnd) => return Ok(out),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.z
                        .set_dictionary(&DICTIONARY)
                        .map_err(|e| ZlibError(format!("setting the dictionary: {e}")))?;
                    continue;
                }
                Err(e) => return Err(ZlibError(e.to_string())),
            }
            if consumed == input.len() && out.len() < out.capacity() {
                return Ok(out);
            }
            if out.len() >= MAX_HEADER_BLOCK {
                return Err(ZlibError(format!(
                    "header block larger than {MAX_HEADER_BLOCK} bytes"
                )));
            }
            out.reserve(out.capacity().max(256));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length and Adler-32 of the dictionary as published with the SPDY/3
    /// draft (and compiled into Go's `spdy` package).
    #[test]
    fn dictionary_is_the_spdy3_one() {
        assert_eq!(DICTIONARY.len(), 1423);
        let mut a: u32 = 1;
        let mut b: u32 = 0;
        for &x in DICTIONARY.iter() {
            a = (a + u32::from(x)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!((b << 16) | a, 0xe3c6_a7c2);
    }

    #[test]
    fn blocks_round_trip_through_one_stream() {
        let mut c = HeaderCompressor::new();
        let mut d = HeaderDecompressor::new();
        let first = c
            .compress(b"\0\0\0\x01\0\0\0\x0astreamtype\0\0\0\x05error")
            .unwrap();
        // zlib header with FDICT and the dictionary's Adler-32.
        assert_eq!(first[0], 0x78);
        assert_eq!(first[1] & 0x20, 0x20);
        assert_eq!(&first[2..6], &0xe3c6_a7c2u32.to_be_bytes());
        // A sync flush ends every block.
        assert!(first.ends_with(&[0, 0, 0xff, 0xff]));
        assert_eq!(
            d.decompress(&first).unwrap(),
            b"\0\0\0\x01\0\0\0\x0astreamtype\0\0\0\x05error"
        );
        let second = c
            .compress(b"\0\0\0\x01\0\0\0\x0astreamtype\0\0\0\x06stdout")
            .unwrap();
        // The second block refers back to the first: it is shorter.
        assert!(second.len() < first.len() - 6, "{second:?}");
        assert_eq!(
            d.decompress(&second).unwrap(),
            b"\0\0\0\x01\0\0\0\x0astreamtype\0\0\0\x06stdout"
        );
        let big: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let z = c.compress(&big).unwrap();
        assert_eq!(d.decompress(&z).unwrap(), big);
    }

    #[test]
    fn a_fresh_stream_without_the_dictionary_is_refused_cleanly() {
        let mut d = HeaderDecompressor::new();
        assert!(d.decompress(b"\x78\xda\xff\xff\xff").is_err());
    }
}
