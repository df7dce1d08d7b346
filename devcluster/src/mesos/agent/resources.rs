//! Parsing of the agent's `--resources` and `--attributes` strings.
//!
//! Operators describe a Mesos agent with text such as
//! `cpus:4;mem:8192;ports:[31000-32000];cpus(spark):2` and
//! `rack:r1;zone:a`. The devcluster takes the same text so that a test or
//! `kube-mesos local` can describe its agents the way an operator would. The
//! rules follow apache/mesos `src/common/resources.cpp`
//! (`Resources::fromSimpleString`, `Resources::parse`),
//! `src/common/attributes.cpp` (`Attributes::parse`) and
//! `src/common/values.cpp` (`values::parse`):
//!
//! - entries are separated by `;`, name and value by the first `:`;
//! - `[a-b, c-d]` is RANGES, `{x,y}` is SET, a number is SCALAR, anything
//!   else is TEXT (attributes only: resources must be scalar, ranges or set);
//! - a resource `name(role)` with a role other than `*` is statically
//!   reserved for that role, written in the post-refinement format
//!   (`reservations = [{type: STATIC, role}]`);
//! - scalar resources keep three decimal digits, and repeated entries with
//!   the same name and role are added up, as Mesos' `Resources` addition does.
//!
//! Everything here is pure so it can be tested without an agent.

use kube_mesos_proto::v1::{
    resource::{self, reservation_info},
    value, Attribute, Resource,
};

/// Why a resource or attribute string was refused. Not retryable: the
/// configuration has to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// An entry had no `name:value` shape.
    #[error("bad entry '{entry}': expecting 'name:value'")]
    EntryMalformed { entry: String },
    /// The `name(role)` part was malformed.
    #[error("bad resource name '{name}'")]
    NameMalformed { name: String },
    /// A value could not be parsed.
    #[error("bad value '{value}' for '{name}': {reason}")]
    ValueMalformed {
        name: String,
        value: String,
        reason: String,
    },
}

/// A parsed `Value` before it is put into a Resource or Attribute.
#[derive(Debug, Clone, PartialEq)]
enum ParsedValue {
    Scalar(f64),
    Ranges(Vec<(u64, u64)>),
    Set(Vec<String>),
    Text(String),
}

/// Parses one value as Mesos' `values::parse` does.
fn parse_value(text: &str) -> Result<ParsedValue, String> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| "expecting ']' to end ranges".to_owned())?;
        let mut ranges = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (begin, end) = part
                .split_once('-')
                .ok_or_else(|| format!("expecting 'begin-end' in range '{part}'"))?;
            let begin: u64 = begin
                .trim()
                .parse()
                .map_err(|_| format!("bad range begin '{begin}'"))?;
            let end: u64 = end
                .trim()
                .parse()
                .map_err(|_| format!("bad range end '{end}'"))?;
            if begin > end {
                return Err(format!("range '{part}' begins after it ends"));
            }
            ranges.push((begin, end));
        }
        return Ok(ParsedValue::Ranges(coalesce(ranges)));
    }
    if let Some(rest) = text.strip_prefix('{') {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| "expecting '}' to end set".to_owned())?;
        let mut items: Vec<String> = Vec::new();
        for item in inner.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if !items.iter().any(|i| i == item) {
                items.push(item.to_owned());
            }
        }
        return Ok(ParsedValue::Set(items));
    }
    if let Ok(number) = text.parse::<f64>() {
        if !number.is_finite() {
            return Err("scalar must be finite".to_owned());
        }
        return Ok(ParsedValue::Scalar(number));
    }
    if text.is_empty() || text.contains(['[', ']', '{', '}', '(', ')', ',', ';', ':']) {
        return Err("not a scalar, ranges, set or text".to_owned());
    }
    Ok(ParsedValue::Text(text.to_owned()))
}

/// Sorts ranges and merges overlapping or adjacent ones, as Mesos does.
fn coalesce(mut ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    ranges.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for (begin, end) in ranges {
        match out.last_mut() {
            Some(last) if begin <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => out.push((begin, end)),
        }
    }
    out
}

/// Mesos keeps scalars at three decimal digits (`convertToFixed`).
fn fixed(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

fn split_entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(';').map(str::trim).filter(|e| !e.is_empty())
}

/// Parses `cpus:4;mem:8192;ports:[31000-32000];cpus(spark):2` into Mesos
/// resources. Unreserved resources (role `*` or none) carry no reservation;
/// `name(role)` becomes a static reservation for `role`.
pub fn parse_resources(text: &str) -> Result<Vec<Resource>, ParseError> {
    let mut out: Vec<Resource> = Vec::new();
    for entry in split_entries(text) {
        let (name_part, value_text) =
            entry
                .split_once(':')
                .ok_or_else(|| ParseError::EntryMalformed {
                    entry: entry.to_owned(),
                })?;
        let name_part = name_part.trim();
        let (name, role) = match name_part.split_once('(') {
            None => (name_part, "*"),
            Some((name, rest)) => {
                let role = rest
                    .strip_suffix(')')
                    .ok_or_else(|| ParseError::NameMalformed {
                        name: name_part.to_owned(),
                    })?;
                (name.trim(), role.trim())
            }
        };
        if name.is_empty() || role.is_empty() {
            return Err(ParseError::NameMalformed {
                name: name_part.to_owned(),
            });
        }
        let malformed = |reason: String| ParseError::ValueMalformed {
            name: name.to_owned(),
            value: value_text.to_owned(),
            reason,
        };
        let parsed = parse_value(value_text).map_err(malformed)?;
        let mut resource = Resource {
            name: name.to_owned(),
            ..Default::default()
        };
        match parsed {
            ParsedValue::Scalar(v) => {
                if v < 0.0 {
                    return Err(malformed("negative scalar".to_owned()));
                }
                resource.r#type = value::Type::Scalar as i32;
                resource.scalar = Some(value::Scalar { value: fixed(v) });
            }
            ParsedValue::Ranges(ranges) => {
                resource.r#type = value::Type::Ranges as i32;
                resource.ranges = Some(to_ranges(&ranges));
            }
            ParsedValue::Set(items) => {
                resource.r#type = value::Type::Set as i32;
                resource.set = Some(value::Set { item: items });
            }
            ParsedValue::Text(_) => {
                return Err(malformed("resources cannot be text".to_owned()));
            }
        }
        if role != "*" {
            resource.reservations.push(resource::ReservationInfo {
                r#type: Some(reservation_info::Type::Static as i32),
                role: Some(role.to_owned()),
                ..Default::default()
            });
        }
        add_resource(&mut out, resource);
    }
    Ok(out)
}

fn to_ranges(ranges: &[(u64, u64)]) -> value::Ranges {
    value::Ranges {
        range: ranges
            .iter()
            .map(|&(begin, end)| value::Range { begin, end })
            .collect(),
    }
}

/// Adds `resource` to `out`, merging it with an entry of the same name,
/// type and reservations.
fn add_resource(out: &mut Vec<Resource>, resource: Resource) {
    let same = out.iter_mut().find(|r| {
        r.name == resource.name
            && r.r#type == resource.r#type
            && r.reservations == resource.reservations
    });
    let Some(existing) = same else {
        out.push(resource);
        return;
    };
    if let (Some(a), Some(b)) = (existing.scalar.as_mut(), resource.scalar.as_ref()) {
        a.value = fixed(a.value + b.value);
    }
    if let (Some(a), Some(b)) = (existing.ranges.as_mut(), resource.ranges.as_ref()) {
        let merged: Vec<(u64, u64)> = a
            .range
            .iter()
            .chain(b.range.iter())
            .map(|r| (r.begin, r.end))
            .collect();
        *a = to_ranges(&coalesce(merged));
    }
    if let (Some(a), Some(b)) = (existing.set.as_mut(), resource.set.as_ref()) {
        for item in &b.item {
            if !a.item.contains(item) {
                a.item.push(item.clone());
            }
        }
    }
}

/// Parses `rack:r1;zone:a;cores:8;slots:[1-4];tags:{x,y}` into Mesos
/// attributes (TEXT, SCALAR, RANGES or SET by the shape of the value).
pub fn parse_attributes(text: &str) -> Result<Vec<Attribute>, ParseError> {
    let mut out = Vec::new();
    for entry in split_entries(text) {
        let (name, value_text) =
            entry
                .split_once(':')
                .ok_or_else(|| ParseError::EntryMalformed {
                    entry: entry.to_owned(),
                })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(ParseError::EntryMalformed {
                entry: entry.to_owned(),
            });
        }
        let parsed = parse_value(value_text).map_err(|reason| ParseError::ValueMalformed {
            name: name.to_owned(),
            value: value_text.to_owned(),
            reason,
        })?;
        let mut attribute = Attribute {
            name: name.to_owned(),
            ..Default::default()
        };
        match parsed {
            ParsedValue::Scalar(v) => {
                attribute.r#type = value::Type::Scalar as i32;
                attribute.scalar = Some(value::Scalar { value: fixed(v) });
            }
            ParsedValue::Ranges(ranges) => {
                attribute.r#type = value::Type::Ranges as i32;
                attribute.ranges = Some(to_ranges(&ranges));
            }
            ParsedValue::Set(items) => {
                attribute.r#type = value::Type::Set as i32;
                attribute.set = Some(value::Set { item: items });
            }
            ParsedValue::Text(text) => {
                attribute.r#type = value::Type::Text as i32;
                attribute.text = Some(value::Text { value: text });
            }
        }
        out.push(attribute);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(r: &Resource) -> f64 {
        r.scalar.as_ref().map(|s| s.value).unwrap_or(-1.0)
    }

    #[test]
    fn resources_scalars_ranges_and_static_reservations() {
        let rs = parse_resources("cpus:4;mem:8192;disk:10000;ports:[31000-32000];cpus(spark):2")
            .expect("parses");
        assert_eq!(rs.len(), 5);
        assert_eq!(rs[0].name, "cpus");
        assert_eq!(rs[0].r#type, value::Type::Scalar as i32);
        assert_eq!(scalar(&rs[0]), 4.0);
        assert!(rs[0].reservations.is_empty());
        #[allow(deprecated)]
        let role = rs[0].role.clone();
        assert!(role.is_none());
        assert_eq!(scalar(&rs[1]), 8192.0);
        let ports = &rs[3];
        assert_eq!(ports.r#type, value::Type::Ranges as i32);
        assert_eq!(
            ports.ranges.as_ref().map(|r| r.range.clone()),
            Some(vec![value::Range {
                begin: 31000,
                end: 32000
            }])
        );
        let spark = &rs[4];
        assert_eq!(spark.name, "cpus");
        assert_eq!(scalar(spark), 2.0);
        assert_eq!(spark.reservations.len(), 1);
        assert_eq!(
            spark.reservations[0].r#type,
            Some(reservation_info::Type::Static as i32)
        );
        assert_eq!(spark.reservations[0].role.as_deref(), Some("spark"));
    }

    #[test]
    fn resources_merge_and_round_like_mesos() {
        let rs = parse_resources("cpus:1.00049;cpus:2; ports:[1-2,5-6];ports:[3-4]").expect("ok");
        assert_eq!(rs.len(), 2);
        assert_eq!(scalar(&rs[0]), 3.0);
        assert_eq!(
            rs[1].ranges.as_ref().map(|r| r.range.len()),
            Some(1),
            "adjacent ranges coalesce"
        );
        let rs = parse_resources("cpus(*):1;gpus:{a,b,a}").expect("ok");
        assert!(rs[0].reservations.is_empty());
        assert_eq!(
            rs[1].set.as_ref().map(|s| s.item.clone()),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
    }

    #[test]
    fn resources_reject_malformed_input() {
        for bad in [
            "cpus",
            "cpus:abc",
            "cpus:-1",
            "ports:[5-1]",
            "ports:[1-2",
            "cpus(spark:1",
            ":4",
            "cpus():1",
        ] {
            assert!(parse_resources(bad).is_err(), "{bad} must fail");
        }
        assert_eq!(parse_resources("").expect("empty is fine"), vec![]);
    }

    #[test]
    fn attributes_text_scalar_ranges_set() {
        let attrs = parse_attributes("rack:r1;zone:a;cores:8;slots:[1-4];tags:{x,y}").expect("ok");
        let types: Vec<i32> = attrs.iter().map(|a| a.r#type).collect();
        assert_eq!(
            types,
            vec![
                value::Type::Text as i32,
                value::Type::Text as i32,
                value::Type::Scalar as i32,
                value::Type::Ranges as i32,
                value::Type::Set as i32
            ]
        );
        assert_eq!(attrs[0].text.as_ref().map(|t| t.value.as_str()), Some("r1"));
        assert_eq!(attrs[2].scalar.as_ref().map(|s| s.value), Some(8.0));
        assert!(parse_attributes("rack").is_err());
        assert!(parse_attributes("rack:a(b)").is_err());
    }
}
