#!/usr/bin/env python3
"""A small pymesos scheduler run against the devcluster Mesos master.

Usage: scheduler.py HOST:PORT [EXECUTOR_COMMAND]

It subscribes over JSON, takes the first offer, launches one task on a
custom executor (EXECUTOR_COMMAND, default "true"), reconciles the task
once it runs, kills it, and exits 0 once TASK_KILLED arrived. Every
update with a uuid is acknowledged by pymesos itself (implicit
acknowledgements). Any ERROR event, an unexpected state or a missing field
makes it exit 1. The Rust test `mesos_master_pymesos.rs` runs it; the
agent's pymesos test can pass a real executor command.
"""

import json
import logging
import os
import signal
import sys
import threading

from pymesos import MesosSchedulerDriver, Scheduler

TASK_ID = "pymesos-task-1"


def log(*args):
    print("scheduler:", *args, flush=True)


class TestScheduler(Scheduler):
    def __init__(self, executor_command):
        self.executor_command = executor_command
        self.launched = False
        self.reconciled = False
        self.killed = False
        self.failure = None
        self.done = threading.Event()
        self.seen = []

    def fail(self, driver, why):
        log("FAIL:", why)
        self.failure = why
        self.done.set()
        driver.stop()

    def registered(self, driver, framework_id, master_info):
        log("registered", framework_id["value"], json.dumps(master_info))

    def reregistered(self, driver, master_info):
        log("reregistered", json.dumps(master_info))

    def resourceOffers(self, driver, offers):
        for offer in offers:
            if self.launched:
                driver.declineOffer([offer["id"]], {"refuse_seconds": 3600})
                continue
            self.launched = True
            names = sorted({r["name"] for r in offer["resources"]})
            log("offer", offer["id"]["value"], "from", offer["hostname"], names)
            task = {
                "task_id": {"value": TASK_ID},
                "agent_id": offer["agent_id"],
                "name": "pymesos task",
                "executor": {
                    "executor_id": {"value": "pymesos-executor"},
                    "type": "CUSTOM",
                    "command": {"value": self.executor_command},
                    "resources": [
                        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                        {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                    ],
                },
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 64}},
                ],
            }
            driver.launchTasks([offer["id"]], [task])

    def statusUpdate(self, driver, update):
        state = update["state"]
        self.seen.append(state)
        log("update", update["task_id"]["value"], state,
            update.get("reason", ""), update.get("source", ""))
        if "agent_id" not in update:
            return self.fail(driver, "update without agent_id: %s" % update)
        if update["task_id"]["value"] != TASK_ID:
            return self.fail(driver, "update for unknown task: %s" % update)
        if state == "TASK_RUNNING" and not self.reconciled:
            if update.get("reason") == "REASON_RECONCILIATION":
                # The answer to our explicit reconciliation.
                if "uuid" in update:
                    return self.fail(driver, "reconciliation update has a uuid")
                self.reconciled = True
                log("reconciled; killing")
                driver.killTask({"value": TASK_ID})
            else:
                if "uuid" not in update:
                    return self.fail(driver, "agent update without uuid")
                driver.reconcileTasks([{"task_id": {"value": TASK_ID}}])
        elif state == "TASK_KILLED":
            self.killed = True
            self.done.set()
        elif state in ("TASK_FAILED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED"):
            return self.fail(driver, "unexpected %s: %s" % (state, update.get("message")))

    def error(self, driver, message):
        self.fail(driver, "ERROR event: %s" % message)


def main():
    logging.basicConfig(level=logging.WARNING)
    master = sys.argv[1]
    command = sys.argv[2] if len(sys.argv) > 2 else "true"
    signal.signal(signal.SIGALRM, lambda *_: os._exit(3))
    signal.alarm(int(os.environ.get("PYMESOS_TEST_TIMEOUT", "60")))

    framework = {"user": "root", "name": "pymesos-devcluster-test", "hostname": "localhost"}
    sched = TestScheduler(command)
    driver = MesosSchedulerDriver(sched, framework, master, use_addict=False)
    driver.start()
    sched.done.wait()
    # Let the implicit acknowledgement of TASK_KILLED go out before stopping.
    threading.Event().wait(0.5)
    driver.stop()
    driver.join()
    if sched.failure or not sched.killed or not sched.reconciled:
        log("FAILED:", sched.failure, sched.seen)
        sys.exit(1)
    log("OK", sched.seen)
    sys.exit(0)


if __name__ == "__main__":
    main()
