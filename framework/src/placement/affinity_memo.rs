//! NodeAffinity's results of one round, remembered per node selection.
//!
//! A node's labels do not change within a round, and the pods of a round
//! mostly share a handful of selections (a Deployment's replicas carry the
//! same nodeSelector). A pod whose selector only a tenth of 5,000 agents
//! match is checked against nearly all of them before it finds enough
//! feasible ones; without this, each such pod looked its labels up in
//! thousands of label maps again.

use std::collections::BTreeMap;

use super::predicates::{selection_matches, NodeSelection};

/// Results per distinct selection, per agent of the round.
#[derive(Default)]
pub struct AffinityMemo<'a> {
    classes: Vec<(NodeSelection<'a>, Vec<Known>)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Known {
    Unknown,
    Passes,
    Fails,
}

impl<'a> AffinityMemo<'a> {
    /// The class of `selection` among `agents` agents: an index for
    /// [`AffinityMemo::passes`].
    pub fn class(&mut self, selection: NodeSelection<'a>, agents: usize) -> usize {
        if let Some(i) = self.classes.iter().position(|(s, _)| *s == selection) {
            return i;
        }
        self.classes.push((selection, vec![Known::Unknown; agents]));
        self.classes.len() - 1
    }

    /// Whether agent `agent` (with these labels and node name) passes the
    /// selection of `class`, worked out once a round.
    pub fn passes(
        &mut self,
        class: usize,
        agent: usize,
        labels: &BTreeMap<String, String>,
        node_name: &str,
    ) -> bool {
        let (selection, known) = &mut self.classes[class];
        match known[agent] {
            Known::Passes => true,
            Known::Fails => false,
            Known::Unknown => {
                let passes = selection_matches(*selection, labels, node_name);
                known[agent] = if passes { Known::Passes } else { Known::Fails };
                passes
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_labels as labels;

    #[test]
    fn equal_selections_share_a_class_and_each_agent_is_judged_once() {
        let ssd = labels(&[("disk", "ssd")]);
        let ssd_too = ssd.clone();
        let hdd = labels(&[("disk", "hdd")]);
        let mut memo = AffinityMemo::default();
        let a = memo.class((Some(&ssd), None), 2);
        assert_eq!(memo.class((Some(&ssd_too), None), 2), a);
        let b = memo.class((Some(&hdd), None), 2);
        assert_ne!(a, b);

        assert!(memo.passes(a, 0, &ssd, "n0"));
        assert!(!memo.passes(a, 1, &hdd, "n1"));
        assert!(memo.passes(b, 1, &hdd, "n1"));
        // Remembered: the labels given later are not looked at again.
        assert!(memo.passes(a, 0, &hdd, "n0"));
        assert!(!memo.passes(a, 1, &ssd, "n1"));
    }
}
