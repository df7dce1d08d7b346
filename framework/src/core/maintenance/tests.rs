use super::*;

const HORIZON: Duration = Duration::from_secs(600);

fn secs(s: u64) -> Wall {
    Duration::from_secs(s)
}

fn pod(name: &str, has_controller: bool) -> PodOnAgent {
    PodOnAgent {
        key: key(name),
        has_controller,
    }
}

fn key(name: &str) -> PodKey {
    PodKey {
        namespace: "default".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

fn window(start: u64) -> Window {
    Window {
        start: secs(start),
        duration: Some(secs(3600)),
    }
}

fn inverse_offer(id: &str, start: u64) -> Input {
    Input::InverseOffer {
        id: id.into(),
        agent: "A".into(),
        node: "node-a".into(),
        window: window(start),
    }
}

fn node(unschedulable: bool, cordoned_by_us: bool) -> Input {
    Input::Node {
        node: "node-a".into(),
        unschedulable,
        cordoned_by_us,
    }
}

fn pods(list: &[PodOnAgent]) -> Input {
    Input::Pods {
        agent: "A".into(),
        pods: list.to_vec(),
    }
}

/// Only the actions that are not events.
fn effects(actions: &[Action]) -> Vec<Action> {
    actions
        .iter()
        .filter(|a| !matches!(a, Action::Event { .. }))
        .cloned()
        .collect()
}

fn events(actions: &[Action]) -> Vec<(EventType, &'static str, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Event {
                kind,
                reason,
                message,
                ..
            } => Some((*kind, *reason, message.clone())),
            _ => None,
        })
        .collect()
}

/// The answer to web-1's eviction.
fn evicted(outcome: EvictionOutcome) -> Input {
    Input::Evicted {
        pod: key("web-1"),
        outcome,
    }
}

fn evict(name: &str) -> Action {
    Action::Evict { pod: key(name) }
}

/// Agent A with pods web-1 (controller) and the Node seen schedulable;
/// window at t=10_000.
fn setup(m: &mut Maintenance, now: Wall) -> Vec<Action> {
    let mut out = m.handle(now, pods(&[pod("web-1", true)]));
    out.extend(m.handle(now, inverse_offer("io-1", 10_000)));
    out.extend(m.handle(now, node(false, false)));
    out
}

#[test]
fn a_window_beyond_the_horizon_changes_nothing_until_it_comes_within() {
    let mut m = Maintenance::new(HORIZON);
    let out = setup(&mut m, secs(1_000));
    assert_eq!(out, vec![], "9000s away, horizon 600s");
    assert!(!m.avoids("A", secs(1_000)));
    assert_eq!(m.next_deadline(secs(1_000)), Some(secs(9_400)));

    let out = m.handle(secs(9_400), Input::Tick);
    assert_eq!(
        effects(&out),
        vec![
            Action::Cordon {
                node: "node-a".into(),
                agent: "A".into()
            },
            evict("web-1"),
        ]
    );
    let ev = events(&out);
    assert_eq!(ev[0].1, "Cordoned");
    assert!(ev[0].2.starts_with("node/node-a cordoned"), "{}", ev[0].2);
    assert_eq!(
        ev[1].2,
        "evicting pod default/web-1: Mesos agent A is scheduled for maintenance"
    );
    assert!(m.avoids("A", secs(9_400)));
    assert!(!m.avoids("B", secs(9_400)));
    // Idempotent: the same tick again issues nothing new.
    assert_eq!(m.handle(secs(9_400), Input::Tick), vec![]);
}

#[test]
fn the_inverse_offer_is_accepted_once_our_pods_are_gone() {
    let mut m = Maintenance::new(HORIZON);
    setup(&mut m, secs(9_500));
    let out = m.handle(secs(9_501), evicted(EvictionOutcome::Evicted));
    assert_eq!(effects(&out), vec![], "the pod is still there, terminating");
    assert_eq!(events(&out)[0].2, "pod/web-1 evicted");
    let out = m.handle(secs(9_530), pods(&[]));
    assert_eq!(
        out,
        vec![Action::AcceptInverseOffers {
            ids: vec!["io-1".into()]
        }]
    );
    // Answered once: a later look at the empty agent says nothing more.
    assert_eq!(effects(&m.handle(secs(9_531), pods(&[]))), vec![]);
}

#[test]
fn a_disruption_budget_refusal_is_retried_after_five_seconds_and_said_once() {
    let mut m = Maintenance::new(HORIZON);
    setup(&mut m, secs(9_500));
    let refused = || {
        evicted(EvictionOutcome::TooManyRequests(
            "Cannot evict pod as it would violate the pod's disruption budget.".into(),
        ))
    };
    let out = m.handle(secs(9_500), refused());
    assert_eq!(
        events(&out),
        vec![(
            EventType::Warning,
            "EvictionBlocked",
            "error when evicting pods/\"web-1\" -n \"default\" (will retry after 5s): \
             Cannot evict pod as it would violate the pod's disruption budget."
                .into()
        )]
    );
    assert_eq!(m.next_deadline(secs(9_500)), Some(secs(9_505)));
    assert_eq!(effects(&m.handle(secs(9_504), Input::Tick)), vec![]);
    assert_eq!(
        effects(&m.handle(secs(9_505), Input::Tick)),
        vec![evict("web-1")]
    );
    let out = m.handle(secs(9_505), refused());
    assert_eq!(events(&out), vec![], "the refusal was reported already");
    assert_eq!(
        effects(&m.handle(secs(9_510), Input::Tick)),
        vec![evict("web-1")]
    );
}

#[test]
fn pods_that_cannot_move_decline_the_inverse_offer_with_a_warning_naming_them() {
    // (case, pods, now, the pods named) — a pod without a controller is
    // never evicted; once the window started, whatever is left is named.
    let cases: &[(&str, Vec<PodOnAgent>, u64, Vec<&str>)] = &[
        (
            "no controller",
            vec![pod("bare", false), pod("web-1", true)],
            9_500,
            vec!["default/bare"],
        ),
        (
            "window started with a blocked pod",
            vec![pod("web-1", true)],
            10_000,
            vec!["default/web-1"],
        ),
    ];
    for (case, list, now, named) in cases {
        let mut m = Maintenance::new(HORIZON);
        m.handle(secs(*now), node(false, false));
        m.handle(secs(*now), pods(list));
        let out = m.handle(secs(*now), inverse_offer("io-1", 10_000));
        assert!(
            !effects(&out).contains(&evict("bare")),
            "{case}: a pod without a controller is not evicted"
        );
        assert!(
            out.contains(&Action::DeclineInverseOffers {
                ids: vec!["io-1".into()]
            }),
            "{case}: {out:?}"
        );
        let warning = events(&out)
            .into_iter()
            .find(|e| e.1 == "MaintenanceDeclined")
            .unwrap_or_else(|| panic!("{case}: no warning in {out:?}"));
        assert_eq!(warning.0, EventType::Warning, "{case}");
        assert_eq!(
            warning.2,
            format!(
                "declined the maintenance of Mesos agent A: pods cannot be moved: {}",
                named.join(", ")
            ),
            "{case}"
        );
        // The next inverse offer is declined too, without saying it again.
        let out = m.handle(secs(*now + 1), inverse_offer("io-2", 10_000));
        assert!(out.contains(&Action::DeclineInverseOffers {
            ids: vec!["io-2".into()]
        }));
        assert!(events(&out).iter().all(|e| e.1 != "MaintenanceDeclined"));
    }
}

#[test]
fn only_a_node_the_framework_cordoned_is_uncordoned_when_the_schedule_goes() {
    // (case, Node as seen while draining, expect cordon, expect uncordon)
    let cases = [
        ("schedulable: ours", (false, false), true, true),
        ("cordoned by an operator", (true, false), false, false),
    ];
    for (case, (unschedulable, ours), cordon, uncordon) in cases {
        let mut m = Maintenance::new(HORIZON);
        m.handle(secs(9_500), node(unschedulable, ours));
        let out = m.handle(secs(9_500), inverse_offer("io-1", 10_000));
        let cordoned = out.iter().any(|a| matches!(a, Action::Cordon { .. }));
        assert_eq!(cordoned, cordon, "{case}");
        assert_eq!(
            out.last(),
            Some(&Action::AcceptInverseOffers {
                ids: vec!["io-1".into()]
            }),
            "{case}: no pods of ours"
        );
        if cordoned {
            // The shell patched it; the watch shows our annotation.
            m.handle(secs(9_501), node(true, true));
        }
        m.handle(
            secs(9_600),
            Input::InverseOfferRescinded { id: "io-1".into() },
        );
        let out = m.handle(
            secs(9_600),
            Input::Unavailability {
                agent: "A".into(),
                node: "node-a".into(),
                window: None,
            },
        );
        let uncordoned = effects(&out)
            == vec![Action::Uncordon {
                node: "node-a".into(),
            }];
        assert_eq!(uncordoned, uncordon, "{case}: {out:?}");
        assert!(!m.avoids("A", secs(9_600)), "{case}");
        if uncordon {
            assert!(events(&out)[0].2.starts_with("node/node-a uncordoned"));
        }
    }
}

#[test]
fn a_restarted_framework_uncordons_what_its_annotation_says_it_cordoned() {
    let mut m = Maintenance::new(HORIZON);
    m.handle(secs(1), node(true, true));
    let out = m.handle(
        secs(1),
        Input::Unavailability {
            agent: "A".into(),
            node: "node-a".into(),
            window: None,
        },
    );
    assert_eq!(
        effects(&out),
        vec![Action::Uncordon {
            node: "node-a".into()
        }]
    );
}

#[test]
fn a_pod_gone_before_its_eviction_answered_counts_as_moved() {
    let mut m = Maintenance::new(HORIZON);
    setup(&mut m, secs(9_500));
    let out = m.handle(secs(9_501), evicted(EvictionOutcome::NotFound));
    assert_eq!(
        out,
        vec![Action::AcceptInverseOffers {
            ids: vec!["io-1".into()]
        }]
    );
}

#[test]
fn windows_from_mesos_nanoseconds() {
    let cases = [
        (
            (5_000_000_000, Some(1_000_000_000)),
            (secs(5), Some(secs(1))),
        ),
        ((5_000_000_000, None), (secs(5), None)),
        ((-1, Some(-1)), (secs(0), Some(secs(0)))),
    ];
    for ((start, duration), (want_start, want_duration)) in cases {
        let w = Window::from_nanos(start, duration);
        assert_eq!((w.start, w.duration), (want_start, want_duration));
    }
}

#[test]
fn the_state_is_described_for_the_status_page() {
    let mut m = Maintenance::new(HORIZON);
    assert_eq!(m.describe("A", secs(0)), None);
    m.handle(secs(0), inverse_offer("io-1", 10_000));
    assert_eq!(
        m.describe("A", secs(0)).as_deref(),
        Some("scheduled for 10000 (unix s), outside the 600s horizon")
    );
    m.handle(secs(9_500), pods(&[pod("web", true), pod("bare", false)]));
    assert_eq!(
        m.describe("A", secs(9_500)).as_deref(),
        Some("draining, window at 10000 (unix s): 2 pod(s) left, 1 cannot move yet")
    );
    m.handle(secs(9_600), pods(&[]));
    assert_eq!(
        m.describe("A", secs(9_600)).as_deref(),
        Some("drained, window at 10000 (unix s)")
    );
    assert_eq!(
        m.describe("A", secs(10_001)).as_deref(),
        Some("in maintenance since 10000 (unix s)")
    );
}

#[test]
fn agents_never_scheduled_are_not_tracked() {
    let mut m = Maintenance::new(HORIZON);
    for i in 0..1000 {
        let out = m.handle(
            secs(1),
            Input::Unavailability {
                agent: format!("A{i}"),
                node: format!("node-{i}"),
                window: None,
            },
        );
        assert!(out.is_empty());
    }
    assert!(m.agents().is_empty());
    m.handle(secs(1), inverse_offer("io-1", 10_000));
    assert_eq!(m.agents(), vec!["A".to_string()]);
}
