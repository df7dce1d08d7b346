//! Exact parsing of Kubernetes resource quantities (`100m`, `1.5Gi`, `2e3`).
//!
//! Values are kept as integer nano-units (`i128`), so `0.1` cpu is exactly
//! 100 000 000 and ceilings like the kubelet's `ceil(milli / divisor)` come
//! out right, which floating point would not guarantee.

const NANO: i128 = 1_000_000_000;

/// A quantity in nano-units (1 = 10⁻⁹ of the base unit).
pub type Nanos = i128;

/// Parses a quantity string; `None` if malformed.
pub fn parse(q: &str) -> Option<Nanos> {
    let q = q.trim();
    let (num, suffix) = split_number(q)?;
    let (negative, digits) = match num.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, num.strip_prefix('+').unwrap_or(num)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    // Value = digits * 10^-frac_len, times the suffix multiplier.
    let all: String = format!("{int_part}{frac_part}");
    if !all.bytes().all(|b| b.is_ascii_digit()) || all.len() > 30 {
        return None;
    }
    let mantissa: i128 = all.parse().ok()?;
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut mult: i128 = 1;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => mult = 1 << 10,
        "Mi" => mult = 1 << 20,
        "Gi" => mult = 1 << 30,
        "Ti" => mult = 1 << 40,
        "Pi" => mult = 1 << 50,
        "Ei" => mult = 1 << 60,
        // A hostile exponent (`1e2147483647`) must not overflow.
        s if s.starts_with(['e', 'E']) => exp10 = exp10.checked_add(s[1..].parse::<i32>().ok()?)?,
        _ => return None,
    }
    // nanos = mantissa * mult * 10^(exp10 + 9), rounded up like Kubernetes
    // rounds sub-nano precision.
    let e = exp10.checked_add(9)?;
    let base = mantissa.checked_mul(mult)?;
    let value = if e >= 0 {
        base.checked_mul(10i128.checked_pow(u32::try_from(e).ok()?)?)?
    } else {
        let d = 10i128.checked_pow(u32::try_from(-e).ok()?)?;
        base.checked_add(d - 1)? / d
    };
    Some(if negative { -value } else { value })
}

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

/// `ceil(a / b)` for positive nano values.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes_exactly() {
        assert_eq!(parse("100m"), Some(100_000_000));
        assert_eq!(parse("0.1"), Some(100_000_000));
        assert_eq!(parse("1"), Some(NANO));
        assert_eq!(parse("1Ki"), Some(1024 * NANO));
        assert_eq!(parse("1.5Gi"), Some(3 * (1 << 29) * NANO));
        assert_eq!(parse("2e3"), Some(2000 * NANO));
        assert_eq!(parse("1k"), Some(1000 * NANO));
        assert_eq!(parse("abc"), None);
        assert_eq!(parse("1Zi"), None);
        assert_eq!(milli(parse("1").unwrap()), 1000);
        assert_eq!(units(parse("1500m").unwrap()), 2);
    }

    /// Regression (found by the quantity fuzz target): exponents near
    /// `i32::MAX` overflowed instead of being refused.
    #[test]
    fn huge_exponents_are_refused_not_overflowed() {
        assert_eq!(parse("2e2147483646"), None);
        assert_eq!(parse("1e2147483647"), None);
        assert_eq!(parse("1.5e-2147483648"), None);
    }
}
