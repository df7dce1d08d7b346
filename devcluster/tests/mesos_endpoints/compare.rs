//! Compares a JSON document of ours with one captured from real Mesos:
//! every key path of theirs must be in ours with the same JSON type and
//! hold the same values, and ours must have no path theirs lacks, except
//! where a rule says why not.
//!
//! Paths look like `frameworks[].tasks[].statuses[].state`: array elements
//! are merged, so a path stands for all its occurrences, and its values are
//! compared as a multiset (order-free, as Mesos' hashmaps are). Keys can be
//! normalised first (metric names carry framework IDs).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A key path pattern (`*` matches any run of characters) and why it is
/// allowed to differ.
pub type Rule = (&'static str, &'static str);

/// How keys are normalised before comparing.
pub type KeyFn = dyn Fn(&str) -> String;

/// What may differ between real Mesos and ours.
pub struct Rules {
    /// Paths real Mesos has and the devcluster does not, by design.
    pub absent: &'static [Rule],
    /// Paths both have whose values legitimately differ.
    pub differ: &'static [Rule],
    /// Paths only the devcluster writes.
    pub extra: &'static [Rule],
}

/// `*`-glob match.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|i| rest.is_char_boundary(*i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

#[derive(Default)]
struct Flat {
    kinds: BTreeMap<String, BTreeSet<&'static str>>,
    values: BTreeMap<String, Vec<String>>,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn flatten(v: &Value, path: &str, key: &KeyFn, out: &mut Flat) {
    out.kinds
        .entry(path.to_owned())
        .or_default()
        .insert(kind(v));
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                flatten(v, &join(&key(k)), key, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                flatten(v, &format!("{path}[]"), key, out);
            }
        }
        Value::Number(n) => {
            let text = format!("{:.6}", n.as_f64().unwrap_or(f64::NAN));
            out.values.entry(path.to_owned()).or_default().push(text);
        }
        other => {
            let text = other.to_string();
            out.values.entry(path.to_owned()).or_default().push(text);
        }
    }
}

fn matching<'a>(rules: &'a [Rule], path: &str) -> Option<&'a Rule> {
    rules.iter().find(|(p, _)| glob(p, path))
}

/// The differences between `theirs` (real Mesos) and `ours` that `rules`
/// do not explain, each as a line naming the document; adds the patterns of
/// the rules that matched something to `used` (a rule no document uses has
/// gone stale).
pub fn compare(
    name: &str,
    theirs: &Value,
    ours: &Value,
    rules: &Rules,
    key: &KeyFn,
    used: &mut BTreeSet<&'static str>,
) -> Vec<String> {
    let (mut t, mut o) = (Flat::default(), Flat::default());
    flatten(theirs, "", key, &mut t);
    flatten(ours, "", key, &mut o);
    let mut problems = Vec::new();
    for (path, kinds) in &t.kinds {
        if path.is_empty() || matching(rules.absent, path).is_some() {
            continue;
        }
        match o.kinds.get(path) {
            None => problems.push(format!("{name}: `{path}` is missing")),
            Some(ours) if !kinds.is_subset(ours) => problems.push(format!(
                "{name}: `{path}` is {ours:?} in ours, {kinds:?} in Mesos"
            )),
            Some(_) => {}
        }
    }
    for path in o.kinds.keys() {
        if !t.kinds.contains_key(path) && matching(rules.extra, path).is_none() {
            problems.push(format!("{name}: `{path}` is in ours only"));
        }
    }
    for (path, values) in &t.values {
        if matching(rules.absent, path).is_some() || matching(rules.differ, path).is_some() {
            continue;
        }
        let Some(ours) = o.values.get(path) else {
            continue;
        };
        let (mut a, mut b) = (values.clone(), ours.clone());
        a.sort();
        b.sort();
        if a != b {
            problems.push(format!("{name}: `{path}` is {b:?} in ours, {a:?} in Mesos"));
        }
    }
    for (pattern, _) in rules.absent.iter().chain(rules.differ.iter()) {
        if t.kinds.keys().any(|p| glob(pattern, p)) {
            used.insert(pattern);
        }
    }
    for (pattern, _) in rules.extra {
        if o.kinds
            .keys()
            .any(|p| glob(pattern, p) && !t.kinds.contains_key(p))
        {
            used.insert(pattern);
        }
    }
    problems
}

/// Keys as they are, for documents without IDs in their keys.
pub fn same_key(k: &str) -> String {
    k.to_owned()
}
