use kube_mesos_proto::v1::allocator::{inverse_offer_status, InverseOfferStatus};
use kube_mesos_proto::v1::maintenance::Window;
use kube_mesos_proto::v1::{DurationInfo, FrameworkId, TimeInfo};

use super::*;

fn host(h: &str) -> MachineId {
    MachineId {
        hostname: Some(h.into()),
        ip: None,
    }
}

fn window(ids: &[MachineId], duration: i64) -> Window {
    Window {
        machine_ids: ids.to_vec(),
        unavailability: Unavailability {
            start: TimeInfo { nanoseconds: 100 },
            duration: Some(DurationInfo {
                nanoseconds: duration,
            }),
        },
    }
}

fn schedule(windows: Vec<Window>) -> Schedule {
    Schedule { windows }
}

fn mode(m: &Maintenance, h: &str) -> Option<Mode> {
    m.machine(&key(&host(h))).map(|m| m.mode)
}

#[test]
fn invalid_schedules_are_refused_with_mesos_messages() {
    let cases = [
        (
            schedule(vec![window(&[], 1)]),
            "List of machines in the maintenance window is empty",
        ),
        (
            schedule(vec![window(&[host("a")], -1)]),
            "Unavailability 'duration' is negative",
        ),
        (
            schedule(vec![window(&[MachineId::default()], 1)]),
            "Both 'hostname' and 'ip' for a machine are empty",
        ),
        (
            schedule(vec![window(&[host("a")], 1), window(&[host("a")], 1)]),
            "Machine '{\"hostname\":\"a\"}' appears more than once in the schedule",
        ),
        (
            schedule(vec![window(
                &[MachineId {
                    hostname: None,
                    ip: Some("not-an-ip".into()),
                }],
                1,
            )]),
            "Failed to parse IP address 'not-an-ip'",
        ),
    ];
    for (s, want) in cases {
        let mut m = Maintenance::default();
        let err = m.update_schedule(s).unwrap_err();
        assert_eq!(err.to_string(), want);
        assert_eq!(m.schedule(), &Schedule::default(), "{want}: unchanged");
    }
}

#[test]
fn machines_go_draining_down_and_up_as_in_mesos() {
    let mut m = Maintenance::default();
    m.update_schedule(schedule(vec![window(&[host("a"), host("b")], 10)]))
        .unwrap();
    assert_eq!(mode(&m, "a"), Some(Mode::Draining));

    // STOP of a DRAINING machine and START of an unscheduled one: refused.
    assert_eq!(
        m.stop(&[host("a")]).unwrap_err().to_string(),
        "Machine '{\"hostname\":\"a\"}' is not in DOWN mode and cannot be brought up"
    );
    assert_eq!(
        m.start(&[host("c")]).unwrap_err().to_string(),
        "Machine '{\"hostname\":\"c\"}' is not part of a maintenance schedule"
    );
    assert_eq!(m.start(&[]), Err(MaintenanceError::NoMachines));

    m.start(&[host("a")]).unwrap();
    assert_eq!(mode(&m, "a"), Some(Mode::Down));
    assert_eq!(
        m.start(&[host("a")]).unwrap_err().to_string(),
        "Machine '{\"hostname\":\"a\"}' is not in DRAINING mode and cannot be brought down"
    );
    // A DOWN machine cannot be left out of a new schedule.
    assert_eq!(
        m.update_schedule(schedule(vec![window(&[host("b")], 10)]))
            .unwrap_err()
            .to_string(),
        "Machine '{\"hostname\":\"a\"}' is deactivated and cannot be removed from the schedule"
    );
    // A new schedule keeps a machine's mode and takes its new window.
    m.update_schedule(schedule(vec![
        window(&[host("a")], 20),
        window(&[host("b")], 10),
    ]))
    .unwrap();
    assert_eq!(mode(&m, "a"), Some(Mode::Down));
    let a = m.machine(&key(&host("a"))).unwrap();
    assert_eq!(a.unavailability.duration.unwrap().nanoseconds, 20);

    // STOP: UP, out of the machines and of the schedule (its window gone).
    m.stop(&[host("a")]).unwrap();
    assert_eq!(mode(&m, "a"), None);
    assert_eq!(m.schedule(), &schedule(vec![window(&[host("b")], 10)]));

    // A schedule without b forgets it (DRAINING → UP).
    m.update_schedule(Schedule::default()).unwrap();
    assert_eq!(mode(&m, "b"), None);
}

#[test]
fn status_lists_draining_machines_with_their_inverse_offer_statuses_and_down_ones() {
    let mut m = Maintenance::default();
    m.update_schedule(schedule(vec![window(&[host("a"), host("b")], 10)]))
        .unwrap();
    m.start(&[host("b")]).unwrap();
    let accepted = InverseOfferStatus {
        status: inverse_offer_status::Status::Accept as i32,
        framework_id: FrameworkId { value: "fw".into() },
        timestamp: TimeInfo { nanoseconds: 5 },
    };
    let status = m.status(|k| {
        if k == &key(&host("a")) {
            vec![accepted.clone()]
        } else {
            Vec::new()
        }
    });
    assert_eq!(status.draining_machines.len(), 1);
    assert_eq!(status.draining_machines[0].id, host("a"));
    assert_eq!(status.draining_machines[0].statuses, vec![accepted]);
    assert_eq!(status.down_machines, vec![host("b")]);
}
