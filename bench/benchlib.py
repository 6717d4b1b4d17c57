"""What the deploy benchmarks and the soak share: the test bed's control API, a command runner,
and a project of N one-container Fargate services on the test bed."""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGISTRY = os.environ["WHARF_TESTBED_REGISTRY"]
IMAGE = os.environ["BENCH_IMAGE"]
SUBNET = os.environ["BENCH_SUBNET"]

TD = """{
  "family": "%(family)s-%(svc)s",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256", "memory": "512",
  "containerDefinitions": [{
    "name": "main", "image": "%(image)s", "essential": true,
    "command": ["sh", "-c", "while true; do sleep 1; done"],
    "environment": [{"name": "TAG", "value": "%(tag)s"}]
  }]
}"""


def api(path, payload=None, method=None):
    """The test bed's control API: GET, or POST with a JSON payload, or `method`."""
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(f"{ENDPOINT}{path}", data=data, method=method or ("POST" if data else "GET"),
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def run(cmd, cwd=None, check=True):
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def project(app, cluster, services, family):
    """A wharf project `app` whose `services` run in `cluster`, task-definition families
    `<family>-<service>`; returns its folder."""
    d = tempfile.mkdtemp(prefix=f"{app}-{cluster}-")
    toml = f'''app = "{app}"
[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{ENDPOINT}"
registry = "{REGISTRY}"
cluster = "{cluster}"
[environments.local.network]
subnets = ["{SUBNET}"]
'''
    os.makedirs(f"{d}/ecs")
    for svc in services:
        toml += f'\n[services.{svc}]\ntask_definition = "ecs/{svc}.json"\ndesired_count = 1\n'
        with open(f"{d}/ecs/{svc}.json", "w") as f:
            f.write(TD % {"family": family, "svc": svc, "image": IMAGE, "tag": "{{ tag }}"})
    with open(f"{d}/wharf.toml", "w") as f:
        f.write(toml)
    return d
