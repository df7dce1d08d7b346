//! Placement: which queued pods go onto which agent's offers.
//!
//! Filled in behind this interface; see the module docs once implemented.

/// How agents are scored among those a pod fits on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlacementPolicy {
    /// Prefer the agent with the least free resources after placement, so
    /// whole agents stay free for neighbours on the shared pool. Default.
    #[default]
    Binpack,
    /// Prefer the agent with the most free resources.
    Spread,
}

impl std::str::FromStr for PlacementPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "binpack" => Ok(Self::Binpack),
            "spread" => Ok(Self::Spread),
            other => Err(format!(
                "unknown placement policy `{other}` (expected binpack or spread)"
            )),
        }
    }
}
