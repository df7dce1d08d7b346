#!/usr/bin/env python3
"""A minimal executor for tests/mesos_endpoints_fixtures.rs (stdlib only).

Speaks the v1 executor HTTP API in JSON as the kube-mesos executor does for
one pod: LAUNCH is answered with TASK_STARTING then TASK_RUNNING, KILL with
TASK_KILLING then TASK_KILLED; SHUTDOWN ends it. Like the kube-mesos
executor it sets no container status (a real agent adds one) and keeps
running after a KILL.
"""

import base64
import http.client
import json
import os
import sys
import time
import uuid

HOST, PORT = os.environ["MESOS_AGENT_ENDPOINT"].rsplit(":", 1)
FRAMEWORK_ID = {"value": os.environ["MESOS_FRAMEWORK_ID"]}
EXECUTOR_ID = {"value": os.environ["MESOS_EXECUTOR_ID"]}


def post(body, headers):
    conn = http.client.HTTPConnection(HOST, int(PORT))
    conn.request("POST", "/api/v1/executor", json.dumps(body), headers)
    return conn, conn.getresponse()


def records(resp):
    """Yields the JSON records of a RecordIO stream (`<len>\\n<bytes>`)."""
    while True:
        line = b""
        while not line.endswith(b"\n"):
            c = resp.read(1)
            if not c:
                return
            line += c
        yield json.loads(resp.read(int(line)))


def update(task_id, state):
    status = {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "executor_id": EXECUTOR_ID,
        "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
        "timestamp": time.time(),
    }
    call = {
        "type": "UPDATE",
        "framework_id": FRAMEWORK_ID,
        "executor_id": EXECUTOR_ID,
        "update": {"status": status},
    }
    conn, resp = post(call, {"Content-Type": "application/json"})
    resp.read()
    conn.close()
    if resp.status != 202:
        sys.exit("UPDATE answered %d" % resp.status)


def main():
    subscribe = {
        "type": "SUBSCRIBE",
        "framework_id": FRAMEWORK_ID,
        "executor_id": EXECUTOR_ID,
        "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []},
    }
    _, resp = post(
        subscribe,
        {"Content-Type": "application/json", "Accept": "application/json"},
    )
    if resp.status != 200:
        sys.exit("SUBSCRIBE answered %d" % resp.status)
    for event in records(resp):
        kind = event.get("type")
        if kind == "LAUNCH":
            task_id = event["launch"]["task"]["task_id"]["value"]
            update(task_id, "TASK_STARTING")
            update(task_id, "TASK_RUNNING")
        elif kind == "KILL":
            task_id = event["kill"]["task_id"]["value"]
            update(task_id, "TASK_KILLING")
            update(task_id, "TASK_KILLED")
        elif kind == "SHUTDOWN":
            return


if __name__ == "__main__":
    main()
