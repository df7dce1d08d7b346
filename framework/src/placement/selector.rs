//! Label selectors as apimachinery evaluates them
//! (`metav1.LabelSelectorAsSelector`, `labels.Selector`), for the pod
//! selectors of inter-pod affinity terms and topology spread constraints.
//!
//! A missing selector selects nothing; an empty one (`{}`) selects
//! everything. `matchLabels` and `matchExpressions` (In, NotIn, Exists,
//! DoesNotExist) are ANDed. A selector apimachinery would reject (In or
//! NotIn without values, Exists with values, an unknown operator) selects
//! nothing here, so a malformed term never matches by accident.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::texts::Texts;

/// A pod's labels as a selector reads them: the map the API gives, or the
/// pairs the core keeps of a stored pod (a map allocates a node of eleven
/// entries for a single label): keys and values alternate in `texts` from
/// string `from` on.
#[derive(Clone, Copy, Debug)]
pub enum Labels<'a> {
    Map(&'a BTreeMap<String, String>),
    Packed { texts: &'a Texts, from: usize },
}

static NO_LABELS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> Labels<'a> {
    /// No labels.
    pub const NONE: Labels<'static> = Labels::Map(&NO_LABELS);

    /// A pod's `metadata.labels`.
    pub fn of(labels: Option<&'a BTreeMap<String, String>>) -> Self {
        labels.map_or(Labels::NONE, Labels::Map)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        match self {
            Labels::Map(m) => m.is_empty(),
            Labels::Packed { texts, from } => texts.len() <= *from,
        }
    }

    /// The value of label `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        match self {
            Labels::Map(m) => m.get(key).map(String::as_str),
            Labels::Packed { texts, from } => packed_pairs(texts, *from)
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v),
        }
    }

    /// Every label, in the order kept.
    pub fn pairs(&self) -> Box<dyn Iterator<Item = (&'a str, &'a str)> + 'a> {
        match *self {
            Labels::Map(m) => Box::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            Labels::Packed { texts, from } => Box::new(packed_pairs(texts, from)),
        }
    }
}

fn packed_pairs(texts: &Texts, from: usize) -> impl Iterator<Item = (&str, &str)> {
    (from..texts.len())
        .step_by(2)
        .map(move |i| (texts.get(i).unwrap_or(""), texts.get(i + 1).unwrap_or("")))
}

impl<'a> From<&'a BTreeMap<String, String>> for Labels<'a> {
    fn from(m: &'a BTreeMap<String, String>) -> Self {
        Labels::Map(m)
    }
}

/// One requirement of a selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `key in (values)`.
    In(String, Vec<String>),
    /// `key notin (values)` (also true when the label is missing).
    NotIn(String, Vec<String>),
    /// `key` exists.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

impl Requirement {
    fn matches(&self, labels: Labels<'_>) -> bool {
        let listed = |vs: &[String], v: &str| vs.iter().any(|x| x == v);
        match self {
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| listed(vs, v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !listed(vs, v)),
            Requirement::Exists(k) => labels.get(k).is_some(),
            Requirement::DoesNotExist(k) => labels.get(k).is_none(),
        }
    }
}

/// A parsed label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Selects nothing (`labels.Nothing()`): a missing or malformed
    /// selector.
    Nothing,
    /// Selects what meets every requirement; none selects everything.
    All(Vec<Requirement>),
}

impl Selector {
    /// `metav1.LabelSelectorAsSelector`.
    pub fn from_label_selector(sel: Option<&LabelSelector>) -> Selector {
        let Some(sel) = sel else {
            return Selector::Nothing;
        };
        let mut reqs: Vec<Requirement> = sel
            .match_labels
            .iter()
            .flatten()
            .map(|(k, v)| Requirement::In(k.clone(), vec![v.clone()]))
            .collect();
        for e in sel.match_expressions.iter().flatten() {
            let values = e.values.clone().unwrap_or_default();
            let req = match (e.operator.as_str(), values.is_empty()) {
                ("In", false) => Requirement::In(e.key.clone(), values),
                ("NotIn", false) => Requirement::NotIn(e.key.clone(), values),
                ("Exists", true) => Requirement::Exists(e.key.clone()),
                ("DoesNotExist", true) => Requirement::DoesNotExist(e.key.clone()),
                _ => return Selector::Nothing,
            };
            reqs.push(req);
        }
        Selector::All(reqs)
    }

    /// Whether `labels` are selected.
    pub fn matches<'l>(&self, labels: impl Into<Labels<'l>>) -> bool {
        let labels = labels.into();
        match self {
            Selector::Nothing => false,
            Selector::All(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// `labels.Selector.Empty()`: a selector without requirements (it
    /// selects everything). `Nothing` is not empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::All(r) if r.is_empty())
    }

    /// This selector with one more requirement (`Selector.Add`); `Nothing`
    /// stays `Nothing`.
    pub fn with(mut self, req: Requirement) -> Selector {
        if let Selector::All(reqs) = &mut self {
            reqs.push(req);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_labels as labels;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn missing_selects_nothing_and_empty_selects_everything() {
        let l = labels(&[("app", "web")]);
        assert!(!Selector::from_label_selector(None).matches(&l));
        assert!(!Selector::from_label_selector(None).is_empty());
        let all = Selector::from_label_selector(Some(&LabelSelector::default()));
        assert!(all.matches(&l) && all.matches(&BTreeMap::new()));
        assert!(all.is_empty());
    }

    #[test]
    fn labels_and_expressions_are_anded() {
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([("app".into(), "web".into())])),
            match_expressions: Some(vec![
                expr("tier", "In", &["fe", "be"]),
                expr("canary", "DoesNotExist", &[]),
                expr("zone", "NotIn", &["c"]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_label_selector(Some(&sel));
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "fe"), ("team", "x")])));
        assert!(
            !s.matches(&labels(&[("app", "web"), ("tier", "fe")])),
            "no team"
        );
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("team", "x"),
            ("canary", "1")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "fe"),
            ("team", "x"),
            ("zone", "c")
        ])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "fe"), ("team", "x")])));
    }

    #[test]
    fn malformed_selectors_select_nothing() {
        for bad in [
            expr("a", "In", &[]),
            expr("a", "Exists", &["x"]),
            expr("a", "Gt", &["1"]),
        ] {
            let sel = LabelSelector {
                match_expressions: Some(vec![bad]),
                ..Default::default()
            };
            assert_eq!(Selector::from_label_selector(Some(&sel)), Selector::Nothing);
        }
    }
}
