//! A placement round: the held offers and the pods that may go now become
//! LAUNCHes (one ACCEPT per agent), DECLINEs, Bindings and events. Each step
//! is named: the agents of the offers, the candidates in order, the
//! placement engine, the refuse filter per agent, one launch per placed pod,
//! then the offers' answers and what the unplaced pods are told.

use super::*;

/// The pods a round considers, by UID, in order, and those that can never
/// fit (a Mesos role the framework does not subscribe with) with why.
struct Candidates {
    uids: Vec<String>,
    misfits: Vec<(String, String)>,
    /// More queued pods are ready than the round takes
    /// (`CoreConfig::max_round_pods`).
    partial: bool,
}

impl SchedulerCore {
    /// `window_over`: the held offers' batching window has ended.
    pub(super) fn place(&mut self, now: Instant, window_over: bool, out: &mut Vec<Action>) {
        if self.placement_waits() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        self.dry_at = None;
        self.forget_answered_binds();
        // Without offers, a round only serves pods that may preempt (a full
        // agent has nothing to offer): see `run_due`.
        let dry = held.is_empty();
        let Some(framework_id) = self.framework_id.clone() else {
            return;
        };
        let Some(Candidates {
            mut uids,
            misfits,
            partial,
        }) = self.candidates(now, dry)
        else {
            return;
        };
        let mut pods = self.decode_candidates(&mut uids, now, out);
        if uids.is_empty() && misfits.is_empty() {
            // Nothing to place (a window ended between pods): only the
            // offers that are due are answered, without a snapshot.
            self.held = held;
            self.answer_due_offers(now, out);
            return;
        }
        let mut agents = self.agent_views(&held);
        let (outcome, roles) = self.run_placement(&uids, &pods, &mut agents, now);
        let refuse = self.refuse_seconds(now, &agents, &outcome, partial);

        // Launch operations per agent.
        let mut ops: Vec<Vec<offer::Operation>> = vec![Vec::new(); agents.len()];
        let mut follow_ups: Vec<Action> = Vec::new();
        for p in &outcome.placed {
            let agent = &agents[p.agent_index];
            let launched = self.launch(
                &uids[p.pod_index],
                std::mem::take(&mut pods[p.pod_index]),
                p,
                agent,
                &roles[p.pod_index],
                &framework_id,
                now,
                &mut follow_ups,
            );
            ops[p.agent_index].extend(launched);
        }
        // The offers this round did not use. Past the cap the next round
        // follows at once on them, for at most another batching window
        // (`run_due` holds it back while the Bindings of earlier rounds are
        // on their way) — unless the window is over and the API server
        // still behind: then they go as below, and placement goes on with
        // the next offers. While pods arrive they stay in hand until their
        // own window ends, so that the next pod finds an offer instead of
        // REVIVEing (which makes the master offer all it has again; what
        // an ACCEPT leaves over comes back only at its next allocation).
        // Otherwise they are declined (the short filter while pods arrive).
        let next_round = partial && !(window_over && self.bindings_backlogged());
        let keep_unused = next_round || self.pods_arriving(now);
        let mut kept: HashSet<String> = HashSet::new();
        if keep_unused {
            let unused: HashSet<&str> = agents
                .iter()
                .zip(&ops)
                .filter(|(_, ops)| ops.is_empty())
                .flat_map(|(a, _)| a.offer_ids.iter().map(|id| id.value.as_str()))
                .collect();
            let renewed = now + self.config.batch_window;
            self.held = held
                .into_iter()
                .filter(|h| unused.contains(h.offer.id.value.as_str()))
                .filter(|h| next_round || h.deadline > now)
                .map(|mut h| {
                    if next_round {
                        h.deadline = renewed;
                    }
                    h
                })
                .collect();
            kept = self.held.iter().map(|h| h.offer.id.value.clone()).collect();
            self.reset_batch_deadline();
            if next_round {
                self.place_at = Some(now);
            }
        }
        self.answer_offers(&agents, ops, &refuse, &kept, out);
        out.extend(follow_ups);

        // Unschedulable pods of the queue: backoff and (rate-limited) events.
        for u in &outcome.unplaced {
            let uid = &uids[u.pod_index];
            if !self.queue.contains(uid) {
                continue; // a relaunch: its deadline decides
            }
            self.report_unschedulable(uid, &u.message, now, out);
        }
        for (uid, message) in misfits {
            self.report_unschedulable(&uid, &message, now, out);
        }
        for pre in &outcome.preemptions {
            self.preempt(&uids[pre.pod_index], pre, out);
        }
    }

    /// One view per agent of the held offers, in a stable order, each
    /// knowing whether a launch there must start the current executor; the
    /// recorded executor resources of agents that need a new one are
    /// forgotten.
    fn agent_views(&mut self, held: &[HeldOffer]) -> Vec<AgentView> {
        let mut by_agent: BTreeMap<&str, Vec<&Offer>> = BTreeMap::new();
        for h in held {
            by_agent
                .entry(h.offer.agent_id.value.as_str())
                .or_default()
                .push(&h.offer);
        }
        let mut agents: Vec<AgentView> = Vec::new();
        let mut stale_executors: Vec<String> = Vec::new();
        {
            let live = self.live_executors();
            for offers in by_agent.values() {
                let Some(mut view) = AgentView::from_offers(offers) else {
                    continue;
                };
                let executor_live = live.contains(view.agent_id.value.as_str());
                let offered = offers
                    .iter()
                    .any(|o| o.executor_ids.contains(&self.executor_id));
                view.executor_needed = !(offered || executor_live);
                if view.executor_needed {
                    stale_executors.push(view.agent_id.value.clone());
                }
                agents.push(view);
            }
        }
        for agent in stale_executors {
            self.executors.remove(&agent);
        }
        agents
    }

    /// The candidates' pods, decoded (in `uids`' order). Takes out of
    /// `uids` the pods stored slim (their task ran, so the core let go of
    /// their containers) and fetches them: a round after the answer places
    /// them. [`SchedulerCore::fetch_relaunches`] asks as soon as a relaunch
    /// begins, so this is for what that missed. A pod whose bytes do not
    /// decode (a bug, logged) is left out too.
    fn decode_candidates(
        &mut self,
        uids: &mut Vec<String>,
        now: Instant,
        out: &mut Vec<Action>,
    ) -> Vec<Pod> {
        let mut pods = Vec::with_capacity(uids.len());
        uids.retain(|uid| {
            let Some(e) = self.pods.get(uid) else {
                return false;
            };
            if !e.pod.has_whole() {
                fetch(&mut self.fetching, uid, &e.pod, now, out);
                return false;
            }
            let Some(pod) = e.pod.to_place() else {
                return false;
            };
            pods.push(pod);
            true
        });
        pods
    }

    /// The round's candidates: relaunches first (they are bound already,
    /// and wait for their agent's back-off unless handed over), then the
    /// queue in order. A dry round (no offers) keeps only queued pods that
    /// may preempt, and is skipped (`None`) without any.
    fn candidates(&self, now: Instant, dry: bool) -> Option<Candidates> {
        let backoff = &self.relaunch_backoff;
        let mut uids: Vec<String> = self
            .timed_pods()
            .filter(|(_, e)| match &e.state {
                PodState::Relaunch {
                    agent_id, reason, ..
                } => relaunch_may_go(backoff, agent_id, reason, now),
                _ => false,
            })
            .map(|(uid, _)| uid.clone())
            .collect();
        uids.sort();
        // Relaunches all (each waits for one agent only), queued pods up to
        // the cap; every queued pod a round considers leaves the ready queue
        // (placed, or backed off), so the rounds that follow take the rest.
        // A round without offers only serves the few pods that may preempt,
        // among all that are ready: no cap.
        let cap = if dry {
            usize::MAX
        } else {
            self.config.max_round_pods.max(1)
        };
        let (ready, partial) = self.queue.ready(now, cap);
        uids.extend(ready.into_iter().map(str::to_owned));
        if dry {
            let lowest = self.lowest_live_priority();
            uids.retain(|uid| {
                self.queue.contains(uid)
                    && self
                        .pods
                        .get(uid)
                        .is_some_and(|e| may_preempt(&e.pod, lowest))
            });
            if uids.is_empty() {
                return None;
            }
        }
        // A pod asking for a role we do not subscribe with can never fit.
        let mut misfits: Vec<(String, String)> = Vec::new();
        uids.retain(|uid| {
            let Some(e) = self.pods.get(uid) else {
                return false;
            };
            let role = self.role_of(&e.pod);
            if self.config.roles.contains(&role) {
                return true;
            }
            misfits.push((
                uid.clone(),
                format!(
                    "the pod's Mesos role \"{role}\" is not one of the framework's roles ({})",
                    self.config.roles.join(", ")
                ),
            ));
            false
        });
        Some(Candidates {
            uids,
            misfits,
            partial,
        })
    }

    /// The placement engine over the candidates and the agents' offers,
    /// against the snapshot of Nodes and pods; also each candidate's role.
    fn run_placement(
        &self,
        uids: &[String],
        pods: &[Pod],
        agents: &mut [AgentView],
        now: Instant,
    ) -> (placement::Outcome, Vec<String>) {
        let mut cands: Vec<PodToPlace<'_>> = Vec::new();
        for (uid, pod) in uids.iter().zip(pods) {
            let Some(e) = self.pods.get(uid) else {
                continue;
            };
            let only_agent = match &e.state {
                PodState::Relaunch {
                    agent_id, deadline, ..
                } => Some(self.relaunch_agent(e, agent_id, *deadline, agents, now)),
                _ => None,
            };
            let mut cand = PodToPlace::new(pod, &self.role_of(&e.pod));
            cand.only_agent = only_agent;
            cand.requests = Some(&e.requests);
            if let Some(node) = self.nominated.get(uid) {
                cand.nominated = Some(node.clone());
            }
            cands.push(cand);
        }
        let exec = Scalars {
            cpus: to_milli(self.config.executor.cpus),
            mem: to_milli(self.config.executor.mem_mb),
            disk: 0,
        };
        let mut snap = self.snapshot();
        let outcome = placement::place(
            &cands,
            agents,
            &mut snap,
            exec,
            self.config.placement_policy,
        );
        let roles = cands.iter().map(|c| c.role.clone()).collect();
        (outcome, roles)
    }

    /// The agent a relaunch goes to: its own; or, once half its time is
    /// gone with no offer of its agent, another agent offering now on the
    /// same host. An agent that comes back with a new ID (its work dir
    /// wiped, or after a master that kept nothing) is the same Node, and
    /// its old ID will never be offered again; a kubelet restarted on a
    /// wiped machine starts the pods bound to its Node the same way.
    fn relaunch_agent(
        &self,
        e: &PodEntry,
        agent_id: &AgentId,
        deadline: Instant,
        agents: &[AgentView],
        now: Instant,
    ) -> AgentId {
        let half = self.config.relaunch_deadline / 2;
        if agents.iter().any(|a| a.agent_id == *agent_id) || now + half < deadline {
            return agent_id.clone();
        }
        let host = self
            .agent_hosts
            .get(&agent_id.value)
            .map(|h| crate::nodes::agent_node::node_name(h))
            .or_else(|| node_name(&e.pod).map(str::to_owned));
        let Some(host) = host else {
            return agent_id.clone();
        };
        agents
            .iter()
            .find(|a| crate::nodes::agent_node::node_name(&a.hostname) == host)
            .map(|a| {
                info!(pod = %e.pod.name().unwrap_or_default(), from = %agent_id.value, to = %a.agent_id.value, %host, "relaunching on the agent that offers for the pod's host now");
                a.agent_id.clone()
            })
            .unwrap_or_else(|| agent_id.clone())
    }

    /// The refuse filter of each agent's offers: short while pods arrive or
    /// when some unplaced pod might fit there later, long otherwise.
    fn refuse_seconds(
        &self,
        now: Instant,
        agents: &[AgentView],
        outcome: &placement::Outcome,
        more_pods: bool,
    ) -> Vec<f64> {
        let mut busy = vec![false; agents.len()];
        for u in &outcome.unplaced {
            for &ai in &u.transient_on {
                busy[ai] = true;
            }
        }
        // Pods arriving, or a pod that might fit on the agent later: what
        // is left comes back soon.
        let arriving = more_pods || self.pods_arriving(now);
        busy.into_iter()
            .map(|busy| {
                if arriving || busy {
                    self.config.busy_refuse_seconds
                } else {
                    self.config.refuse_seconds
                }
            })
            .collect()
    }

    /// The LAUNCH of one placed pod; its Binding (or annotations) and event
    /// go to `follow_ups`, and the pod's state becomes its new task.
    #[allow(clippy::too_many_arguments)]
    fn launch(
        &mut self,
        uid: &str,
        pod: Pod,
        p: &placement::Placement,
        agent: &AgentView,
        role: &str,
        framework_id: &FrameworkId,
        now: Instant,
        follow_ups: &mut Vec<Action>,
    ) -> Option<offer::Operation> {
        let exec_resources = self.executor_resources_for(p, agent, role);
        let executor = self
            .config
            .executor
            .executor_info(framework_id, exec_resources.clone());
        let executor_id = self.executor_id.clone();
        let entry = self.pods.get_mut(uid)?;
        let task_id = task_id_for_pod(uid, entry.next_generation);
        entry.next_generation += 1;
        let relaunch = match &entry.state {
            PodState::Relaunch {
                reason, message, ..
            } => Some((*reason, message.clone())),
            _ => None,
        };
        self.metrics.placements += 1;
        let (relaunch_deadline, bind_pending) = match &entry.state {
            PodState::Relaunch {
                deadline,
                bind_pending,
                ..
            } => (Some(*deadline), *bind_pending),
            _ => (None, false),
        };
        if let Some(q) = self.queue.remove(uid) {
            self.latencies
                .push(now.saturating_duration_since(q.queued_at));
        }
        let exec_json = self.executor_json.of(&executor_id, exec_resources);
        let annotations =
            placement_annotations(framework_id, agent, &task_id, &executor_id, exec_json);
        // The executor gets the pod as the API server holds it once
        // bound (nodeName, placement annotations), as a kubelet does.
        let task = build_task_info(
            &bound_pod(pod, &agent.hostname, &annotations),
            &task_id,
            agent,
            p.task_resources.clone(),
            executor,
            relaunch.as_ref().map(|(r, m)| (*r, m.as_str())),
        );
        let pref = pod_ref(&entry.pod);
        let was_relaunch = relaunch.is_some();
        let bind = if was_relaunch && !bind_pending {
            BindState::Bound
        } else {
            self.awaiting_binds.insert(uid.to_owned());
            BindState::Pending
        };
        match relaunch {
            None => {
                let preassigned = node_name(&entry.pod).is_some();
                follow_ups.extend(scheduled(pref.clone(), agent, annotations, preassigned));
            }
            Some((reason, _)) => {
                follow_ups.extend(relaunched(
                    pref.clone(),
                    agent,
                    &task_id,
                    reason,
                    annotations,
                ));
            }
        }
        info!(pod = %format!("{}/{}", pref.namespace, pref.name), agent = %agent.agent_id.value, host = %agent.hostname, relaunch = was_relaunch, "pod placed");
        entry.state = PodState::Task(TaskTrack {
            task_id,
            agent_id: Some(agent.agent_id.clone()),
            executor_id: Some(executor_id),
            state: None,
            ever_running: false,
            bind,
            kill_sent: false,
            relaunch_deadline,
            launched_at: Some(now),
            waiting: None,
            last_update: None,
            handover: Handover::NotAsked,
            intent: None,
        });
        // Launched and bound: what only a launch reads goes (fetched again
        // should the pod need launching once more).
        entry.slim_if_settled();
        Some(offer::Operation {
            r#type: Some(offer::operation::Type::Launch as i32),
            launch: Some(offer::operation::Launch {
                task_infos: vec![task],
            }),
            ..Default::default()
        })
    }

    /// The resources of the executor a launch names: those placement gave
    /// it when the launch starts the executor (recorded for the agent),
    /// else the running executor's as recorded, else synthesized for the
    /// role (Mesos requires a running executor's `ExecutorInfo` repeated
    /// exactly).
    fn executor_resources_for(
        &mut self,
        p: &placement::Placement,
        agent: &AgentView,
        role: &str,
    ) -> Vec<Resource> {
        match &p.executor_resources {
            Some(r) => {
                self.executors
                    .insert(agent.agent_id.value.clone(), r.clone());
                r.clone()
            }
            None => self
                .executors
                .get(&agent.agent_id.value)
                .cloned()
                .unwrap_or_else(|| self.synthesized_executor_resources(role)),
        }
    }

    /// Whether the Bindings sent and not answered are at least two rounds'
    /// worth. Asked on every answer while a round waits: a length only.
    pub(super) fn bindings_backlogged(&self) -> bool {
        self.awaiting_binds.len() >= 2 * self.config.max_round_pods.max(1)
    }

    /// Forgets the pods that no longer wait for a Binding's answer. Every
    /// Binding is answered, so this only guards against one that never is
    /// (a write dropped at the end of a term); once a round, over the pods
    /// still waiting.
    fn forget_answered_binds(&mut self) {
        let pods = &self.pods;
        self.awaiting_binds.retain(|uid| {
            pods.get(uid).is_some_and(|e| match &e.state {
                PodState::Task(t) => matches!(t.bind, BindState::Pending),
                PodState::Relaunch { bind_pending, .. } => *bind_pending,
                _ => false,
            })
        });
    }

    /// One ACCEPT per agent with launches, and for the unused offers one
    /// DECLINE per refuse filter for all agents (Mesos takes any offers in
    /// one DECLINE; thousands of agents would otherwise cost thousands of
    /// calls) — except the offers kept in hand (`kept`, by offer ID).
    fn answer_offers(
        &mut self,
        agents: &[AgentView],
        mut ops: Vec<Vec<offer::Operation>>,
        refuse: &[f64],
        kept: &HashSet<String>,
        out: &mut Vec<Action>,
    ) {
        let mut unused: Vec<(f64, Vec<OfferId>)> = Vec::new();
        for (ai, agent) in agents.iter().enumerate() {
            let refuse = refuse[ai];
            if ops[ai].is_empty() {
                let ids = agent
                    .offer_ids
                    .iter()
                    .filter(|id| !kept.contains(&id.value))
                    .cloned();
                match unused.iter_mut().find(|(r, _)| *r == refuse) {
                    Some((_, batch)) => batch.extend(ids),
                    None => unused.push((refuse, ids.collect())),
                }
            } else {
                self.metrics.offers_used += agent.offer_ids.len() as u64;
                if refuse > 0.0 {
                    self.filters_active = true;
                }
                out.push(Action::Accept {
                    offer_ids: agent.offer_ids.clone(),
                    operations: std::mem::take(&mut ops[ai]),
                    filters: filters(refuse),
                });
            }
        }
        for (refuse, ids) in unused {
            self.decline(ids, refuse, out);
        }
    }

    /// Between rounds: the held offers whose batching window is over are
    /// declined (the short filter while pods arrive, the long one
    /// otherwise); while pods arrive the others stay in hand.
    fn answer_due_offers(&mut self, now: Instant, out: &mut Vec<Action>) {
        let arriving = self.pods_arriving(now);
        let (due, keep): (Vec<HeldOffer>, Vec<HeldOffer>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| !arriving || h.deadline <= now);
        self.held = keep;
        self.reset_batch_deadline();
        let refuse = if arriving {
            self.config.busy_refuse_seconds
        } else {
            self.config.refuse_seconds
        };
        self.decline(due.into_iter().map(|h| h.offer.id).collect(), refuse, out);
    }
}

/// The JSON of the executor a launch names (its ID and resources), as the
/// pod's `kube-mesos.io/executor-resources` annotation holds it, kept for
/// the next launch: the launches of a round name the same executor, with
/// the same resources on nearly every agent, and writing the JSON through
/// the protobuf descriptors was 3.5 % of the framework's samples while it
/// placed 10,000 pods (perf, session 14).
#[derive(Debug, Default)]
pub(super) struct ExecutorJson {
    last: Option<(ExecutorId, Vec<Resource>, Option<String>)>,
}

impl ExecutorJson {
    /// The JSON of `executor_id` with `resources` (`None` if it cannot be
    /// written, which a valid message never hits).
    fn of(&mut self, executor_id: &ExecutorId, resources: Vec<Resource>) -> Option<String> {
        if let Some((id, res, json)) = &self.last {
            if id == executor_id && *res == resources {
                return json.clone();
            }
        }
        let info = ExecutorInfo {
            executor_id: executor_id.clone(),
            resources,
            ..Default::default()
        };
        let json = kube_mesos_proto::json::to_json(&info)
            .ok()
            .map(|j| j.to_string());
        self.last = Some((info.executor_id, info.resources, json.clone()));
        json
    }
}

/// The annotations a placed pod carries (DESIGN.md: "Identities and
/// invariants"): framework, agent, task and executor, and the executor's
/// resources as launched.
fn placement_annotations(
    framework_id: &FrameworkId,
    agent: &AgentView,
    task_id: &TaskId,
    executor_id: &ExecutorId,
    exec_json: Option<String>,
) -> BTreeMap<String, String> {
    let mut annotations = BTreeMap::new();
    annotations.insert(
        ANNOTATION_FRAMEWORK_ID.to_owned(),
        framework_id.value.clone(),
    );
    annotations.insert(ANNOTATION_AGENT_ID.to_owned(), agent.agent_id.value.clone());
    annotations.insert(ANNOTATION_TASK_ID.to_owned(), task_id.value.clone());
    annotations.insert(ANNOTATION_EXECUTOR_ID.to_owned(), executor_id.value.clone());
    if let Some(j) = exec_json {
        annotations.insert(ANNOTATION_EXECUTOR_RESOURCES.to_owned(), j);
    }
    annotations
}

/// A pod placed for the first time: its Binding (annotations only when it
/// named its node itself) and kube-scheduler's `Scheduled` event.
fn scheduled(
    pref: PodRef,
    agent: &AgentView,
    annotations: BTreeMap<String, String>,
    preassigned: bool,
) -> [Action; 2] {
    let assign = if preassigned {
        Action::Annotate {
            pod: pref.clone(),
            annotations,
        }
    } else {
        Action::Bind {
            pod: pref.clone(),
            node_name: agent.hostname.clone(),
            annotations,
        }
    };
    let message = format!(
        "Successfully assigned {}/{} to {}",
        pref.namespace, pref.name, agent.hostname
    );
    [
        assign,
        Action::RecordEvent {
            pod: pref,
            type_: EventType::Normal,
            reason: "Scheduled".to_owned(),
            message,
        },
    ]
}

/// A bound pod launched again: its new task ID goes into the annotations
/// (the pod is bound already, so a failure is only logged: see
/// `Action::SetPodTask`), with a `Relaunched` event saying why.
fn relaunched(
    pref: PodRef,
    agent: &AgentView,
    task_id: &TaskId,
    reason: &str,
    annotations: BTreeMap<String, String>,
) -> [Action; 2] {
    let why = match reason {
        task_status::REASON_EXECUTOR_LOST => "after its executor was lost",
        task_status::REASON_NODE_LOST => "after its task was lost",
        task_status::REASON_HANDOVER => {
            "on the current executor, handed over by an executor of an older configuration"
        }
        _ => "after a failed launch",
    };
    [
        Action::SetPodTask {
            pod: pref.clone(),
            annotations,
        },
        Action::RecordEvent {
            pod: pref,
            type_: EventType::Normal,
            reason: "Relaunched".to_owned(),
            message: format!(
                "Relaunched on {} as task {} {why}",
                agent.hostname, task_id.value
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::build::scalar;

    fn written(id: &ExecutorId, resources: Vec<Resource>) -> Option<String> {
        let info = ExecutorInfo {
            executor_id: id.clone(),
            resources,
            ..Default::default()
        };
        Some(kube_mesos_proto::json::to_json(&info).unwrap().to_string())
    }

    #[test]
    fn the_executor_json_kept_is_that_of_the_executor_asked_for() {
        let a = ExecutorId { value: "a".into() };
        let b = ExecutorId { value: "b".into() };
        let small = vec![scalar("cpus", 0.1, "*"), scalar("mem", 64.0, "*")];
        let big = vec![scalar("cpus", 0.5, "*"), scalar("mem", 64.0, "*")];
        let mut memo = ExecutorJson::default();
        for (id, res) in [
            (&a, &small),
            (&a, &small),
            (&a, &big),
            (&b, &big),
            (&a, &small),
        ] {
            let json = memo.of(id, res.clone());
            assert_eq!(json, written(id, res.clone()));
        }
        assert!(memo
            .of(&a, small.clone())
            .is_some_and(|j| j.contains("\"a\"") && j.contains("0.1")));
    }
}
