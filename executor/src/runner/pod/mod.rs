//! One pod's life: the pure state machine ([`machine`]) with its timing rules
//! ([`backoff`], [`probe`]), and the async [`worker`] that drives it against a
//! [`crate::runner::runtime::Runtime`].

pub mod backoff;
pub mod machine;
pub mod probe;
pub mod prober;
pub mod worker;

#[cfg(test)]
pub(crate) mod tests;
