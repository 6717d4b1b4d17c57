"""EC2 container instances: registration (API and the agent of an Auto Scaling group's instances),
resources, the cluster query language, placement constraints and strategies, bridge networking
with dynamic host ports and target registration, placement failures, DRAINING, termination."""
import base64
import json
import time

import pytest

from testbed.tests.conftest import aws, container, control, wait_for


def _ami():
    return aws("ec2", "describe-images")["Images"][0]["ImageId"]


def _run_instance(instance_type="t3.small", user_data=None):
    args = ["ec2", "run-instances", "--image-id", _ami(), "--instance-type", instance_type, "--count", "1"]
    if user_data:
        args += ["--user-data", user_data]
    return aws(*args)["Instances"][0]["InstanceId"]


def _register(ecs, cpu=2048, memory=2000, attributes=None, instance_type="t3.small"):
    iid = _run_instance(instance_type)
    args = ["ecs", "register-container-instance", "--cluster", ecs.cluster,
            "--instance-identity-document", json.dumps({"instanceId": iid}),
            "--total-resources", json.dumps([
                {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]}])]
    if attributes:
        args += ["--attributes", json.dumps([{"name": k, "value": v} for k, v in attributes.items()])]
    return aws(*args)["containerInstance"]


def _describe(ecs, arns):
    return aws("ecs", "describe-container-instances", "--cluster", ecs.cluster,
               "--container-instances", *arns)["containerInstances"]


def _resource(ci, kind, name):
    r = next(r for r in ci[kind] if r["name"] == name)
    return r.get("stringSetValue") if r["type"] == "STRINGSET" else r["integerValue"]


def _list(ecs, *extra):
    return aws("ecs", "list-container-instances", "--cluster", ecs.cluster, *extra)["containerInstanceArns"]


def _web(ecs, family="web", memory=256, host_port=0, network_mode="bridge", **kw):
    mapping = {"containerPort": 8080, "protocol": "tcp"}
    if host_port is not None:
        mapping["hostPort"] = host_port
    return ecs.register(family, [container("web", "scripted/web:1", memory=memory, cpu=256,
                                           portMappings=[mapping],
                                           environment=[{"name": "TESTBED_RUN_CONTAINERS", "value": "0"}])],
                        network_mode=network_mode, **kw)


def test_register_describe_list_filter_and_drain(ecs):
    a = _register(ecs, attributes={"color": "blue"})
    b = _register(ecs, memory=4000, instance_type="t3.medium")
    assert a["status"] == "ACTIVE" and a["agentConnected"] is True and a["ec2InstanceId"].startswith("i-")
    assert _resource(a, "registeredResources", "MEMORY") == 2000
    assert _resource(a, "remainingResources", "CPU") == 2048
    attrs = {x["name"]: x.get("value") for x in a["attributes"]}
    assert attrs["color"] == "blue" and attrs["ecs.instance-type"] == "t3.small"
    assert attrs["ecs.availability-zone"].startswith("us-east-1") and attrs["ecs.ami-id"].startswith("ami-")

    arn_a, arn_b = a["containerInstanceArn"], b["containerInstanceArn"]
    assert sorted(_list(ecs)) == sorted([arn_a, arn_b])
    assert _list(ecs, "--filter", "attribute:ecs.instance-type == t3.medium") == [arn_b]
    assert _list(ecs, "--filter", "attribute:color exists") == [arn_a]
    assert _list(ecs, "--filter", "attribute:ecs.instance-type in [t3.small, t3.large] and not attribute:color !exists") == [arn_a]
    assert sorted(_list(ecs, "--filter", "attribute:ecs.instance-type =~ t3.* or attribute:color == red")) == \
        sorted([arn_a, arn_b])
    assert _list(ecs, "--filter", f"ec2InstanceId == {b['ec2InstanceId']}") == [arn_b]
    bad = aws("ecs", "list-container-instances", "--cluster", ecs.cluster, "--filter", "attribute:color ==",
              check=False)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr

    out = aws("ecs", "update-container-instances-state", "--cluster", ecs.cluster, "--container-instances", arn_a,
              "--status", "DRAINING")
    assert out["containerInstances"][0]["status"] == "DRAINING"
    assert _list(ecs, "--status", "DRAINING") == [arn_a]
    assert _list(ecs, "--status", "ACTIVE") == [arn_b]

    aws("ecs", "deregister-container-instance", "--cluster", ecs.cluster, "--container-instance", arn_a)
    assert _list(ecs) == [arn_b]
    cluster = aws("ecs", "describe-clusters", "--clusters", ecs.cluster)["clusters"][0]
    assert cluster["registeredContainerInstancesCount"] == 1


def test_bridge_dynamic_ports_spread_over_instances_and_targets_registered(ecs):
    a, b = _register(ecs), _register(ecs)
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.8.0.0/16")["Vpc"]["VpcId"]
    tg = aws("elbv2", "create-target-group", "--name", "tb-web", "--protocol", "HTTP", "--port", "80",
             "--vpc-id", vpc, "--target-type", "instance")["TargetGroups"][0]["TargetGroupArn"]
    td = _web(ecs)
    ecs.create_service("web", td, desired=2, **{
        "--launch-type": "EC2",
        "--load-balancers": json.dumps([{"targetGroupArn": tg, "containerName": "web", "containerPort": 8080}])})
    ecs.wait_completed("web")
    tasks = ecs.tasks("web")
    assert len(tasks) == 2
    assert {t["containerInstanceArn"] for t in tasks} == {a["containerInstanceArn"], b["containerInstanceArn"]}
    ports = []
    for t in tasks:
        (binding,) = t["containers"][0]["networkBindings"]
        assert binding["containerPort"] == 8080 and 32768 <= binding["hostPort"] <= 65535
        ports.append(binding["hostPort"])
    for ci in _describe(ecs, [a["containerInstanceArn"], b["containerInstanceArn"]]):
        assert ci["runningTasksCount"] == 1
        assert _resource(ci, "remainingResources", "MEMORY") == 2000 - 256
        assert _resource(ci, "remainingResources", "CPU") == 2048 - 256
    by_ci = {ci["containerInstanceArn"]: ci["ec2InstanceId"] for ci in (a, b)}
    want = sorted((by_ci[t["containerInstanceArn"]], t["containers"][0]["networkBindings"][0]["hostPort"])
                  for t in tasks)
    health = wait_for(lambda: (lambda h: h if len(h) == 2 else None)(
        aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]),
        timeout=20, what="two targets")
    assert sorted((h["Target"]["Id"], h["Target"]["Port"]) for h in health) == want

    # scale in: the stopped task's target is deregistered
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--desired-count", "1")
    wait_for(lambda: len(aws("elbv2", "describe-target-health", "--target-group-arn", tg)
                         ["TargetHealthDescriptions"]) == 1, timeout=20, what="one target left")


def test_run_task_failures_name_the_missing_resource(ecs):
    a = _register(ecs, memory=1000, attributes={"tier": "web"})
    big = _web(ecs, "big", memory=3000)
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", big, "--launch-type", "EC2")
    assert out["tasks"] == []
    assert out["failures"] == [{"arn": a["containerInstanceArn"], "reason": "RESOURCE:MEMORY"}]

    cpu = ecs.register("cpu", [container("c", "scripted/c:1", memory=64, cpu=4096,
                                         environment=[{"name": "TESTBED_RUN_CONTAINERS", "value": "0"}])])
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", cpu)
    assert out["failures"][0]["reason"] == "RESOURCE:CPU"

    static = _web(ecs, "static", memory=64, host_port=8080)
    first = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", static)
    assert len(first["tasks"]) == 1 and first["failures"] == []
    assert first["tasks"][0]["containers"][0]["networkBindings"][0]["hostPort"] == 8080
    second = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", static)
    assert second["failures"] == [{"arn": a["containerInstanceArn"], "reason": "RESOURCE:PORTS"}]
    ci = _describe(ecs, [a["containerInstanceArn"]])[0]
    assert "8080" in _resource(ci, "remainingResources", "PORTS")

    small = _web(ecs, "small", memory=64)
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", small, "--placement-constraints",
              json.dumps([{"type": "memberOf", "expression": "attribute:tier == db"}]))
    assert out["failures"][0]["reason"] == "MemberOf placement constraint unsatisfied."
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", small, "--placement-constraints",
              json.dumps([{"type": "memberOf", "expression": "attribute:tier == web"}]))
    assert len(out["tasks"]) == 1


def test_run_task_strategies_and_distinct_instance(ecs):
    a, b = _register(ecs, memory=2000), _register(ecs, memory=3000)
    td = _web(ecs, "w", memory=400)
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--count", "3",
              "--placement-strategy", json.dumps([{"type": "binpack", "field": "memory"}]))
    assert {t["containerInstanceArn"] for t in out["tasks"]} == {a["containerInstanceArn"]}
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--count", "3",
              "--group", "g1", "--placement-constraints", json.dumps([{"type": "distinctInstance"}]))
    assert len(out["tasks"]) == 2
    assert len({t["containerInstanceArn"] for t in out["tasks"]}) == 2
    assert out["failures"][0]["reason"] == "DistinctInstance placement constraint unsatisfied."
    out = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", td, "--count", "2",
              "--placement-strategy", json.dumps([{"type": "spread", "field": "instanceId"}]), "--group", "g2")
    assert len({t["containerInstanceArn"] for t in out["tasks"]}) == 2


def test_service_that_fits_nowhere_says_why_in_its_events(ecs):
    a = _register(ecs, memory=1000)
    ecs.create_service("huge", _web(ecs, "huge", memory=3000), desired=1, **{"--launch-type": "EC2"})
    ci_id = a["containerInstanceArn"].split("/")[-1]

    def event():
        for e in ecs.service("huge")["events"]:
            if "unable to place" in e["message"]:
                return e["message"]
        return None
    msg = wait_for(event, timeout=20, what="placement event")
    assert msg == ("(service huge) was unable to place a task because no container instance met all of its "
                   f"requirements. The closest matching (container-instance {ci_id}) has insufficient memory "
                   "available. For more information, see the Troubleshooting section of the Amazon ECS "
                   "Developer Guide.")
    assert ecs.service("huge")["runningCount"] == 0 and ecs.tasks("huge") == []


def test_scaling_only_the_count_starts_no_deployment_and_a_taken_port_says_so(ecs):
    """Host network mode: port 8080 on each of two instances; a third task (UpdateService with
    only desiredCount) has nowhere to go. ECS starts no deployment for a count change: the PRIMARY
    deployment (same id) shows the new desiredCount at once, and the event names the port."""
    a = _register(ecs)
    _register(ecs)
    td = _web(ecs, "hostweb", host_port=8080, network_mode="host")
    ecs.create_service("hostweb", td, desired=2, **{"--launch-type": "EC2"})
    wait_for(lambda: ecs.service("hostweb")["runningCount"] == 2, timeout=20, what="two tasks running")
    before = ecs.service("hostweb")["deployments"]
    answer = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "hostweb",
                 "--desired-count", "3")["service"]
    assert [d["id"] for d in answer["deployments"]] == [d["id"] for d in before]
    assert answer["deployments"][0]["desiredCount"] == 3
    assert ecs.service("hostweb")["deployments"][0]["desiredCount"] == 3

    def event():
        for e in ecs.service("hostweb")["events"]:
            if "unable to place" in e["message"]:
                return e["message"]
        return None
    msg = wait_for(event, timeout=20, what="placement event")
    assert "is already using a port required by your task" in msg, msg
    assert ecs.service("hostweb")["runningCount"] == 2
    assert a["containerInstanceArn"]


def test_draining_moves_service_tasks_within_minimum_healthy_percent(ecs):
    a, b, c = _register(ecs), _register(ecs), _register(ecs)
    td = _web(ecs)
    ecs.create_service("web", td, desired=2, **{
        "--launch-type": "EC2",
        "--deployment-configuration": json.dumps({"minimumHealthyPercent": 50, "maximumPercent": 100}),
        "--placement-constraints": json.dumps([{"type": "distinctInstance"}])})
    ecs.wait_completed("web")
    svc = ecs.service("web")
    assert svc["placementConstraints"] == [{"type": "distinctInstance"}]
    used = {t["containerInstanceArn"] for t in ecs.tasks("web")}
    standalone = aws("ecs", "run-task", "--cluster", ecs.cluster, "--task-definition", _web(ecs, "job", memory=64),
                     "--placement-constraints", json.dumps([{"type": "memberOf",
                                                            "expression": f"ec2InstanceId == {a['ec2InstanceId']}"}])
                     )["tasks"][0]["taskArn"]
    drain = a["containerInstanceArn"] if a["containerInstanceArn"] in used else sorted(used)[0]
    aws("ecs", "update-container-instances-state", "--cluster", ecs.cluster, "--container-instances", drain,
        "--status", "DRAINING")
    deadline = time.time() + 40
    low = 2
    while time.time() < deadline:
        s = ecs.service("web")
        running = [t for t in ecs.tasks("web") if t["lastStatus"] == "RUNNING"]
        low = min(low, len(running))
        on = {t["containerInstanceArn"] for t in ecs.tasks("web")}
        if drain not in on and len(running) == 2 and s["runningCount"] == 2:
            break
        time.sleep(0.3)
    assert low >= 1, "fell below minimumHealthyPercent"
    on = {t["containerInstanceArn"] for t in ecs.tasks("web")}
    assert drain not in on and len(on) == 2
    ci = _describe(ecs, [drain])[0]
    assert ci["status"] == "DRAINING"
    assert ci["runningTasksCount"] == (1 if drain == a["containerInstanceArn"] else 0)
    if drain == a["containerInstanceArn"]:
        assert ecs.describe_task(standalone)["lastStatus"] == "RUNNING"  # standalone tasks stay


USER_DATA = "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n" \
            "echo 'ECS_INSTANCE_ATTRIBUTES={{\"pool\": \"blue\"}}' >> /etc/ecs/ecs.config\n"


def test_auto_scaling_instances_join_the_cluster_and_a_terminated_one_is_replaced(ecs):
    control("/_testbed/config", {"instance_boot_seconds": 0.5})
    ud = base64.b64encode(USER_DATA.format(cluster=ecs.cluster).encode()).decode()
    ami = _ami()
    lt = aws("ec2", "create-launch-template", "--launch-template-name", "tb-ecs", "--launch-template-data",
             json.dumps({"ImageId": ami, "InstanceType": "t3.medium", "UserData": ud}))["LaunchTemplate"]
    aws("autoscaling", "create-auto-scaling-group", "--auto-scaling-group-name", "tb-asg", "--launch-template",
        json.dumps({"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "1"}), "--min-size", "0",
        "--max-size", "4", "--desired-capacity", "2", "--availability-zones", "us-east-1a")
    arns = wait_for(lambda: (lambda x: x if len(x) == 2 else None)(_list(ecs)), timeout=20, what="2 instances")
    cis = _describe(ecs, arns)
    for ci in cis:
        attrs = {x["name"]: x.get("value") for x in ci["attributes"]}
        assert attrs["pool"] == "blue" and attrs["ecs.ami-id"] == ami and attrs["ecs.instance-type"] == "t3.medium"
        assert _resource(ci, "registeredResources", "CPU") == 2048
        assert _resource(ci, "registeredResources", "MEMORY") == 4096

    td = _web(ecs)
    ecs.create_service("web", td, desired=2, **{"--launch-type": "EC2"})
    ecs.wait_completed("web")
    victim = cis[0]
    victim_task = next(t for t in ecs.tasks("web") if t["containerInstanceArn"] == victim["containerInstanceArn"])

    # a new launch template version with another AMI: the replacement comes from the group's version
    other = next(i["ImageId"] for i in aws("ec2", "describe-images")["Images"] if i["ImageId"] != ami)
    aws("ec2", "create-launch-template-version", "--launch-template-id", lt["LaunchTemplateId"],
        "--launch-template-data", json.dumps({"ImageId": other, "InstanceType": "t3.medium", "UserData": ud}))
    aws("autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "tb-asg", "--launch-template",
        json.dumps({"LaunchTemplateId": lt["LaunchTemplateId"], "Version": "2"}))
    act = aws("autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", victim["ec2InstanceId"],
              "--no-should-decrement-desired-capacity")["Activity"]
    assert victim["ec2InstanceId"] in act["Description"]
    stopped = wait_for(lambda: (lambda t: t if t["lastStatus"] == "STOPPED" else None)(
        ecs.describe_task(victim_task["taskArn"])), timeout=20, what="the victim's task stopped")
    assert stopped["stoppedReason"] == f"Host EC2 (instance {victim['ec2InstanceId']}) terminated."
    group = aws("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "tb-asg")[
        "AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == 2 and len(group["Instances"]) == 2
    new = [i for i in group["Instances"] if i["InstanceId"] != cis[1]["ec2InstanceId"]]
    assert len(new) == 1 and new[0]["LaunchTemplate"]["Version"] == "2"

    def replaced():
        arns = _list(ecs)
        if len(arns) != 2 or victim["containerInstanceArn"] in arns:
            return None
        return _describe(ecs, arns)
    cis = wait_for(replaced, timeout=20, what="the replacement registered")
    amis = {x["ec2InstanceId"]: {a["name"]: a.get("value") for a in x["attributes"]}["ecs.ami-id"] for x in cis}
    assert amis[new[0]["InstanceId"]] == other
    ecs.wait_completed("web")
    assert len(ecs.tasks("web")) == 2


def test_fargate_tasks_are_registered_by_ip_and_deregistered_when_they_stop(ecs):
    """A service in awsvpc mode with a load balancer: ECS registers each running task's ENI
    address with the container port in the target group (target type ip), and takes it out
    when the task stops."""
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.1.0/24")["Subnet"]["SubnetId"]
    sg = aws("ec2", "create-security-group", "--group-name", "tb-ip", "--description", "ip targets",
             "--vpc-id", vpc)["GroupId"]
    tg = aws("elbv2", "create-target-group", "--name", "tb-ip", "--protocol", "TCP", "--port", "9000",
             "--vpc-id", vpc, "--target-type", "ip")["TargetGroups"][0]["TargetGroupArn"]
    td = ecs.register("api", [container("api", "scripted/api:1", portMappings=[{"containerPort": 9000}],
                                        environment=[{"name": "TESTBED_RUN_CONTAINERS", "value": "0"}])],
                      network_mode="awsvpc")
    ecs.create_service("api", td, desired=2, **{
        "--launch-type": "FARGATE",
        "--network-configuration": json.dumps({"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [sg]}}),
        "--load-balancers": json.dumps([{"targetGroupArn": tg, "containerName": "api", "containerPort": 9000}])})
    ecs.wait_completed("api")
    ips = set()
    for t in ecs.tasks("api"):
        details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
        ips.add(details["privateIPv4Address"])
    assert len(ips) == 2
    health = wait_for(lambda: (lambda h: h if len(h) == 2 else None)(
        aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]),
        timeout=20, what="two targets")
    assert sorted((h["Target"]["Id"], h["Target"]["Port"]) for h in health) == sorted((ip, 9000) for ip in ips)

    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "api", "--desired-count", "1")
    left = wait_for(lambda: (lambda h: h if len([x for x in h if x["TargetHealth"]["State"] != "draining"]) == 1
                             else None)(
        aws("elbv2", "describe-target-health", "--target-group-arn", tg)["TargetHealthDescriptions"]),
        timeout=20, what="one target left")
    (running,) = ecs.tasks("api")
    ip = {d["name"]: d["value"] for d in running["attachments"][0]["details"]}["privateIPv4Address"]
    assert [h["Target"]["Id"] for h in left if h["TargetHealth"]["State"] != "draining"] == [ip]
