//! placeholder
pub mod discovery;
pub mod error;
pub mod meta;
pub mod patch;
pub mod resources;
pub mod selector;
pub mod store;
pub mod strategy;
pub mod table;
pub mod typed;
