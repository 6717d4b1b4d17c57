"""ECS request throttling with AWS's documented token buckets ("Request throttling for the
Amazon ECS API"): bucket maximum capacity (burst) and refill rate (sustained) per action category,
per account and Region; judged with the AWS CLI where a client's view matters."""
import json
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from testbed.tests.conftest import ENDPOINT, ENV, container, control, env

SIGV4 = ("AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ecs/aws4_request, "
         "SignedHeaders=host, Signature=0")


@pytest.fixture(autouse=True)
def aws_numbers():
    """AWS's bucket sizes, whatever the test bed was started with."""
    control("/_testbed/config", {"ecs_throttle_scale": 1})
    control("/_testbed/stats", method="DELETE")


def raw(op, body):
    """One ECS request; returns (HTTP status, parsed body)."""
    req = urllib.request.Request(ENDPOINT + "/", data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": f"AmazonEC2ContainerServiceV20141113.{op}",
        "Content-Type": "application/x-amz-json-1.1", "Authorization": SIGV4})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        data = e.read()
        try:
            return e.code, json.loads(data or b"{}")
        except ValueError:
            return e.code, {"raw": data.decode(errors="replace")}


def throttled(resp):
    return resp[0] == 400 and resp[1].get("__type") == "ThrottlingException"


def burst(calls):
    """Fire the (op, body) calls back to back; (accepted, throttled, seconds)."""
    t0 = time.monotonic()
    ok = th = 0
    for op, body in calls:
        r = raw(op, body)
        if throttled(r):
            th += 1
            assert r[1] == {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            ok += 1
    return ok, th, time.monotonic() - t0


def drain(ops, body, threads=4, enough=5, limit=5000):
    """Call ops (in turn) from several threads until `enough` requests were throttled: fast enough
    to outrun the refill even on a loaded machine.  (accepted, throttled, seconds)"""
    lock = threading.Lock()
    state = {"n": 0, "ok": 0, "th": 0}

    def worker():
        while True:
            with lock:
                if state["th"] >= enough or state["n"] >= limit:
                    return
                op = ops[state["n"] % len(ops)]
                state["n"] += 1
            r = raw(op, body)
            with lock:
                if throttled(r):
                    assert r[1] == {"__type": "ThrottlingException", "message": "Rate exceeded"}
                    state["th"] += 1
                else:
                    state["ok"] += 1
    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=300)
    return state["ok"], state["th"], time.monotonic() - t0


@pytest.mark.parametrize("ops,body,capacity,refill", [
    (["DescribeServices", "ListServices"], {"services": ["x"]}, 100, 20),     # Service read actions
    (["DescribeTasks", "ListTasks"], {"tasks": ["x"]}, 100, 20),              # Cluster resource read actions
    (["DescribeTaskDefinition"], {"taskDefinition": "nope:1"}, 50, 20),       # Task definition read actions
    (["UpdateService"], {"service": "nope"}, 50, 5),                          # Service modify actions
    (["RegisterTaskDefinition"], {"family": "x"}, 20, 1),                     # Task definition modify actions
])
def test_documented_bucket_capacity_and_refill(ops, body, capacity, refill):
    ok, th, secs = drain(ops, body)
    # a full bucket serves `capacity` requests at once, then what refills meanwhile
    assert capacity <= ok <= capacity + refill * secs + 1, (ok, th, secs)
    assert th >= 5
    stats = control("/_testbed/stats")
    assert stats["throttled_total"] == th
    assert sum(stats["throttled"].get(f"ecs:{op}", 0) for op in ops) == th
    # the bucket refills at `refill` tokens a second
    time.sleep(2.2 / refill if refill < 5 else 1.1)
    ok2, _, _ = burst([(ops[0], body)] * 2)
    assert ok2 >= 1


def test_buckets_are_per_category():
    # DescribeServices and ListServices share the Service read bucket: 100 between them
    ok, th, secs = drain(["DescribeServices", "ListServices"], {"services": ["x"]}, enough=10)
    assert 100 <= ok <= 100 + 20 * secs + 1
    throttled_ops = control("/_testbed/stats")["throttled"]
    assert throttled_ops["ecs:DescribeServices"] > 0 and throttled_ops["ecs:ListServices"] > 0
    # other categories are not affected by an empty Service read bucket
    for op, body in (("DescribeTasks", {"tasks": ["x"]}), ("ListClusters", {}),
                     ("DescribeTaskDefinition", {"taskDefinition": "nope:1"}), ("UpdateService", {"service": "x"})):
        assert not throttled(raw(op, body)), op


class Drainer:
    """Keeps a bucket empty from background threads."""

    def __init__(self, op, body, threads=2):
        self.op, self.body = op, body
        self.stop = threading.Event()
        self.empty = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        while not self.stop.is_set():
            if throttled(raw(self.op, self.body)):
                self.empty.set()

    def __enter__(self):
        for t in self.threads:
            t.start()
        assert self.empty.wait(60), "the bucket never ran empty"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def test_cli_sees_throttling_exception_and_retries_through_it(ecs):
    td = {"family": "thr", "containerDefinitions": [container("app", "scripted/app:1",
                                                              environment=env(TESTBED_RUN_SECONDS=600))]}
    control("/_testbed/stats", method="DELETE")
    with Drainer("DeregisterTaskDefinition", {"taskDefinition": "nope:1"}):
        p = subprocess.run(["aws", "ecs", "register-task-definition", "--cli-input-json", json.dumps(td)],
                           env=dict(ENV, AWS_MAX_ATTEMPTS="1"), capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "An error occurred (ThrottlingException) when calling the RegisterTaskDefinition operation" in p.stderr
    assert "Rate exceeded" in p.stderr
    assert control("/_testbed/stats")["throttled"].get("ecs:RegisterTaskDefinition", 0) >= 1
    # with its default retries the CLI gets through once the bucket refills: keep the bucket
    # empty until the CLI has been throttled once, then let it refill (1 token a second)
    seen = control("/_testbed/stats")["throttled"].get("ecs:RegisterTaskDefinition", 0)
    with Drainer("DeregisterTaskDefinition", {"taskDefinition": "nope:1"}):
        cli = subprocess.Popen(["aws", "ecs", "register-task-definition", "--cli-input-json", json.dumps(td),
                                "--output", "json"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        deadline = time.time() + 60
        while control("/_testbed/stats")["throttled"].get("ecs:RegisterTaskDefinition", 0) == seen:
            assert time.time() < deadline and cli.poll() is None, "the CLI was never throttled"
            time.sleep(0.02)
    out, err = cli.communicate(timeout=120)
    assert cli.returncode == 0, err
    assert json.loads(out)["taskDefinition"]["family"] == "thr"


def test_scale_knob_and_throttling_off(ecs):
    # scaled: 0.1 x AWS's numbers
    control("/_testbed/config", {"ecs_throttle_scale": 0.1})
    ok, th, secs = drain(["DescribeServices"], {"services": ["x"]})
    assert 10 <= ok <= 10 + 2 * secs + 1 and th >= 5
    # off
    control("/_testbed/config", {"ecs_throttle_scale": 0})
    control("/_testbed/stats", method="DELETE")
    ok, th, _ = burst([("DescribeServices", {"services": ["x"]})] * 150 +
                      [("RegisterTaskDefinition", {"family": "x"})] * 30)
    assert th == 0 and ok == 180
    td = {"family": "off", "containerDefinitions": [container("app", "scripted/app:1")]}
    p = subprocess.run(["aws", "ecs", "register-task-definition", "--cli-input-json", json.dumps(td)],
                       env=dict(ENV, AWS_MAX_ATTEMPTS="1"), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    stats = control("/_testbed/stats")
    assert stats["throttled_total"] == 0 and stats["ecs_throttle_scale"] == 0
    # back on: AWS's numbers again (1.0 is the default: testbed/config.py)
    control("/_testbed/config", {"ecs_throttle_scale": 1})
    ok, th, secs = drain(["RegisterTaskDefinition"], {"family": "x"})
    assert 20 <= ok <= 20 + secs + 1 and th >= 5
