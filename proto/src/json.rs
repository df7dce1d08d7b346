//! Mesos' JSON mapping of the v1 messages.
//!
//! Mesos accepts and produces `application/json` as well as protobuf on its
//! HTTP APIs, and some clients (pymesos in particular) only speak JSON. The
//! mapping Mesos uses is *not* the canonical proto3 JSON mapping; it is
//! stout's `JSON::protobuf` / `protobuf::parse` (apache/mesos
//! `3rdparty/stout/include/stout/protobuf.hpp`), and this module follows it:
//!
//! - field names are the original `.proto` names (`framework_info`, not
//!   `frameworkInfo`); on input the camelCase JSON name is accepted too;
//! - enums are written as their names; on input an unknown enum name leaves
//!   an optional field unset (proto2 behaviour), numbers are accepted too;
//! - `bytes` are standard base64 with padding;
//! - 64-bit integers are JSON numbers (on input, strings are accepted too);
//! - unset optional fields are omitted, *except* fields with an explicit
//!   `[default = ...]` that are not deprecated: Mesos writes those with their
//!   default (an empty `Filters` is written as `{"refuse_seconds":5.0}`);
//! - on input, unknown fields are ignored, `null` means unset, and a missing
//!   `required` field is an error, as in Mesos.
//!
//! The conversion goes through the encoded bytes and a `prost-reflect`
//! [`DynamicMessage`] built from the descriptor set that `build.rs` embeds,
//! so the prost types need no serde derives and the JSON can never disagree
//! with the protobuf schema.

use std::sync::{Arc, OnceLock};

use prost::Message as _;
use prost_reflect::{
    Cardinality, DescriptorError, DescriptorPool, DeserializeOptions, DynamicMessage,
    MessageDescriptor, ReflectMessage as _, SerializeOptions, Value,
};

/// The encoded `FileDescriptorSet` of `proto/mesos/v1/**.proto`.
static DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mesos_descriptor.bin"));

/// Errors of the JSON codec. None of them is worth retrying: the input (or,
/// for [`JsonError::DescriptorSetInvalid`], the build) has to change.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The descriptor set embedded at build time could not be loaded.
    #[error("loading the embedded Mesos descriptor set failed")]
    DescriptorSetInvalid(#[source] Arc<DescriptorError>),
    /// The message type is not part of our `.proto` files.
    #[error("message type `{0}` is not in the Mesos descriptor set")]
    UnknownMessageType(String),
    /// The protobuf bytes did not decode as the named message.
    #[error("decoding protobuf bytes as `{type_name}` failed")]
    DecodeFailed {
        /// Full protobuf name of the message.
        type_name: String,
        /// The decoder's error.
        #[source]
        source: prost::DecodeError,
    },
    /// Writing the message as JSON failed.
    #[error("writing `{type_name}` as JSON failed")]
    SerializeFailed {
        /// Full protobuf name of the message.
        type_name: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
    /// The JSON text was malformed or did not fit the message's schema.
    #[error("parsing JSON as `{type_name}` failed")]
    ParseFailed {
        /// Full protobuf name of the message.
        type_name: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A `required` field is missing (Mesos rejects such input too).
    #[error("`{type_name}` is missing required field `{field}`")]
    MissingRequiredField {
        /// Full protobuf name of the (possibly nested) message.
        type_name: String,
        /// Dotted path of the missing field from the top-level message.
        field: String,
    },
}

/// Result alias of this module.
pub type Result<T, E = JsonError> = std::result::Result<T, E>;

/// The descriptor pool of all messages in `proto/mesos/v1`, loaded once.
pub fn descriptor_pool() -> Result<&'static DescriptorPool> {
    static POOL: OnceLock<Result<DescriptorPool, Arc<DescriptorError>>> = OnceLock::new();
    POOL.get_or_init(|| DescriptorPool::decode(DESCRIPTOR_SET).map_err(Arc::new))
        .as_ref()
        .map_err(|err| JsonError::DescriptorSetInvalid(Arc::clone(err)))
}

fn message_descriptor(type_name: &str) -> Result<MessageDescriptor> {
    descriptor_pool()?
        .get_message_by_name(type_name)
        .ok_or_else(|| JsonError::UnknownMessageType(type_name.to_owned()))
}

/// Writes `msg` as Mesos writes it in JSON.
pub fn to_json<M: prost::Name>(msg: &M) -> Result<serde_json::Value> {
    encoded_to_json(&M::full_name(), &msg.encode_to_vec())
}

/// Writes the protobuf-encoded message `encoded` of type `type_name` (a full
/// name such as `mesos.v1.scheduler.Event`) as Mesos writes it in JSON.
pub fn encoded_to_json(type_name: &str, encoded: &[u8]) -> Result<serde_json::Value> {
    let desc = message_descriptor(type_name)?;
    let mut dynamic =
        DynamicMessage::decode(desc, encoded).map_err(|source| JsonError::DecodeFailed {
            type_name: type_name.to_owned(),
            source,
        })?;
    fill_explicit_defaults(&mut dynamic);
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .use_enum_numbers(false)
        .skip_default_fields(true);
    dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|source| JsonError::SerializeFailed {
            type_name: type_name.to_owned(),
            source,
        })
}

/// Parses JSON text as Mesos parses it into a message of type `M`.
pub fn from_json<M: prost::Name + Default>(json: &[u8]) -> Result<M> {
    let type_name = M::full_name();
    let mut de = serde_json::Deserializer::from_slice(json);
    let encoded = parse_to_encoded(&type_name, &mut de)?;
    de.end().map_err(|source| JsonError::ParseFailed {
        type_name: type_name.clone(),
        source,
    })?;
    decode_typed(&type_name, &encoded)
}

/// Like [`from_json`], for an already parsed JSON value.
pub fn from_json_value<M: prost::Name + Default>(json: serde_json::Value) -> Result<M> {
    let type_name = M::full_name();
    let encoded = parse_to_encoded(&type_name, json)?;
    decode_typed(&type_name, &encoded)
}

/// Parses JSON text as a message of type `type_name` (a full protobuf name)
/// and returns its protobuf encoding.
pub fn json_to_encoded(type_name: &str, json: &[u8]) -> Result<Vec<u8>> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let encoded = parse_to_encoded(type_name, &mut de)?;
    de.end().map_err(|source| JsonError::ParseFailed {
        type_name: type_name.to_owned(),
        source,
    })?;
    Ok(encoded)
}

fn parse_to_encoded<'de, D>(type_name: &str, deserializer: D) -> Result<Vec<u8>>
where
    D: serde::Deserializer<'de, Error = serde_json::Error>,
{
    let desc = message_descriptor(type_name)?;
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic = DynamicMessage::deserialize_with_options(desc, deserializer, &options).map_err(
        |source| JsonError::ParseFailed {
            type_name: type_name.to_owned(),
            source,
        },
    )?;
    check_required(&dynamic, "")?;
    Ok(dynamic.encode_to_vec())
}

fn decode_typed<M: prost::Name + Default>(type_name: &str, encoded: &[u8]) -> Result<M> {
    M::decode(encoded).map_err(|source| JsonError::DecodeFailed {
        type_name: type_name.to_owned(),
        source,
    })
}

/// Mirrors stout's writer: an unset singular field with an explicit
/// `[default = ...]` that is not deprecated is written with its default.
fn fill_explicit_defaults(msg: &mut DynamicMessage) {
    let desc = msg.descriptor();
    for field in desc.fields() {
        if field.is_list() || field.is_map() || msg.has_field(&field) {
            continue;
        }
        let proto = field.field_descriptor_proto();
        let deprecated = proto.options.as_ref().and_then(|o| o.deprecated) == Some(true);
        if proto.default_value.is_some() && !deprecated {
            // `try_set_field` cannot fail for the field's own default value;
            // ignoring the result keeps this path free of panics.
            let _ = msg.try_set_field(&field, field.default_value());
        }
    }
    for (_, value) in msg.fields_mut() {
        match value {
            Value::Message(nested) => fill_explicit_defaults(nested),
            Value::List(items) => items.iter_mut().for_each(fill_in_value),
            Value::Map(entries) => entries.values_mut().for_each(fill_in_value),
            _ => {}
        }
    }
}

fn fill_in_value(value: &mut Value) {
    if let Value::Message(nested) = value {
        fill_explicit_defaults(nested);
    }
}

/// Mirrors Mesos' `IsInitialized()` check after parsing JSON: every
/// `required` field of every present message must be set.
fn check_required(msg: &DynamicMessage, path: &str) -> Result<()> {
    let desc = msg.descriptor();
    for field in desc.fields() {
        let field_path = if path.is_empty() {
            field.name().to_owned()
        } else {
            format!("{path}.{}", field.name())
        };
        if field.cardinality() == Cardinality::Required && !msg.has_field(&field) {
            return Err(JsonError::MissingRequiredField {
                type_name: desc.full_name().to_owned(),
                field: field_path,
            });
        }
        if !msg.has_field(&field) {
            continue;
        }
        match &*msg.get_field(&field) {
            Value::Message(nested) => check_required(nested, &field_path)?,
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::Message(nested) = item {
                        check_required(nested, &format!("{field_path}[{i}]"))?;
                    }
                }
            }
            Value::Map(entries) => {
                for (key, item) in entries {
                    if let Value::Message(nested) = item {
                        check_required(nested, &format!("{field_path}[{key:?}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
