//! Mesos' duration syntax, as the agent writes it into the executor's
//! environment (`MESOS_RECOVERY_TIMEOUT=15mins`).
//!
//! Same grammar as stout's `Duration::parse` (apache/mesos
//! `3rdparty/stout/include/stout/duration.hpp`): a non-negative decimal number
//! made of digits and `.`, immediately followed by one of the units `ns`, `us`,
//! `ms`, `secs`, `mins`, `hrs`, `days`, `weeks`. Nothing else is accepted
//! (no spaces, no sign, no bare number), so a typo fails loudly at startup.

use std::time::Duration;

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationParseError {
    /// No unit after the number (stout: "Invalid duration").
    #[error("invalid duration {0:?}: expected a number followed by a unit")]
    MissingUnit(String),
    /// The number part is empty or not a number (e.g. `1.2.3`).
    #[error("invalid number {0:?} in duration")]
    InvalidNumber(String),
    /// The unit is not one Mesos knows.
    #[error(
        "unknown duration unit {0:?}; supported units are 'ns', 'us', 'ms', 'secs', 'mins', 'hrs', 'days', and 'weeks'"
    )]
    UnknownUnit(String),
    /// The value does not fit a duration.
    #[error("duration {0:?} is out of range")]
    OutOfRange(String),
}

/// Parses a Mesos duration such as `15mins`, `2secs`, `100ms`, `1.5hrs`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationParseError> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| DurationParseError::MissingUnit(s.to_string()))?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| DurationParseError::InvalidNumber(number.to_string()))?;
    let nanos_per_unit: f64 = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "secs" => 1e9,
        "mins" => 60.0 * 1e9,
        "hrs" => 3600.0 * 1e9,
        "days" => 86_400.0 * 1e9,
        "weeks" => 7.0 * 86_400.0 * 1e9,
        other => return Err(DurationParseError::UnknownUnit(other.to_string())),
    };
    let nanos = value * nanos_per_unit;
    // stout stores an int64 of nanoseconds.
    if !nanos.is_finite() || nanos > i64::MAX as f64 {
        return Err(DurationParseError::OutOfRange(s.to_string()));
    }
    Ok(Duration::from_nanos(nanos as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit() {
        let cases = [
            ("5ns", Duration::from_nanos(5)),
            ("10us", Duration::from_micros(10)),
            ("100ms", Duration::from_millis(100)),
            ("2secs", Duration::from_secs(2)),
            ("15mins", Duration::from_secs(900)),
            ("1.5hrs", Duration::from_secs(5400)),
            ("3days", Duration::from_secs(3 * 86_400)),
            ("1weeks", Duration::from_secs(7 * 86_400)),
            ("0secs", Duration::ZERO),
            (".5secs", Duration::from_millis(500)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_duration("15"),
            Err(DurationParseError::MissingUnit("15".into()))
        );
        assert_eq!(
            parse_duration(""),
            Err(DurationParseError::MissingUnit("".into()))
        );
        assert_eq!(
            parse_duration("secs"),
            Err(DurationParseError::InvalidNumber("".into()))
        );
        assert_eq!(
            parse_duration("1.2.3secs"),
            Err(DurationParseError::InvalidNumber("1.2.3".into()))
        );
        assert_eq!(
            parse_duration("15min"),
            Err(DurationParseError::UnknownUnit("min".into()))
        );
        assert_eq!(
            parse_duration("15 mins"),
            Err(DurationParseError::UnknownUnit(" mins".into()))
        );
        assert_eq!(
            parse_duration("-1secs"),
            Err(DurationParseError::InvalidNumber("".into()))
        );
        assert!(matches!(
            parse_duration("99999999999999weeks"),
            Err(DurationParseError::OutOfRange(_))
        ));
    }
}
