#!/usr/bin/env python3
"""Detection latency of blue/green outcomes (issue 16): how long after the test bed finished a
service deployment (its `finishedAt`) wharf printed the outcome.

  bench/strategies.sh [REPS]     # sets up the environment, then runs this script

For each outcome (a blue/green deploy that succeeds; a Lambda hook answering FAILED at
POST_TEST_TRAFFIC_SHIFT; green's tasks crashing until the circuit breaker trips), REPS deploys of a
new revision. wharf's stderr is read line by line as it comes, each line stamped on arrival; the
latency is the arrival of `service deployment SUCCESSFUL` / `ROLLBACK_SUCCESSFUL` minus the
deployment's `finishedAt` from DescribeServiceDeployments (the test bed and wharf share a clock).
Minutes last a second (`strategy_minute_seconds`). Prints a Markdown report on stdout.
"""
import datetime
import json
import os
import statistics
import subprocess
import tempfile
import time

from benchlib import ENDPOINT, IMAGE, REGISTRY, SUBNET, api, run

WHARF = os.environ["WHARF_BIN"]
AWS = os.environ.get("AWS_BIN", "aws")
REPS = int(os.environ.get("BENCH_REPS", "3"))
ROLE = "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers"
HOOK_ROLE = "arn:aws:iam::123456789012:role/ecs-lambda-invoke"

TD = """{
  "family": "{{ app }}-web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256", "memory": "512",
  "containerDefinitions": [{
    "name": "main", "image": "%(image)s", "essential": true,
    "command": {%% if "crash" in tag %%}["sh", "-c", "exit 3"]{%% else %%}["sh", "-c", "while true; do sleep 1; done"]{%% endif %%},
    "portMappings": [{"containerPort": 8080}],
    "environment": [{"name": "TAG", "value": "{{ tag }}"}]
  }]
}"""


def aws(*args):
    return json.loads(run([AWS, *args, "--output", "json"]).stdout or "null")


def alb(n):
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"10.30.{i}.0/24",
                   "--availability-zone", f"us-east-1{z}")["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    lb = aws("elbv2", "create-load-balancer", "--name", f"bench-{n}-{os.getpid()}", "--subnets",
             *subnets)["LoadBalancers"][0]["LoadBalancerArn"]
    tgs = [aws("elbv2", "create-target-group", "--name", f"b{n}{c}-{os.getpid()}", "--protocol", "HTTP", "--port", "8080",
               "--vpc-id", vpc, "--target-type", "ip")["TargetGroups"][0]["TargetGroupArn"] for c in ("b", "g")]
    fwd = json.dumps([{"Type": "forward", "TargetGroupArn": tgs[0]}])
    cond = json.dumps([{"Field": "path-pattern", "Values": ["/*"]}])
    rules = []
    for port in ("80", "8080"):
        listener = aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", port,
                       "--default-actions", fwd)["Listeners"][0]["ListenerArn"]
        rules.append(aws("elbv2", "create-rule", "--listener-arn", listener, "--priority", "1", "--conditions", cond,
                         "--actions", fwd)["Rules"][0]["RuleArn"])
    return {"blue": tgs[0], "green": tgs[1], "prod": rules[0], "test": rules[1]}


def project(n, deployment):
    e = alb(n)
    app, cluster = f"bench-bg-{n}-{os.getpid()}", f"bench-bg-{n}-{os.getpid()}"
    run([AWS, "ecs", "create-cluster", "--cluster-name", cluster])
    d = tempfile.mkdtemp(prefix=f"{app}-")
    os.makedirs(f"{d}/ecs")
    with open(f"{d}/ecs/web.json", "w") as f:
        f.write(TD % {"image": IMAGE})
    with open(f"{d}/wharf.toml", "w") as f:
        f.write(f'''app = "{app}"
[environments.local]
region = "us-east-1"
account = "123456789012"
endpoint_url = "{ENDPOINT}"
registry = "{REGISTRY}"
cluster = "{cluster}"
[environments.local.network]
subnets = ["{SUBNET}"]

[services.web]
task_definition = "ecs/web.json"
desired_count = 2

[[services.web.load_balancers]]
target_group_arn = "{e['blue']}"
container_name = "main"
container_port = 8080
alternate_target_group_arn = "{e['green']}"
production_listener_rule = "{e['prod']}"
test_listener_rule = "{e['test']}"
role_arn = "{ROLE}"

[services.web.deployment]
{deployment}
''')
    return d, cluster


def newest_finished_at(cluster):
    briefs = aws("ecs", "list-service-deployments", "--cluster", cluster, "--service", "web")["serviceDeployments"]
    briefs.sort(key=lambda b: b["createdAt"], reverse=True)
    sd = aws("ecs", "describe-service-deployments", "--service-deployment-arns",
             briefs[0]["serviceDeploymentArn"])["serviceDeployments"][0]
    at = sd["finishedAt"]
    if isinstance(at, str):  # the AWS CLI prints ISO 8601 or epoch seconds, as configured
        at = datetime.datetime.fromisoformat(at).timestamp()
    return sd["status"], float(at)


def deploy_timed(d, tag, marker):
    """Runs the deploy; returns (exit code, when the line with `marker` arrived, when wharf exited)."""
    p = subprocess.Popen([WHARF, "deploy", "--env", "local", "--tag", tag, "--timeout", "2m"], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, bufsize=1)
    seen = None
    for line in p.stderr:
        if seen is None and marker in line:
            seen = time.time()
    code = p.wait()
    return code, seen, time.time()


def main():
    api("/_testbed/config", {"strategy_minute_seconds": 1.0})
    function = f"arn:aws:lambda:us-east-1:123456789012:function:bench_check_{os.getpid()}"
    api("/_testbed/hooks", {"hookTargetArn": function, "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
                            "answers": [{"hookStatus": "SUCCEEDED"}, {"hookStatus": "FAILED"}]})
    cases = [
        ("blue/green succeeds", 'strategy = "blue_green"\nbake_time = 0\n', "v", 0,
         "service deployment SUCCESSFUL", "SUCCESSFUL"),
        ("hook FAILED at POST_TEST_TRAFFIC_SHIFT", 'strategy = "blue_green"\nbake_time = 0\n\n'
         f'[[services.web.deployment.hooks]]\nlambda = "{function}"\nrole_arn = "{HOOK_ROLE}"\n'
         'stages = ["POST_TEST_TRAFFIC_SHIFT"]\n', "v", 1, "service deployment ROLLBACK_SUCCESSFUL",
         "ROLLBACK_SUCCESSFUL"),
        ("circuit breaker (green crashes)", 'strategy = "blue_green"\nbake_time = 0\n', "crash", 1,
         "service deployment ROLLBACK_SUCCESSFUL", "ROLLBACK_SUCCESSFUL"),
    ]
    print("| outcome | deploys | detection latency: median | max | wharf exit after finishedAt: median |")
    print("|---|---|---|---|---|")
    for n, (name, deployment, prefix, want_code, marker, want_status) in enumerate(cases):
        d, cluster = project(n, deployment)
        code, _, _ = deploy_timed(d, "v0", "service deployment SUCCESSFUL")
        if code != 0:
            raise SystemExit(f"{name}: the first deploy failed ({code})")
        latencies, exits = [], []
        for rep in range(REPS):
            code, seen, ended = deploy_timed(d, f"{prefix}{rep + 1}", marker)
            status, finished = newest_finished_at(cluster)
            if code != want_code or status != want_status or seen is None:
                raise SystemExit(f"{name}: exit {code}, status {status}, marker seen: {seen is not None}")
            latencies.append(seen - finished)
            exits.append(ended - finished)
        print(f"| {name} | {REPS} | {statistics.median(latencies):.2f} s | {max(latencies):.2f} s | "
              f"{statistics.median(exits):.2f} s |")


if __name__ == "__main__":
    main()
