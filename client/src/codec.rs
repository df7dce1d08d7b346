//! Bytes of one call or event in the chosen wire format.
//!
//! Mesos accepts `application/x-protobuf` and `application/json` on its v1
//! APIs. Protobuf is our default; JSON (Mesos' own mapping, from
//! `kube_mesos_proto::json`) is there for debugging with a proxy. Both are
//! pure functions so the HTTP code only moves bytes.

use kube_mesos_proto::json;

/// The `Content-Type` and `Accept` of Mesos API requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContentType {
    /// `application/x-protobuf`.
    #[default]
    Protobuf,
    /// `application/json`, Mesos' JSON mapping of the same messages.
    Json,
}

/// Why a message could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The protobuf bytes did not decode.
    #[error("decoding protobuf failed")]
    ProtobufDecodeFailed(#[source] prost::DecodeError),
    /// The JSON mapping failed (either way).
    #[error("Mesos JSON mapping failed")]
    JsonMappingFailed(#[source] json::JsonError),
    /// The JSON value could not be written.
    #[error("writing JSON failed")]
    JsonWriteFailed(#[source] serde_json::Error),
}

impl ContentType {
    /// The media type string.
    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Protobuf => "application/x-protobuf",
            ContentType::Json => "application/json",
        }
    }

    /// Encodes a message.
    pub fn encode<M: prost::Message + prost::Name>(self, msg: &M) -> Result<Vec<u8>, CodecError> {
        match self {
            ContentType::Protobuf => Ok(msg.encode_to_vec()),
            ContentType::Json => {
                let value = json::to_json(msg).map_err(CodecError::JsonMappingFailed)?;
                serde_json::to_vec(&value).map_err(CodecError::JsonWriteFailed)
            }
        }
    }

    /// Decodes a message.
    pub fn decode<M: prost::Message + prost::Name + Default>(
        self,
        bytes: &[u8],
    ) -> Result<M, CodecError> {
        match self {
            ContentType::Protobuf => M::decode(bytes).map_err(CodecError::ProtobufDecodeFailed),
            ContentType::Json => json::from_json(bytes).map_err(CodecError::JsonMappingFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_mesos_proto::v1::scheduler::{call, Call};
    use kube_mesos_proto::v1::FrameworkId;

    fn revive() -> Call {
        let mut call = Call {
            framework_id: Some(FrameworkId {
                value: "fw-1".into(),
            }),
            ..Default::default()
        };
        call.set_type(call::Type::Revive);
        call
    }

    #[test]
    fn round_trips_in_both_formats() {
        for ct in [ContentType::Protobuf, ContentType::Json] {
            let bytes = ct.encode(&revive()).unwrap();
            let back: Call = ct.decode(&bytes).unwrap();
            assert_eq!(back, revive(), "{ct:?}");
        }
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert!(ContentType::Protobuf.decode::<Call>(&[0xff, 0xff]).is_err());
        assert!(ContentType::Json.decode::<Call>(b"{").is_err());
    }
}
