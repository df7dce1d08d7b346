//! NodeAffinity's results of one round, remembered per node selection.
//!
//! A node's labels do not change within a round, and the pods of a round
//! mostly share a handful of selections (a Deployment's replicas carry the
//! same nodeSelector). A pod whose selector only a tenth of 5,000 agents
//! match would be checked against nearly all of them before it finds
//! enough feasible ones; instead each selection is judged once per agent
//! and a round, and its pods walk only the agents it matches.

use std::collections::BTreeMap;

use super::predicates::{selection_matches, NodeSelection};

/// Per distinct selection, the agents of the round that match it.
#[derive(Default)]
pub struct AffinityMemo<'a> {
    classes: Vec<(NodeSelection<'a>, Vec<usize>)>,
}

impl<'a> AffinityMemo<'a> {
    /// The class of `selection` among `agents` agents (an index for
    /// [`AffinityMemo::matching`]); `node(i)` is agent `i`'s labels and
    /// node name, read once here for a new selection.
    pub fn class<'n>(
        &mut self,
        selection: NodeSelection<'a>,
        agents: usize,
        node: impl Fn(usize) -> (&'n BTreeMap<String, String>, &'n str),
    ) -> usize {
        if let Some(i) = self.classes.iter().position(|(s, _)| *s == selection) {
            return i;
        }
        let matching = (0..agents)
            .filter(|&i| {
                let (labels, name) = node(i);
                selection_matches(selection, labels, name)
            })
            .collect();
        self.classes.push((selection, matching));
        self.classes.len() - 1
    }

    /// The agents that pass the selection of `class`, in ascending order.
    pub fn matching(&self, class: usize) -> &[usize] {
        &self.classes[class].1
    }

    /// Whether agent `agent` passes the selection of `class`.
    pub fn passes(&self, class: usize, agent: usize) -> bool {
        self.matching(class).binary_search(&agent).is_ok()
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
        let nodes = [(&hdd, "n0"), (&ssd, "n1"), (&ssd, "n2")];
        let judged = std::cell::Cell::new(0);
        let node = |i: usize| {
            judged.set(judged.get() + 1);
            (nodes[i].0, nodes[i].1)
        };
        let mut memo = AffinityMemo::default();
        let a = memo.class((Some(&ssd), None), 3, node);
        assert_eq!(judged.get(), 3);
        assert_eq!(memo.class((Some(&ssd_too), None), 3, node), a);
        assert_eq!(judged.get(), 3, "a known selection reads no labels");
        let b = memo.class((Some(&hdd), None), 3, node);
        assert_ne!(a, b);

        assert_eq!(memo.matching(a), &[1, 2]);
        assert_eq!(memo.matching(b), &[0]);
        assert!(memo.passes(a, 2));
        assert!(!memo.passes(a, 0));
        assert!(memo.passes(b, 0));
    }
}
