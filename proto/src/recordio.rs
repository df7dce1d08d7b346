//! RecordIO framing.
