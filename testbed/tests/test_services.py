"""ECS service deployments, judged with the AWS CLI."""
import subprocess

from testbed.tests.conftest import ENV, REGISTRY, aws, container, env, wait_for

SLEEP = ["sh", "-c", "echo started; sleep 600"]


def test_good_deployment_is_stable_with_steady_state_event(ecs, busybox_image):
    td = ecs.register("web", [container("app", busybox_image, command=SLEEP)])
    svc = ecs.create_service("web", td, desired=2)
    dep = svc["deployments"][0]
    assert dep["status"] == "PRIMARY" and dep["rolloutState"] == "IN_PROGRESS"
    assert dep["id"].startswith("ecs-svc/") and len(dep["id"].split("/")[1]) == 19
    ecs.wait_completed("web")
    # the judge: the AWS CLI waiter
    p = subprocess.run(["aws", "ecs", "wait", "services-stable", "--cluster", ecs.cluster, "--services", "web"],
                       env=ENV, capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr
    s = ecs.service("web")
    assert s["runningCount"] == 2 and s["pendingCount"] == 0
    d = s["deployments"][0]
    assert d["rolloutState"] == "COMPLETED"
    assert d["rolloutStateReason"] == f"ECS deployment {d['id']} completed."
    msgs = [e["message"] for e in s["events"]]
    assert msgs[0] == "(service web) has reached a steady state."
    assert any(m.startswith("(service web) has started 2 tasks: (task ") for m in msgs)
    assert all("id" in e and "createdAt" in e for e in s["events"])
    tasks = ecs.tasks("web")
    assert len(tasks) == 2
    for t in tasks:
        assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"
        assert t["group"] == "service:web" and t["startedBy"] == d["id"]
        assert t["taskDefinitionArn"] == td
        assert t["containers"][0]["name"] == "app" and t["containers"][0]["lastStatus"] == "RUNNING"
        assert "startedAt" in t and "createdAt" in t
    # the steady-state event is not repeated every tick
    msgs2 = [e["message"] for e in ecs.service("web")["events"]]
    assert msgs2.count("(service web) has reached a steady state.") == 1


def test_missing_image_trips_breaker_and_rolls_back(ecs, busybox_image):
    good = ecs.register("app", [container("app", busybox_image, command=SLEEP)])
    ecs.create_service("app", good, desired=1, breaker=True)
    first = ecs.wait_completed("app")["deployments"][0]["id"]
    bad = ecs.register("app", [container("app", f"{REGISTRY}/wharf-test/does-not-exist:nope", command=SLEEP)])
    upd = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "app", "--task-definition", bad)
    assert upd["service"]["deployments"][0]["taskDefinition"] == bad
    assert upd["service"]["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    assert upd["service"]["deployments"][1]["status"] == "ACTIVE"
    failed_id = upd["service"]["deployments"][0]["id"]

    s = wait_for(lambda: (lambda s: s if s["taskDefinition"] == good else None)(ecs.service("app")),
                 timeout=80, what="rollback")
    msgs = [e["message"] for e in s["events"]]
    assert f"(service app) (deployment {failed_id}) deployment failed: tasks failed to start." in msgs
    assert f"(service app) rolling back to deployment {first}." in msgs
    s = ecs.wait_completed("app")
    assert s["taskDefinition"] == good and s["deployments"][0]["taskDefinition"] == good
    stopped = [t for t in ecs.tasks("app", desired="STOPPED") if t["taskDefinitionArn"] == bad]
    assert len(stopped) >= 3
    for t in stopped:
        assert t["lastStatus"] == "STOPPED"
        assert t["stopCode"] == "TaskFailedToStart"
        assert t["stoppedReason"].startswith("CannotPullContainerError:")
        assert t["containers"][0]["reason"].startswith("CannotPullContainerError:")


def test_essential_exit_1_real_container_fails_and_rolls_back(ecs, busybox_image):
    good = ecs.register("x", [container("app", busybox_image, command=SLEEP)])
    ecs.create_service("x", good, desired=1, breaker=True)
    ecs.wait_completed("x")
    bad = ecs.register("x", [container("app", busybox_image, command=["sh", "-c", "echo dying; exit 1"])])
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "x", "--task-definition", bad)
    s = wait_for(lambda: (lambda s: s if s["taskDefinition"] == good else None)(ecs.service("x")),
                 timeout=90, what="rollback", on_timeout=lambda: ecs.service("x"))
    assert any("deployment failed: tasks failed to start." in e["message"] for e in s["events"])
    stopped = [t for t in ecs.tasks("x", desired="STOPPED") if t["taskDefinitionArn"] == bad]
    assert len(stopped) >= 3
    for t in stopped:
        assert t["stopCode"] == "EssentialContainerExited"
        assert t["stoppedReason"] == "Essential container in task exited"
        assert t["containers"][0]["exitCode"] == 1
    ecs.wait_completed("x")


def test_scripted_exit_1_retries_forever_without_breaker_and_fails_with_it(ecs):
    td = ecs.register("s", [container("app", "scripted/app:1", environment=env(TESTBED_EXIT_CODE=1))])
    ecs.create_service("plain", td, desired=1)
    ecs.create_service("breaker", td, desired=1, breaker=True)
    # with the breaker (and nothing COMPLETED to roll back to): FAILED, no more launches
    d = wait_for(lambda: (lambda d: d if d["rolloutState"] == "FAILED" else None)(
        ecs.service("breaker")["deployments"][0]), timeout=60, what="FAILED")
    assert d["failedTasks"] >= 3
    assert d["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    # without: ECS keeps retrying (with backoff), the deployment stays IN_PROGRESS
    def many_failures():
        d = ecs.service("plain")["deployments"][0]
        return d if d["failedTasks"] >= 4 else None
    d = wait_for(many_failures, timeout=60, what="failedTasks >= 4")
    assert d["rolloutState"] == "IN_PROGRESS"
    t = ecs.tasks("plain", desired="STOPPED")[0]
    assert t["containers"][0]["exitCode"] == 1
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["stoppedReason"] == "Essential container in task exited"


def test_force_new_deployment_replaces_every_task_and_scaling(ecs, busybox_image):
    td = ecs.register("f", [container("app", busybox_image, command=SLEEP)])
    ecs.create_service("f", td, desired=2)
    s = ecs.wait_completed("f")
    old_dep = s["deployments"][0]["id"]
    old_tasks = {t["taskArn"] for t in ecs.tasks("f")}
    assert len(old_tasks) == 2
    upd = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "f", "--force-new-deployment")
    deps = upd["service"]["deployments"]
    assert len(deps) == 2 and deps[0]["status"] == "PRIMARY" and deps[1]["id"] == old_dep
    assert deps[1]["status"] == "ACTIVE"
    s = ecs.wait_completed("f")
    new_dep = s["deployments"][0]["id"]
    assert new_dep != old_dep
    new_tasks = {t["taskArn"] for t in ecs.tasks("f")}
    assert len(new_tasks) == 2 and not (new_tasks & old_tasks)
    for arn in old_tasks:
        t = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(ecs.describe_task(arn)),
                     timeout=40, what="old task stopped")
        assert t["desiredStatus"] == "STOPPED"
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {new_dep})"
    msgs = [e["message"] for e in s["events"]]
    assert any(m.startswith("(service f) has stopped 1 running tasks: (task ") or
               m.startswith("(service f) has stopped 2 running tasks: (task ") for m in msgs)

    # scaling: only desiredCount changes -> no new deployment, tasks follow
    upd = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "f", "--desired-count", "3")
    assert [d["id"] for d in upd["service"]["deployments"]] == [new_dep]
    s = wait_for(lambda: (lambda s: s if s["runningCount"] == 3 else None)(ecs.service("f")), timeout=40,
                 what="scale up")
    assert [d["id"] for d in s["deployments"]] == [new_dep] and s["desiredCount"] == 3
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "f", "--desired-count", "1")
    s = wait_for(lambda: (lambda s: s if s["runningCount"] == 1 and s["pendingCount"] == 0 else None)(
        ecs.service("f")), timeout=40, what="scale down")
    assert [d["id"] for d in s["deployments"]] == [new_dep]
    assert len(ecs.tasks("f")) == 1
    wait_for(lambda: ecs.service("f")["events"][0]["message"] == "(service f) has reached a steady state.",
             timeout=20, what="steady state after scaling")


def test_failing_health_check_scripted_stops_tasks(ecs):
    hc = {"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1}
    td = ecs.register("h", [container("app", "scripted/app:1", healthCheck=hc,
                                      environment=env(TESTBED_HEALTH="unhealthy"))])
    ecs.create_service("h", td, desired=1)

    def stopped():
        ts = ecs.tasks("h", desired="STOPPED")
        return ts[0] if ts and ts[0]["lastStatus"] == "STOPPED" else None
    t = wait_for(stopped, timeout=40, what="unhealthy task stopped")
    assert t["stoppedReason"] == "Task failed container health checks"
    assert t["healthStatus"] == "UNHEALTHY" and t["containers"][0]["healthStatus"] == "UNHEALTHY"
    msgs = [e["message"] for e in ecs.service("h")["events"]]
    assert f"(service h) (task {t['taskArn'].split('/')[-1]}) failed container health checks." in msgs


def test_failing_health_check_real_container(ecs, busybox_image):
    hc = {"command": ["CMD-SHELL", "test -f /nonexistent"], "interval": 5, "timeout": 2, "retries": 1}
    ok = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}
    good = ecs.register("hr", [container("app", busybox_image, command=SLEEP, healthCheck=ok)])
    ecs.create_service("hr", good, desired=1)
    s = ecs.wait_completed("hr", timeout=80)
    assert ecs.tasks("hr")[0]["healthStatus"] == "HEALTHY"
    bad = ecs.register("hr", [container("app", busybox_image, command=SLEEP, healthCheck=hc)])
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "hr", "--task-definition", bad)

    def stopped():
        ts = [t for t in ecs.tasks("hr", desired="STOPPED") if t["taskDefinitionArn"] == bad]
        return ts[0] if ts and ts[0]["lastStatus"] == "STOPPED" else None
    t = wait_for(stopped, timeout=80, what="unhealthy real task stopped")
    assert t["stoppedReason"] == "Task failed container health checks"
    # the old, healthy task kept serving (minimumHealthyPercent 100)
    assert any(x["taskDefinitionArn"] == good for x in ecs.tasks("hr"))
    assert s["deployments"]
