//! WebSocket channel framing (`channel.k8s.io` and its `base64` and
//! versioned variants, `apimachinery/pkg/util/httpstream/wsstream`): each
//! binary message is one channel byte and the payload; the `base64`
//! variants send text: the channel as an ASCII digit, the payload in
//! standard base64. Pure functions over messages.

use base64::Engine;
use bytes::Bytes;
use tokio_tungstenite::tungstenite::Message;

/// Channel number of `v5`'s CLOSE signal (`[255, channel]`).
pub const CLOSE_SIGNAL: u8 = 255;

/// How a protocol puts channels into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Binary messages, channel byte first.
    Binary,
    /// Text messages, channel digit first, base64 payload.
    Base64,
}

impl Codec {
    /// The codec of a negotiated subprotocol.
    pub fn for_protocol(protocol: &str) -> Codec {
        if protocol.contains("base64.") {
            Codec::Base64
        } else {
            Codec::Binary
        }
    }

    /// A message carrying `data` on `channel`.
    pub fn encode(self, channel: u8, data: &[u8]) -> Message {
        match self {
            Codec::Binary => {
                let mut v = Vec::with_capacity(data.len() + 1);
                v.push(channel);
                v.extend_from_slice(data);
                Message::Binary(Bytes::from(v))
            }
            Codec::Base64 => {
                let mut s = String::with_capacity(data.len() * 4 / 3 + 5);
                s.push(char::from(b'0'.wrapping_add(channel)));
                base64::engine::general_purpose::STANDARD.encode_string(data, &mut s);
                Message::text(s)
            }
        }
    }

    /// The channel and payload of a data message; `None` for control
    /// messages, empty messages and undecodable payloads.
    pub fn decode(self, m: &Message) -> Option<(u8, Bytes)> {
        match (self, m) {
            (Codec::Binary, Message::Binary(b)) if !b.is_empty() => Some((b[0], b.slice(1..))),
            (Codec::Base64, Message::Text(t)) if !t.is_empty() => {
                let s = t.as_str();
                let channel = s.as_bytes()[0].wrapping_sub(b'0');
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&s[1..])
                    .ok()?;
                Some((channel, Bytes::from(data)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_their_channel() {
        let m = Codec::Binary.encode(1, b"foo\n");
        assert_eq!(m, Message::Binary(Bytes::from_static(b"\x01foo\n")));
        assert_eq!(
            Codec::Binary.decode(&m),
            Some((1, Bytes::from_static(b"foo\n")))
        );
        // The wsstream documentation's example: "foo\n" on stdin.
        let m = Codec::Base64.encode(0, b"foo\n");
        assert_eq!(m, Message::text("0Zm9vCg=="));
        assert_eq!(
            Codec::Base64.decode(&m),
            Some((0, Bytes::from_static(b"foo\n")))
        );
        assert_eq!(Codec::Binary.decode(&Message::Binary(Bytes::new())), None);
        assert_eq!(Codec::Base64.decode(&Message::text("1%%%")), None);
        assert_eq!(
            Codec::for_protocol("v4.base64.channel.k8s.io"),
            Codec::Base64
        );
        assert_eq!(Codec::for_protocol("v5.channel.k8s.io"), Codec::Binary);
    }
}
