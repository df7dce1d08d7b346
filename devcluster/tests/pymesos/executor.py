#!/usr/bin/env python3
"""A pymesos EXECUTOR for the devcluster agent tests.

Launched by the agent as `python3 executor.py` (CommandInfo.value). It
answers LAUNCH with TASK_RUNNING, KILL with TASK_KILLED, echoes framework
messages back to the scheduler prefixed with "echo:", and exits on SHUTDOWN,
all through pymesos' MesosExecutorDriver (JSON over the executor HTTP API).
"""

import logging
import sys
from threading import Thread

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data

logging.basicConfig(level=logging.INFO, stream=sys.stderr)


class EchoExecutor(Executor):
    def registered(self, driver, executor_info, framework_info, agent_info):
        print("registered with agent %s" % agent_info["id"]["value"], flush=True)

    def launchTask(self, driver, task):
        def run():
            driver.sendStatusUpdate(dict(
                task_id=task["task_id"],
                state="TASK_RUNNING",
                message="running under pymesos",
            ))
        Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        driver.sendStatusUpdate(dict(task_id=task_id, state="TASK_KILLED"))

    def frameworkMessage(self, driver, message):
        data = decode_data(message)
        driver.sendFrameworkMessage(encode_data(b"echo:" + data))

    def shutdown(self, driver):
        print("shutdown", flush=True)


if __name__ == "__main__":
    driver = MesosExecutorDriver(EchoExecutor())
    driver.run()
