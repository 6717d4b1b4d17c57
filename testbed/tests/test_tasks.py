"""RunTask / StopTask, CloudWatch Logs, secrets."""
import json

from testbed.tests.conftest import aws, awslogs, container, env, wait_for


def _network():
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = aws("ec2", "create-security-group", "--group-name", "tb", "--description", "tb",
             "--vpc-id", vpc)["GroupId"]
    return json.dumps({"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg],
                                               "assignPublicIp": "DISABLED"}})


def _log_messages(group, stream):
    return [e["message"] for e in aws("logs", "get-log-events", "--log-group-name", group,
                                      "--log-stream-name", stream)["events"]]


def _wait_stopped(ecs, arn, timeout=60):
    return wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(ecs.describe_task(arn)),
                    timeout=timeout, what="task STOPPED")


def test_run_task_fargate_real_container_exit_3_with_logs(ecs, busybox_image):
    td = ecs.register("job", [container("main", busybox_image,
                                        command=["sh", "-c", "echo line-one; echo line-two $GREETING; exit 3"],
                                        environment=env(GREETING="hi"),
                                        logConfiguration=awslogs("/ecs/job", prefix="job"))],
                      network_mode="awsvpc")
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--launch-type", "FARGATE",
              "--network-configuration", _network())
    t = out["tasks"][0]
    assert t["lastStatus"] == "PROVISIONING" and t["launchType"] == "FARGATE"
    assert t["attachments"][0]["type"] == "ElasticNetworkInterface"
    t = _wait_stopped(ecs, t["taskArn"])
    assert t["containers"][0]["exitCode"] == 3
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"
    task_id = t["taskArn"].split("/")[-1]
    msgs = wait_for(lambda: _log_messages("/ecs/job", f"job/main/{task_id}") or None, timeout=20,
                    what="log events")
    assert msgs == ["line-one", "line-two hi"]


def test_run_task_ec2_scripted_exit_3_with_output_and_overrides(ecs):
    td = ecs.register("sj", [container("main", "scripted/job:1",
                                       environment=env(TESTBED_EXIT_CODE=0, TESTBED_OUTPUT="hello $WHO"),
                                       logConfiguration=awslogs("/ecs/sj", prefix="p"))])
    overrides = {"containerOverrides": [{"name": "main", "environment": [
        {"name": "TESTBED_EXIT_CODE", "value": "3"}, {"name": "WHO", "value": "world"},
        {"name": "TESTBED_RUN_SECONDS", "value": "0.5"}]}]}
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--launch-type", "EC2",
              "--overrides", json.dumps(overrides))
    arn = out["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    assert t["containers"][0]["exitCode"] == 3 and t["launchType"] == "EC2"
    assert _log_messages("/ecs/sj", f"p/main/{arn.split('/')[-1]}") == ["hello world"]
    assert arn in aws("ecs", "list-tasks", "--cluster", ecs.cluster, "--desired-status", "STOPPED")["taskArns"]
    assert arn not in aws("ecs", "list-tasks", "--cluster", ecs.cluster)["taskArns"]


def test_run_task_real_command_override_and_stop_task(ecs, busybox_image):
    td = ecs.register("lj", [container("main", busybox_image, command=["sh", "-c", "exit 9"],
                                       logConfiguration=awslogs("/ecs/lj"))])
    overrides = {"containerOverrides": [{"name": "main", "command": ["sh", "-c", "echo override; sleep 600"]}]}
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td,
              "--overrides", json.dumps(overrides))["tasks"][0]["taskArn"]
    wait_for(lambda: ecs.describe_task(arn)["lastStatus"] == "RUNNING", timeout=60, what="RUNNING")
    wait_for(lambda: _log_messages("/ecs/lj", f"tb/main/{arn.split('/')[-1]}") == ["override"], timeout=20,
             what="override output")
    aws("ecs", "stop-task", "--cluster", ecs.cluster, "--task", arn, "--reason", "enough")
    t = _wait_stopped(ecs, arn)
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "enough"
    assert "stoppingAt" in t and "stoppedAt" in t


def test_secrets_from_ssm_are_injected(ecs):
    p = aws("ssm", "put-parameter", "--name", "/app/token", "--value", "s3cr3t", "--type", "SecureString")
    assert p
    arn = "arn:aws:ssm:us-east-1:123456789012:parameter/app/token"
    td = ecs.register("sec", [container("main", "scripted/x:1",
                                        environment=env(TESTBED_EXIT_CODE=0, TESTBED_OUTPUT="token=$TOKEN"),
                                        secrets=[{"name": "TOKEN", "valueFrom": arn}],
                                        logConfiguration=awslogs("/ecs/sec"))])
    arn_t = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    _wait_stopped(ecs, arn_t)
    assert _log_messages("/ecs/sec", f"tb/main/{arn_t.split('/')[-1]}") == ["token=s3cr3t"]


def test_missing_log_group_fails_task(ecs):
    td = ecs.register("nolog", [container("main", "scripted/x:1", environment=env(TESTBED_EXIT_CODE=0),
                                          logConfiguration=awslogs("/ecs/missing", create=False))])
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["stoppedReason"].startswith("ResourceInitializationError:")


def _volumes_of(arn):
    """The engine volumes the test bed made for this task (named after its id)."""
    import subprocess
    from testbed.tests.conftest import ENGINE
    out = subprocess.run([ENGINE, "volume", "ls", "-q"], capture_output=True, text=True).stdout.split()
    return [v for v in out if v.startswith(f"wharf-tb-{arn.split('/')[-1][:12]}-")]


def test_init_container_fills_a_task_volume_before_the_essential_container_starts(ecs, busybox_image):
    # The init-container pattern of docs/operate.md: a non-essential container writes into a task
    # volume and exits 0; the essential one starts only then (dependsOn SUCCESS), reads it through
    # a read-only mount, and cannot write there.
    td = ecs.register("init", [
        container("main", busybox_image,
                  command=["sh", "-c", "cat /conf/app.conf; touch /conf/x 2>/dev/null || echo read-only; exit 0"],
                  mountPoints=[{"sourceVolume": "conf", "containerPath": "/conf", "readOnly": True}],
                  dependsOn=[{"containerName": "config", "condition": "SUCCESS"}],
                  logConfiguration=awslogs("/ecs/init", prefix="init")),
        container("config", busybox_image, essential=False,
                  command=["sh", "-c", "sleep 1; echo listen=8080 > /sync/app.conf; echo copied"],
                  mountPoints=[{"sourceVolume": "conf", "containerPath": "/sync"}],
                  logConfiguration=awslogs("/ecs/init", prefix="init")),
    ], volumes=[{"name": "conf"}])
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
    assert codes == {"main": 0, "config": 0}, t
    assert t["stopCode"] == "EssentialContainerExited"
    task_id = arn.split("/")[-1]
    assert _log_messages("/ecs/init", f"init/config/{task_id}") == ["copied"]
    msgs = wait_for(lambda: _log_messages("/ecs/init", f"init/main/{task_id}") or None, timeout=20,
                    what="main's output")
    assert msgs == ["listen=8080", "read-only"]
    wait_for(lambda: not _volumes_of(arn), timeout=30, what="the task volume to be removed")


def test_a_failed_init_container_stops_the_task_before_its_dependent_starts(ecs, busybox_image):
    td = ecs.register("initfail", [
        container("main", busybox_image, command=["sh", "-c", "echo main started; sleep 600"],
                  dependsOn=[{"containerName": "config", "condition": "SUCCESS"}],
                  logConfiguration=awslogs("/ecs/initfail")),
        container("config", busybox_image, essential=False,
                  command=["sh", "-c", "echo no such bucket >&2; exit 1"],
                  logConfiguration=awslogs("/ecs/initfail")),
    ])
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "dependency config of container main exited with code 1" in t["stoppedReason"], t
    codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
    assert codes == {"main": None, "config": 1}, t
    reasons = {c["name"]: c.get("reason") for c in t["containers"]}
    assert reasons == {"main": t["stoppedReason"], "config": None}, t
    task_id = arn.split("/")[-1]
    assert _log_messages("/ecs/initfail", f"tb/config/{task_id}") == ["no such bucket"]
    assert _log_messages("/ecs/initfail", f"tb/main/{task_id}") == []


def test_a_healthy_dependency_starts_its_dependent_once_it_passes_its_check(ecs, busybox_image):
    td = ecs.register("healthy", [
        container("main", busybox_image, command=["sh", "-c", "echo main started; exit 0"],
                  dependsOn=[{"containerName": "db", "condition": "HEALTHY"}],
                  logConfiguration=awslogs("/ecs/healthy")),
        container("db", busybox_image, essential=False,
                  command=["sh", "-c", "sleep 1; touch /ok; echo db ready; sleep 600"],
                  healthCheck={"command": ["CMD-SHELL", "test -f /ok"], "interval": 5, "retries": 3},
                  logConfiguration=awslogs("/ecs/healthy")),
    ])
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    assert t["stopCode"] == "EssentialContainerExited", t["stoppedReason"]
    assert {c["name"]: c.get("exitCode") for c in t["containers"]}["main"] == 0, t
    task_id = arn.split("/")[-1]

    def first_event(name):
        events = aws("logs", "get-log-events", "--log-group-name", "/ecs/healthy",
                     "--log-stream-name", f"tb/{name}/{task_id}")["events"]
        return events[0] if events else None
    db, main = first_event("db"), first_event("main")
    assert db["message"] == "db ready" and main["message"] == "main started"
    assert main["timestamp"] >= db["timestamp"], (db, main)

    # HEALTHY on a container without a health check can never be met.
    td = ecs.register("nocheck", [
        container("main", busybox_image, command=["sh", "-c", "exit 0"],
                  dependsOn=[{"containerName": "db", "condition": "HEALTHY"}]),
        container("db", busybox_image, essential=False, command=["sh", "-c", "sleep 600"]),
    ])
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td)["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "dependency db of container main has no health check" in t["stoppedReason"], t


def test_the_containers_of_an_awsvpc_task_share_localhost(ecs, busybox_image):
    # As on ECS: one network namespace per awsvpc task, so a sidecar is reached on localhost.
    td = ecs.register("shared", [
        container("client", busybox_image,
                  command=["sh", "-c", "for i in $(seq 50); do wget -qO- http://localhost:8080/ 2>/dev/null && exit 0; "
                                       "sleep 0.2; done; exit 1"],
                  logConfiguration=awslogs("/ecs/shared")),
        container("server", busybox_image, essential=False,
                  command=["sh", "-c", "mkdir -p /www; echo served on localhost > /www/index.html; "
                                       "exec httpd -f -p 8080 -h /www"]),
    ], network_mode="awsvpc")
    arn = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--launch-type", "FARGATE",
              "--network-configuration", _network())["tasks"][0]["taskArn"]
    t = _wait_stopped(ecs, arn)
    codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
    assert codes["client"] == 0, t
    task_id = arn.split("/")[-1]
    assert _log_messages("/ecs/shared", f"tb/client/{task_id}") == ["served on localhost"]
