"""Capacity providers with managed scaling (ECS cluster auto scaling): tasks that find no room
wait in PROVISIONING, the Auto Scaling group grows within its size and the step sizes, the new
instances join and take the tasks; at the group's maximum the tasks stop after the provisioning
timeout; without managed scaling they fail at once.  Judged with the AWS CLI."""
import base64
import json

from testbed.tests.conftest import aws, container, control, wait_for

USER_DATA = "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"


def _group(ecs, name, desired, max_size, min_size=0):
    ud = base64.b64encode(USER_DATA.format(cluster=ecs.cluster).encode()).decode()
    ami = aws("ec2", "describe-images")["Images"][0]["ImageId"]
    lt = aws("ec2", "create-launch-template", "--launch-template-name", f"lt-{name}", "--launch-template-data",
             json.dumps({"ImageId": ami, "InstanceType": "t3.medium", "UserData": ud}))["LaunchTemplate"]
    aws("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", name, "--launch-template",
        json.dumps({"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"}), "--min-size", str(min_size),
        "--max-size", str(max_size), "--desired-capacity", str(desired), "--availability-zones", "us-east-1a")
    return aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", name)[
        "AutoScalingGroups"][0]["AutoScalingGroupARN"]


def _provider(ecs, name, group_arn, managed=True, **scaling):
    ms = {"status": "ENABLED" if managed else "DISABLED", "targetCapacity": 100}
    ms.update(scaling)
    aws("ecs", "create-capacity-provider", "--name", name, "--auto-scaling-group-provider", json.dumps({
        "autoScalingGroupArn": group_arn, "managedScaling": ms,
        "managedTerminationProtection": "ENABLED" if managed else "DISABLED"}))
    aws("ecs", "put-cluster-capacity-providers", "--cluster", ecs.cluster, "--capacity-providers", name,
        "--default-capacity-provider-strategy", json.dumps([{"capacityProvider": name, "weight": 1}]))


def _desired(name):
    return aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", name)[
        "AutoScalingGroups"][0]


def _instances(ecs):
    return aws("ecs", "list-container-instances", "--cluster", ecs.cluster)["containerInstanceArns"]


def _big(ecs, memory=3000):
    # one task per t3.medium (4096 MiB)
    return ecs.register("big", [container("web", "scripted/web:1", memory=memory, cpu=256,
                                          environment=[{"name": "TESTBED_RUN_CONTAINERS", "value": "0"}])])


def _strategy(name):
    return json.dumps([{"capacityProvider": name, "weight": 1, "base": 0}])


def test_service_tasks_wait_in_provisioning_while_managed_scaling_grows_the_group(ecs):
    # the new instances boot for 4 s: long enough to see the tasks wait, even on a loaded machine
    control("/_testbed/config", {"instance_boot_seconds": 4.0})
    arn = _group(ecs, "ms-asg", desired=1, max_size=4)
    _provider(ecs, "ms-cp", arn)
    wait_for(lambda: len(_instances(ecs)) == 1, timeout=20, what="the first instance")
    svc = ecs.create_service("web", _big(ecs), desired=3, **{"--capacity-provider-strategy": _strategy("ms-cp")})
    assert svc["capacityProviderStrategy"] == [{"capacityProvider": "ms-cp", "weight": 1, "base": 0}]

    # two tasks find no room: they wait in PROVISIONING on no instance, and no placement failure is told
    def waiting():
        tasks = ecs.tasks("web")
        idle = [t for t in tasks if t["lastStatus"] == "PROVISIONING" and not t.get("containerInstanceArn")]
        return tasks if len(tasks) == 3 and len(idle) == 2 else None
    tasks = wait_for(waiting, timeout=10, what="two tasks waiting for capacity")
    assert all(t["capacityProviderName"] == "ms-cp" for t in tasks)
    # the group grows by what the waiting tasks need
    wait_for(lambda: _desired("ms-asg")["DesiredCapacity"] == 3, timeout=10, what="desired capacity 3")
    s = ecs.wait_completed("web", timeout=40)
    assert not [e for e in s["events"] if "unable to place" in e["message"]]
    tasks = ecs.tasks("web")
    assert len({t["containerInstanceArn"] for t in tasks}) == 3
    assert len(_instances(ecs)) == 3
    group = _desired("ms-asg")
    assert group["DesiredCapacity"] == 3 and len(group["Instances"]) == 3
    # managed termination protection: instances running tasks are protected from scale-in
    assert all(i["ProtectedFromScaleIn"] for i in group["Instances"])


def test_step_sizes_and_max_size_bound_each_scale_out(ecs):
    arn = _group(ecs, "step-asg", desired=0, max_size=3)
    _provider(ecs, "step-cp", arn, minimumScalingStepSize=2, maximumScalingStepSize=2)
    # from zero instances: one task needs one instance, the minimum step launches two
    run = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", _big(ecs),
              "--capacity-provider-strategy", _strategy("step-cp"))
    assert run["failures"] == [] and run["tasks"][0]["lastStatus"] == "PROVISIONING"
    wait_for(lambda: _desired("step-asg")["DesiredCapacity"] == 2, timeout=10, what="desired 2 (minimum step)")
    wait_for(lambda: ecs.describe_task(run["tasks"][0]["taskArn"])["lastStatus"] == "RUNNING", timeout=20,
             what="the task running")
    # four more tasks: one fits on the idle instance, three need instances, but the group stops at 3
    run = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", _big(ecs), "--count", "4",
              "--capacity-provider-strategy", _strategy("step-cp"))
    assert len(run["tasks"]) == 4 and run["failures"] == []
    wait_for(lambda: _desired("step-asg")["DesiredCapacity"] == 3, timeout=10, what="desired 3 (max size)")
    running = wait_for(lambda: (lambda n: n if n == 3 else None)(
        sum(1 for t in ecs.tasks() if t["lastStatus"] == "RUNNING")), timeout=20, what="three tasks running")
    assert running == 3
    assert _desired("step-asg")["DesiredCapacity"] == 3


def test_at_the_groups_maximum_waiting_tasks_stop_after_the_provisioning_timeout(ecs):
    control("/_testbed/config", {"capacity_provisioning_timeout_seconds": 2.0})
    arn = _group(ecs, "max-asg", desired=1, max_size=1)
    _provider(ecs, "max-cp", arn)
    wait_for(lambda: len(_instances(ecs)) == 1, timeout=20, what="the instance")
    ecs.create_service("web", _big(ecs), desired=2, breaker=False,
                       **{"--capacity-provider-strategy": _strategy("max-cp")})

    def stopped():
        done = [t for t in ecs.tasks("web", desired="STOPPED") if t["lastStatus"] == "STOPPED"]
        return done or None
    task = wait_for(stopped, timeout=20, what="a task stopped after waiting")[0]
    assert task["stopCode"] == "TaskFailedToStart"
    assert task["stoppedReason"] == "EMPTY CAPACITY PROVIDER"
    assert not task.get("containerInstanceArn")
    assert _desired("max-asg")["DesiredCapacity"] == 1
    # they count as failed tasks: the circuit breaker stops the deployment
    s = wait_for(lambda: (lambda s: s if s["deployments"][0]["rolloutState"] == "FAILED" else None)(
        ecs.service("web")), timeout=30, what="the circuit breaker")
    assert s["deployments"][0]["failedTasks"] >= 3


def test_without_managed_scaling_tasks_that_fit_nowhere_fail_at_once(ecs):
    arn = _group(ecs, "plain-asg", desired=1, max_size=4)
    _provider(ecs, "plain-cp", arn, managed=False)
    wait_for(lambda: len(_instances(ecs)) == 1, timeout=20, what="the instance")
    td = _big(ecs)
    run = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--count", "2",
              "--capacity-provider-strategy", _strategy("plain-cp"))
    assert len(run["tasks"]) == 1
    assert [f["reason"] for f in run["failures"]] == ["RESOURCE:MEMORY"]
    ecs.create_service("web", td, desired=1, **{"--capacity-provider-strategy": _strategy("plain-cp")})

    def told():
        return [e for e in ecs.service("web")["events"] if "unable to place a task" in e["message"]] or None
    ev = wait_for(told, timeout=10, what="the placement event")[0]["message"]
    assert "has insufficient memory available" in ev
    assert _desired("plain-asg")["DesiredCapacity"] == 1


def test_strategy_checks_and_the_clusters_default_strategy(ecs):
    arn = _group(ecs, "chk-asg", desired=0, max_size=2)
    _provider(ecs, "chk-cp", arn)
    td = _big(ecs, memory=256)
    both = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--launch-type", "EC2",
               "--capacity-provider-strategy", _strategy("chk-cp"), check=False)
    assert both.returncode != 0 and "Specifying both a launch type and capacity provider strategy" in both.stderr
    other = aws("ecs", "create-service", "--cluster", ecs.cluster, "--service-name", "x", "--task-definition", td,
                "--desired-count", "1", "--capacity-provider-strategy", _strategy("nope"), check=False)
    assert other.returncode != 0 and "not associated with the cluster" in other.stderr
    # neither a launch type nor a strategy: the cluster's default strategy, scaled from zero
    ecs.create_service("web", td, desired=1)
    ecs.wait_completed("web", timeout=30)
    assert ecs.tasks("web")[0]["capacityProviderName"] == "chk-cp"
    assert _desired("chk-asg")["DesiredCapacity"] == 1
