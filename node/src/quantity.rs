//! Kubernetes resource quantities (`100m`, `1.5Gi`, `2e3`): the one parser
//! both sides read them with, and the formatting of the Node's capacity.
//!
//! The framework places a pod with the requests it reads here and the
//! executor runs it (limits, downward API) with the same numbers, so there
//! is exactly one parser. Values are integer nano-units (`i128`): `0.1` cpu
//! is exactly 100 000 000, and ceilings such as the kubelet's
//! `ceil(milli / divisor)` come out right, which floating point would not
//! guarantee. Like Kubernetes (`MilliValue`, `Value`) every reading rounds
//! the exact value up.

/// Nano-units in one unit.
pub const NANO: i128 = 1_000_000_000;

/// A quantity in nano-units (1 = 10⁻⁹ of the base unit).
pub type Nanos = i128;

/// Parses a quantity string; `None` if malformed or beyond `i128` nanos.
///
/// Every digit counts, however far down the fraction (a last digit past the
/// ninth decimal still rounds up a nano); trailing zeros change nothing.
pub fn parse(q: &str) -> Option<Nanos> {
    let (num, suffix) = split_number(q.trim())?;
    let (negative, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_part = frac_part.trim_end_matches('0');
    let all = format!("{int_part}{frac_part}");
    let mantissa: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    let (suffix10, mult) = suffix_scale(suffix)?;
    // nanos = mantissa × mult × 10^(suffix10 - frac_len + 9), rounded up.
    let e = suffix10
        .checked_sub(i32::try_from(frac_part.len()).ok()?)?
        .checked_add(9)?;
    let base = mantissa.checked_mul(mult)?;
    let value = if e >= 0 {
        base.checked_mul(10i128.checked_pow(e.unsigned_abs())?)?
    } else {
        let d = 10i128.checked_pow(e.unsigned_abs())?;
        base.checked_add(d - 1)? / d
    };
    Some(if negative { -value } else { value })
}

/// A suffix as a power of ten and a binary multiplier. `E` alone is exa;
/// `e`/`E` followed by a number is an exponent (a hostile exponent such as
/// `1e2147483647` is refused, not overflowed).
fn suffix_scale(suffix: &str) -> Option<(i32, i128)> {
    Some(match suffix {
        "" => (0, 1),
        "n" => (-9, 1),
        "u" => (-6, 1),
        "m" => (-3, 1),
        "k" => (3, 1),
        "M" => (6, 1),
        "G" => (9, 1),
        "T" => (12, 1),
        "P" => (15, 1),
        "E" => (18, 1),
        "Ki" => (0, 1 << 10),
        "Mi" => (0, 1 << 20),
        "Gi" => (0, 1 << 30),
        "Ti" => (0, 1 << 40),
        "Pi" => (0, 1 << 50),
        "Ei" => (0, 1 << 60),
        s if s.starts_with(['e', 'E']) => (s[1..].parse::<i32>().ok()?, 1),
        _ => return None,
    })
}

/// The number (optional leading sign, digits and one `.`) and the suffix.
fn split_number(q: &str) -> Option<(&str, &str)> {
    let end = q
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || ((*c == '-' || *c == '+') && *i == 0)))
        .map_or(q.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    Some((&q[..end], &q[end..]))
}

/// `ceil(a / b)` for positive nano values (truncates toward zero when the
/// signs differ); 0 when `b` is 0.
pub fn ceil_div(a: Nanos, b: Nanos) -> Nanos {
    if b == 0 {
        return 0;
    }
    let q = a / b;
    if a % b != 0 && (a > 0) == (b > 0) {
        q + 1
    } else {
        q
    }
}

/// Milli-units, rounded up (Kubernetes `MilliValue`).
pub fn milli(n: Nanos) -> i128 {
    ceil_div(n, NANO / 1000)
}

/// Whole units, rounded up (Kubernetes `Value`).
pub fn units(n: Nanos) -> i128 {
    ceil_div(n, NANO)
}

/// A quantity string in milli-units, rounded up; `None` if malformed.
pub fn parse_milli(q: &str) -> Option<i128> {
    parse(q).map(milli)
}

/// Thousandths of a cpu as a quantity: `4` for whole cpus, `3500m`
/// otherwise.
pub fn cpu_quantity(milli: i64) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

/// Thousandths of a MiB as a quantity: `<n>Mi` for whole MiB, `<n>Ki`
/// otherwise (rounded to the nearest KiB).
pub fn mib_quantity(milli_mib: i64) -> String {
    // i128: an agent may announce any amount of memory (the fuzzer found
    // `i64::MAX / 1000` overflowing the KiB product).
    let ki = (i128::from(milli_mib) * 1024 + 500) / 1000;
    if ki % 1024 == 0 {
        format!("{}Mi", ki / 1024)
    } else {
        format!("{ki}Ki")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mib_quantity_of_any_amount() {
        assert_eq!(mib_quantity(2_048_000), "2048Mi");
        assert_eq!(mib_quantity(1_500), "1536Ki");
        assert_eq!(mib_quantity(i64::MAX), "9444732965739290426Ki");
        assert!(mib_quantity(i64::MIN).ends_with("Ki"));
    }

    #[test]
    fn parses_suffixes_exactly() {
        assert_eq!(parse("100m"), Some(100_000_000));
        assert_eq!(parse("0.1"), Some(100_000_000));
        assert_eq!(parse("1"), Some(NANO));
        assert_eq!(parse("1Ki"), Some(1024 * NANO));
        assert_eq!(parse("1.5Gi"), Some(3 * (1 << 29) * NANO));
        assert_eq!(parse("2e3"), Some(2000 * NANO));
        assert_eq!(parse("1k"), Some(1000 * NANO));
        assert_eq!(parse("1E"), Some(NANO * 1_000_000_000_000_000_000));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("1Zi"), None);
        assert_eq!(parse("1e"), None);
        assert_eq!(parse("1-2"), None);
        assert_eq!(milli(parse("1").unwrap()), 1000);
        assert_eq!(units(parse("1500m").unwrap()), 2);
    }

    #[test]
    fn milli_readings_round_up() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("1Ki"), Some(1_024_000));
        assert_eq!(parse_milli("128Mi"), Some(128 * (1 << 20) * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1E-3"), Some(1));
        assert_eq!(parse_milli("0.1m"), Some(1), "rounds up");
        assert_eq!(parse_milli("12x"), None);
        assert_eq!(parse_milli(".000"), Some(0));
        assert_eq!(parse_milli("1.5000000000000000000000000"), Some(1500));
        assert_eq!(parse_milli(""), None);
    }

    /// Every digit counts, however far down the fraction: Kubernetes rounds
    /// the exact value up (AFL++ found digits past the 18th dropped).
    #[test]
    fn far_fraction_digits_still_round_up() {
        assert_eq!(
            parse_milli("1.00000000000000000005Gi"),
            Some(1_073_741_824_001)
        );
        assert_eq!(
            parse_milli("11.111111111111111111111111111P"),
            Some(11_111_111_111_111_111_112)
        );
        assert_eq!(parse_milli(".000000000000000000011100m"), Some(1));
        assert_eq!(parse_milli("0.000000000000000000011E04"), Some(1));
    }

    /// Regression (found by the quantity fuzz target): exponents near
    /// `i32::MAX` overflowed instead of being refused.
    #[test]
    fn huge_exponents_are_refused_not_overflowed() {
        assert_eq!(parse("2e2147483646"), None);
        assert_eq!(parse("1e2147483647"), None);
        assert_eq!(parse("1.5e-2147483648"), None);
    }

    #[test]
    fn capacity_formats() {
        assert_eq!(cpu_quantity(4000), "4");
        assert_eq!(cpu_quantity(100), "100m");
        assert_eq!(mib_quantity(64_000), "64Mi");
        assert_eq!(mib_quantity(500), "512Ki");
    }
}
