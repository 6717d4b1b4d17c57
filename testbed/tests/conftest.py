"""Fixtures for the test-bed suite: the judge is the AWS CLI (v1, from the
test-bed venv) talking to the running test bed."""
import json
import os
import subprocess
import threading
import time
import urllib.request
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TESTBED = os.path.join(ROOT, "scripts", "testbed")

FAST = {
    "provisioning_seconds": 0.2,
    "pending_seconds": 0.2,
    "stopping_seconds": 0.2,
    "task_stable_seconds": 0.8,
    "health_check_interval": 1.0,
    "launch_backoff_base": 0.2,
    "launch_backoff_max": 1.0,
}


def _testbed_env():
    out = subprocess.run([TESTBED, "env"], check=True, capture_output=True, text=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        if line.startswith("export "):
            k, v = line[len("export "):].split("=", 1)
            env[k] = v.replace("$PATH", os.environ.get("PATH", ""))
        elif line.startswith("unset "):
            for k in line.split()[1:]:
                env.pop(k, None)
    return env


ENV = _testbed_env()
ENDPOINT = ENV["AWS_ENDPOINT_URL"]
ENGINE = ENV.get("WHARF_TESTBED_ENGINE", "none")
REGISTRY = ENV["WHARF_TESTBED_REGISTRY"]


def control(path, payload=None, method=None):
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(ENDPOINT + path, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def aws(*args, check=True):
    """Run the venv's aws CLI; return parsed JSON output (or None)."""
    p = subprocess.run(["aws", *args, "--output", "json"], env=ENV, capture_output=True, text=True, timeout=240)
    if check and p.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    if p.returncode != 0:
        return p
    return json.loads(p.stdout) if p.stdout.strip() else None


_polling = threading.local()

_TARGETS = {"ecs": ("AmazonEC2ContainerServiceV20141113", "application/x-amz-json-1.1")}


def api(service, op, body):
    """A plain JSON call to the test bed, used only while polling (starting the
    CLI for every poll is slow); wait_for confirms the final answer with the CLI."""
    prefix, ctype = _TARGETS[service]
    req = urllib.request.Request(ENDPOINT + "/", data=json.dumps(body).encode(), method="POST", headers={
        "X-Amz-Target": f"{prefix}.{op}", "Content-Type": ctype,
        "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/{service}/aws4_request, "
                         "SignedHeaders=host, Signature=0"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def polling():
    return getattr(_polling, "on", False)


def wait_for(fn, timeout=60, interval=0.3, what="condition", on_timeout=None):
    """Poll fn (fast path) until truthy, then confirm with fn through the AWS CLI."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        _polling.on = True
        try:
            last = fn()
        finally:
            _polling.on = False
        if last:
            confirmed = fn()
            if confirmed:
                return confirmed
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}; extra={on_timeout() if on_timeout else None}")


@pytest.fixture(scope="session", autouse=True)
def testbed_up():
    subprocess.run([TESTBED, "up"], check=True, timeout=360)
    yield


@pytest.fixture(autouse=True)
def clean_state(testbed_up):
    urllib.request.urlopen(urllib.request.Request(ENDPOINT + "/moto-api/reset", method="POST"), timeout=120)
    control("/_testbed/config", method="DELETE")
    control("/_testbed/config", FAST)
    control("/_testbed/faults", method="DELETE")
    yield


@pytest.fixture(scope="session")
def busybox_image(testbed_up):
    """A FROM-scratch busybox image pushed to the test-bed registry."""
    if ENGINE == "none":
        pytest.skip("no container engine")
    ref = subprocess.run([TESTBED, "image", "wharf-test/busybox:1"], check=True, capture_output=True,
                         text=True, timeout=600).stdout.strip()
    return ref


class Ecs:
    """Small helpers around the aws CLI for ECS tests."""

    def __init__(self):
        self.cluster = "tb-" + uuid.uuid4().hex[:6]
        aws("ecs", "create-cluster", "--cluster-name", self.cluster)

    def register(self, family, containers, network_mode="bridge", **extra):
        td = {"family": family, "networkMode": network_mode, "containerDefinitions": containers}
        if network_mode == "awsvpc":
            td.update(requiresCompatibilities=["FARGATE"], cpu="256", memory="512")
        td.update(extra)
        return aws("ecs", "register-task-definition", "--cli-input-json", json.dumps(td))[
            "taskDefinition"]["taskDefinitionArn"]

    def create_service(self, name, td, desired=1, breaker=None, **extra):
        args = ["ecs", "create-service", "--cluster", self.cluster, "--service-name", name,
                "--task-definition", td, "--desired-count", str(desired)]
        if breaker is not None:
            args += ["--deployment-configuration", json.dumps({
                "deploymentCircuitBreaker": {"enable": True, "rollback": breaker},
                "maximumPercent": 200, "minimumHealthyPercent": 100})]
        for k, v in extra.items():
            args += [k, v]
        return aws(*args)["service"]

    def service(self, name):
        if polling():
            return api("ecs", "DescribeServices", {"cluster": self.cluster, "services": [name]})["services"][0]
        return aws("ecs", "describe-services", "--cluster", self.cluster, "--services", name)["services"][0]

    def tasks(self, service=None, desired="RUNNING"):
        if polling():
            body = {"cluster": self.cluster, "desiredStatus": desired}
            if service:
                body["serviceName"] = service
            arns = api("ecs", "ListTasks", body)["taskArns"]
            if not arns:
                return []
            return api("ecs", "DescribeTasks", {"cluster": self.cluster, "tasks": arns})["tasks"]
        args = ["ecs", "list-tasks", "--cluster", self.cluster, "--desired-status", desired]
        if service:
            args += ["--service-name", service]
        arns = aws(*args)["taskArns"]
        if not arns:
            return []
        return aws("ecs", "describe-tasks", "--cluster", self.cluster, "--tasks", *arns)["tasks"]

    def describe_task(self, arn):
        if polling():
            return api("ecs", "DescribeTasks", {"cluster": self.cluster, "tasks": [arn]})["tasks"][0]
        return aws("ecs", "describe-tasks", "--cluster", self.cluster, "--tasks", arn)["tasks"][0]

    def wait_completed(self, name, timeout=60):
        def done():
            s = self.service(name)
            d = s["deployments"]
            return s if len(d) == 1 and d[0]["rolloutState"] == "COMPLETED" and \
                s["runningCount"] == s["desiredCount"] else None
        return wait_for(done, timeout, what=f"service {name} to complete its deployment")


@pytest.fixture
def ecs():
    return Ecs()


def container(name, image, **kw):
    c = {"name": name, "image": image, "essential": True, "memory": 64}
    c.update(kw)
    return c


def env(**kv):
    return [{"name": k, "value": str(v)} for k, v in kv.items()]


def awslogs(group, prefix="tb", create=True):
    opts = {"awslogs-group": group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": prefix}
    if create:
        opts["awslogs-create-group"] = "true"
    return {"logDriver": "awslogs", "options": opts}
