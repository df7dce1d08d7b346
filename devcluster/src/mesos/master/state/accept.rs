//! ACCEPT (`Master::accept`) with LAUNCH and LAUNCH_GROUP, in Mesos' order:
//! validate the offers (`validation::offer::validate`), use them up either
//! way, refuse every task of an invalid ACCEPT (TASK_LOST, or TASK_DROPPED
//! for partition-aware frameworks), validate each operation's tasks against
//! what is left (`validation::task::validate`), refuse the invalid ones with
//! TASK_ERROR, record the valid tasks and send them to the agent (one
//! RunTasks per executor), and decline the unused remainder with the call's
//! filters.

use super::*;

/// What an ACCEPT's operations launch after validation.
#[derive(Default)]
struct Launches {
    /// The tasks to record, STAGING.
    new_tasks: Vec<Task>,
    /// One RunTasks per executor and operation: executor, tasks, group.
    runs: Vec<(ExecutorInfo, Vec<TaskInfo>, bool)>,
    /// Refused tasks and why.
    errors: Vec<(TaskInfo, String)>,
}

impl State {
    /// ACCEPT (`Master::accept`), LAUNCH and LAUNCH_GROUP.
    pub fn accept(&mut self, framework_id: &str, accept: call::Accept, now: Instant) {
        self.count_launch_messages(&accept.operations);
        let validated = self.validate_offers(framework_id, &accept.offer_ids);
        let (offered, role, used_offers) = self.use_up_offers(framework_id, &accept.offer_ids);
        if !self.frameworks.contains_key(framework_id) {
            return;
        }
        let agent_id = match validated {
            Ok(a) if self.agents.contains_key(&a) => a,
            Ok(_) => {
                return self.refuse_launch(
                    framework_id,
                    &accept.operations,
                    "Agent is not registered",
                )
            }
            Err(e) => return self.refuse_launch(framework_id, &accept.operations, &e),
        };
        if let Some(fw) = self.frameworks.get(framework_id) {
            fw.metrics.offers_accepted(used_offers);
        }

        let mut remaining = offered.unallocated();
        let launches = self.validate_operations(
            framework_id,
            &agent_id,
            &accept.operations,
            &role,
            &mut remaining,
        );
        self.refuse_tasks(framework_id, &accept.operations, &launches.errors);
        self.record_and_run(framework_id, &agent_id, launches);

        // The unused remainder is declined with the call's filters.
        if !remaining.is_empty() {
            let refuse = accept
                .filters
                .as_ref()
                .map(|f| f.refuse_seconds())
                .unwrap_or(5.0);
            self.add_filter(framework_id, &agent_id, &role, remaining, refuse, now);
        }
    }

    /// The master's `messages_launch_tasks` / `messages_decline_offers`
    /// counters: a LAUNCH without tasks counts as a decline.
    fn count_launch_messages(&mut self, operations: &[offer::Operation]) {
        for op in operations {
            if op.r#type() == offer::operation::Type::Launch {
                let tasks = op.launch.as_ref().map_or(0, |l| l.task_infos.len());
                self.metrics.inc(if tasks > 0 {
                    Counter::MessagesLaunchTasks
                } else {
                    Counter::MessagesDeclineOffers
                });
            }
        }
    }

    /// `validation::offer::validate`: the one agent of the offers, or the
    /// first error in Mesos' words.
    fn validate_offers(&self, framework_id: &str, offer_ids: &[OfferId]) -> Result<String, String> {
        if offer_ids.is_empty() {
            return Err("No offers specified".into());
        }
        let mut agent_id: Option<String> = None;
        let mut seen = BTreeSet::new();
        for oid in offer_ids {
            if !seen.insert(oid.value.clone()) {
                return Err(format!("Duplicate offer {} in offer list", oid.value));
            }
            match self.offers.get(&oid.value) {
                None => return Err(format!("Offer {} is no longer valid", oid.value)),
                Some(o) if o.offer.framework_id.value != framework_id => {
                    return Err(format!(
                        "Offer {} has invalid framework {} while framework {} is expected",
                        oid.value, o.offer.framework_id.value, framework_id
                    ))
                }
                Some(o) => match &agent_id {
                    Some(a) if *a != o.offer.agent_id.value => {
                        return Err(format!(
                            "Aggregated offers must belong to one single agent. Offer {} uses \
                             agent {} and agent {}",
                            oid.value, o.offer.agent_id.value, a
                        ))
                    }
                    _ => agent_id = Some(o.offer.agent_id.value.clone()),
                },
            }
        }
        agent_id.ok_or_else(|| "Agent is not registered".into())
    }

    /// Removes the framework's offers among `offer_ids` (an ACCEPT uses
    /// them up, valid or not): their resources, their role, how many.
    fn use_up_offers(
        &mut self,
        framework_id: &str,
        offer_ids: &[OfferId],
    ) -> (Resources, String, usize) {
        let mut offered = Resources::new();
        let mut role = String::new();
        let mut used_offers = 0;
        for oid in offer_ids {
            if let Some(o) = self.offers.get(&oid.value) {
                if o.offer.framework_id.value == framework_id {
                    used_offers += 1;
                    let o = self
                        .offers
                        .remove(&oid.value)
                        .map(|o| (o.resources, o.role));
                    if let Some((r, ro)) = o {
                        offered.add_all(&r);
                        role = ro;
                    }
                }
            }
        }
        (offered, role, used_offers)
    }

    /// Every task of an ACCEPT with invalid offers ends with
    /// `REASON_INVALID_OFFERS`: TASK_LOST, or TASK_DROPPED for a
    /// partition-aware framework.
    fn refuse_launch(&mut self, framework_id: &str, operations: &[offer::Operation], why: &str) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        let msg = format!("Task launched with invalid offers: {why}");
        let state = if fw.partition_aware() {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for t in launched_tasks(operations) {
            let status = master_status(
                &t.task_id,
                state,
                &msg,
                task_status::Reason::InvalidOffers,
                Some(&t.agent_id),
                None,
            );
            self.metrics.task_ended(&status);
            fw.send(update_event(status));
        }
    }

    /// Validates the tasks of each LAUNCH / LAUNCH_GROUP against what is
    /// `remaining` of the offers (taking what the valid ones use), and
    /// groups the valid ones per executor.
    fn validate_operations(
        &self,
        framework_id: &str,
        agent_id: &str,
        operations: &[offer::Operation],
        role: &str,
        remaining: &mut Resources,
    ) -> Launches {
        let mut out = Launches::default();
        let mut used_ids: BTreeSet<String> = BTreeSet::new();
        // Executors that earlier operations of this call launch: Mesos adds
        // each task and its executor to the agent before it validates the
        // next operation, so a later LAUNCH for one of them must neither pay
        // for the executor again nor differ from it.
        let mut launched: Vec<ExecutorInfo> = Vec::new();
        for op in operations {
            let Some((tasks, group_executor, group)) = operation_tasks(framework_id, op) else {
                continue;
            };
            let mut validated: Vec<(TaskInfo, ExecutorInfo)> = Vec::new();
            let mut group_error: Option<String> = None;
            let mut op_used = Resources::new();
            for mut task in tasks {
                let executor = group_executor.clone().or_else(|| task.executor.clone());
                let err = self.validate_task(
                    framework_id,
                    agent_id,
                    &task,
                    executor.as_ref(),
                    group,
                    &used_ids,
                    &remaining.minus(&op_used),
                    &validated,
                    &launched,
                );
                if let Some(e) = err {
                    if group {
                        group_error.get_or_insert(e.clone());
                    }
                    out.errors.push((task, e));
                    continue;
                }
                let mut executor = executor.unwrap_or_else(|| command_executor(&task));
                if executor.framework_id.is_none() {
                    executor.framework_id = Some(fw_id(framework_id));
                }
                let mut need = Resources::from_protos(&task.resources).unallocated();
                if !self.executor_known(agent_id, framework_id, &executor)
                    && !launched
                        .iter()
                        .chain(validated.iter().map(|(_, e)| e))
                        .any(|e| e.executor_id == executor.executor_id)
                {
                    need.add_all(&Resources::from_protos(&executor.resources).unallocated());
                }
                op_used.add_all(&need);
                used_ids.insert(task.task_id.value.clone());
                if task.executor.is_some() {
                    task.executor = Some(executor.clone());
                }
                validated.push((task, executor));
            }
            if let Some(ge) = group_error {
                for (t, _) in validated.drain(..) {
                    out.errors.push((t, ge.clone()));
                }
                continue;
            }
            remaining.subtract_all(&op_used);
            let mut per_exec: Vec<(ExecutorInfo, Vec<TaskInfo>)> = Vec::new();
            for (mut task, executor) in validated {
                task.resources = Resources::from_protos(&task.resources)
                    .unallocated()
                    .allocate(role)
                    .into_protos();
                out.new_tasks
                    .push(self.staging_task(framework_id, agent_id, &task, &executor));
                add_to_run(&mut per_exec, executor, task);
            }
            for (e, ts) in per_exec {
                if !launched.iter().any(|l| l.executor_id == e.executor_id) {
                    launched.push(e.clone());
                }
                out.runs.push((e, ts, group));
            }
        }
        out
    }

    /// The master's record of a task it sends to the agent: STAGING.
    fn staging_task(
        &self,
        framework_id: &str,
        agent_id: &str,
        task: &TaskInfo,
        executor: &ExecutorInfo,
    ) -> Task {
        Task {
            name: task.name.clone(),
            task_id: task.task_id.clone(),
            framework_id: fw_id(framework_id),
            executor_id: Some(executor.executor_id.clone()),
            agent_id: AgentId {
                value: agent_id.to_owned(),
            },
            state: TaskState::TaskStaging as i32,
            resources: task.resources.clone(),
            labels: task.labels.clone(),
            discovery: task.discovery.clone(),
            health_check: task.health_check.clone(),
            kill_policy: task.kill_policy,
            user: Some(
                self.frameworks
                    .get(framework_id)
                    .map(|f| f.info.user.clone())
                    .unwrap_or_default(),
            ),
            ..Default::default()
        }
    }

    /// Refused tasks: TASK_ERROR (`REASON_TASK_INVALID` /
    /// `REASON_TASK_GROUP_INVALID`).
    fn refuse_tasks(
        &mut self,
        framework_id: &str,
        operations: &[offer::Operation],
        errors: &[(TaskInfo, String)],
    ) {
        let Some(fw) = self.frameworks.get(framework_id) else {
            return;
        };
        for (t, e) in errors {
            let reason = if launched_in_group(operations, &t.task_id) {
                task_status::Reason::TaskGroupInvalid
            } else {
                task_status::Reason::TaskInvalid
            };
            let status = master_status(
                &t.task_id,
                TaskState::TaskError,
                e,
                reason,
                Some(&t.agent_id),
                None,
            );
            self.metrics.task_ended(&status);
            fw.send(update_event(status));
        }
    }

    /// Records the tasks (TASK_ADDED to operator subscribers) and the
    /// executors, then tells the agent: one RunTasks per executor.
    fn record_and_run(&mut self, framework_id: &str, agent_id: &str, launches: Launches) {
        let Launches {
            new_tasks, runs, ..
        } = launches;
        let framework_info = self
            .frameworks
            .get(framework_id)
            .map(|f| f.info.clone())
            .unwrap_or_default();
        for task in &new_tasks {
            if let Some(fw) = self.frameworks.get_mut(framework_id) {
                fw.tasks.insert(task.task_id.value.clone(), task.clone());
            }
        }
        for task in new_tasks {
            self.publish(operator::Event {
                r#type: Some(operator::event::Type::TaskAdded as i32),
                task_added: Some(operator::event::TaskAdded { task }),
                ..Default::default()
            });
        }
        if let Some(fw) = self.frameworks.get(framework_id) {
            for (_, tasks, group) in &runs {
                if *group {
                    fw.metrics.operation(offer::operation::Type::LaunchGroup);
                } else {
                    for _ in tasks {
                        fw.metrics.operation(offer::operation::Type::Launch);
                    }
                }
            }
        }
        if let Some(agent) = self.agents.get_mut(agent_id) {
            for (executor, tasks, group) in runs {
                agent
                    .executors
                    .entry((framework_id.to_owned(), executor.executor_id.value.clone()))
                    .or_insert_with(|| executor.clone());
                agent.send(MasterMessage::RunTasks {
                    framework: framework_info.clone(),
                    executor,
                    tasks,
                    group,
                });
            }
        }
    }
}

/// The tasks of a LAUNCH or LAUNCH_GROUP, the group's executor, and whether
/// it is a group; `None` for other operations (not supported here).
fn operation_tasks(
    framework_id: &str,
    op: &offer::Operation,
) -> Option<(Vec<TaskInfo>, Option<ExecutorInfo>, bool)> {
    match op.r#type() {
        offer::operation::Type::Launch => Some((
            op.launch
                .as_ref()
                .map(|l| l.task_infos.clone())
                .unwrap_or_default(),
            None,
            false,
        )),
        offer::operation::Type::LaunchGroup => {
            let lg = op.launch_group.as_ref()?;
            Some((lg.task_group.tasks.clone(), Some(lg.executor.clone()), true))
        }
        other => {
            tracing::warn!(framework_id, operation = ?other, "unsupported offer operation ignored");
            None
        }
    }
}

/// Adds a task to its executor's run: one RunTasks per executor.
fn add_to_run(
    per_exec: &mut Vec<(ExecutorInfo, Vec<TaskInfo>)>,
    executor: ExecutorInfo,
    task: TaskInfo,
) {
    match per_exec
        .iter_mut()
        .find(|(e, _)| e.executor_id == executor.executor_id)
    {
        Some((_, ts)) => ts.push(task),
        None => per_exec.push((executor, vec![task])),
    }
}
