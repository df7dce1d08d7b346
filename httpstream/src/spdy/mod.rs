//! SPDY/3.1 as Kubernetes uses it for exec, attach and port-forward.
//!
//! - [`frame`]: frames as bytes (pure functions, own tests);
//! - [`zlib`]: the header-block compression with the SPDY/3 dictionary;
//! - [`conn`]: the session (streams over one upgraded connection).

pub mod conn;
pub mod frame;
pub mod zlib;

pub use conn::{Connection, Incoming, Role, SpdyError, Stream, StreamReader, StreamWriter};
pub use frame::{Frame, Headers};

/// The `Upgrade` token of SPDY/3.1 upgrades.
pub const UPGRADE_TOKEN: &str = "SPDY/3.1";
