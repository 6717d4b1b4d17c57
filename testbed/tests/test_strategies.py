"""ECS-native deployment strategies (BLUE_GREEN, LINEAR, CANARY), lifecycle hooks, the hook answer
endpoint, rollbacks and ContinueServiceDeployment, judged with the AWS CLI (ECS and ELBv2)."""
import json

from testbed.tests.conftest import aws, api, container, control, env, wait_for

RUN = env(TESTBED_RUN_SECONDS=600)
FAIL = env(TESTBED_EXIT_CODE=1)
ROLE = "arn:aws:iam::123456789012:role/ecsInfrastructureRoleForLoadBalancers"
HOOK = "arn:aws:lambda:us-east-1:123456789012:function:smoke"
HOOK_ROLE = "arn:aws:iam::123456789012:role/ecs-lambda-invoke"
MINUTE = 1.0  # strategy_minute_seconds in these tests


def elb_setup():
    vpc = aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", f"10.9.{i}.0/24",
                   "--availability-zone", f"us-east-1{z}")["Subnet"]["SubnetId"] for i, z in ((1, "a"), (2, "b"))]
    sg = aws("ec2", "create-security-group", "--group-name", "bg", "--description", "bg", "--vpc-id", vpc)["GroupId"]
    lb = aws("elbv2", "create-load-balancer", "--name", "bg", "--subnets", *subnets)["LoadBalancers"][0][
        "LoadBalancerArn"]
    tgs = [aws("elbv2", "create-target-group", "--name", n, "--protocol", "HTTP", "--port", "80", "--vpc-id", vpc,
               "--target-type", "ip")["TargetGroups"][0]["TargetGroupArn"] for n in ("blue", "green")]
    fwd = json.dumps([{"Type": "forward", "TargetGroupArn": tgs[0]}])
    prod_l = aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "80",
                 "--default-actions", fwd)["Listeners"][0]["ListenerArn"]
    test_l = aws("elbv2", "create-listener", "--load-balancer-arn", lb, "--protocol", "HTTP", "--port", "8080",
                 "--default-actions", fwd)["Listeners"][0]["ListenerArn"]
    cond = json.dumps([{"Field": "path-pattern", "Values": ["/*"]}])
    prod = aws("elbv2", "create-rule", "--listener-arn", prod_l, "--priority", "1", "--conditions", cond,
               "--actions", fwd)["Rules"][0]["RuleArn"]
    test = aws("elbv2", "create-rule", "--listener-arn", test_l, "--priority", "1", "--conditions", cond,
               "--actions", fwd)["Rules"][0]["RuleArn"]
    return {"subnets": subnets, "sg": sg, "blue": tgs[0], "green": tgs[1], "prod": prod, "test": test}


def lbs(e, **adv):
    a = {"alternateTargetGroupArn": e["green"], "productionListenerRule": e["prod"],
         "testListenerRule": e["test"], "roleArn": ROLE}
    a.update(adv)
    a = {k: v for k, v in a.items() if v is not None}
    return [{"targetGroupArn": e["blue"], "containerName": "app", "containerPort": 80, "advancedConfiguration": a}]


def rule_weights(arn):
    """{target group arn: weight} of the rule's forward action, as `aws elbv2 describe-rules` shows it."""
    rule = aws("elbv2", "describe-rules", "--rule-arns", arn)["Rules"][0]
    fwd = [a for a in rule["Actions"] if a["Type"] == "forward"][0]
    if "ForwardConfig" in fwd:
        return {t["TargetGroupArn"]: t["Weight"] for t in fwd["ForwardConfig"]["TargetGroups"]}
    return {fwd["TargetGroupArn"]: 1}


def share(weights, tg):
    total = sum(weights.values())
    return round(100.0 * weights.get(tg, 0) / total, 1) if total else 0.0


def register(ecs, name, image, environment=RUN):
    return ecs.register(name, [container("app", image, environment=environment,
                                         portMappings=[{"containerPort": 80}])], network_mode="awsvpc")


def service(ecs, e, td, dconf, desired=2, **extra):
    args = ["ecs", "create-service", "--cluster", ecs.cluster, "--service-name", "web", "--task-definition", td,
            "--desired-count", str(desired), "--launch-type", "FARGATE",
            "--network-configuration", json.dumps({"awsvpcConfiguration": {"subnets": e["subnets"], "securityGroups": [e["sg"]]}}),
            "--load-balancers", json.dumps(extra.pop("load_balancers", lbs(e))),
            "--deployment-configuration", json.dumps(dconf)]
    return aws(*args, check=extra.pop("check", True))


def newest_sd(ecs):
    return aws("ecs", "list-service-deployments", "--cluster", ecs.cluster, "--service", "web")[
        "serviceDeployments"][0]["serviceDeploymentArn"]


def describe_sd(arn, fast=False):
    if fast:
        return api("ecs", "DescribeServiceDeployments", {"serviceDeploymentArns": [arn]})["serviceDeployments"][0]
    return aws("ecs", "describe-service-deployments", "--service-deployment-arns", arn)["serviceDeployments"][0]


def wait_sd(arn, pred, what, timeout=90):
    from testbed.tests.conftest import polling

    def done():
        d = describe_sd(arn, fast=polling())
        return d if pred(d) else None
    return wait_for(done, timeout, interval=0.1, what=what, on_timeout=lambda: describe_sd(arn, fast=True))


def deploy(ecs, td):
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--task-definition", td)
    # Its ARN with one plain call: on a loaded machine another AWS CLI start-up here can outlast
    # the first stages of a deployment whose minutes are a second long.
    return api("ecs", "ListServiceDeployments", {"cluster": ecs.cluster, "service": "web"})[
        "serviceDeployments"][0]["serviceDeploymentArn"]


def settle_first(ecs):
    arn = newest_sd(ecs)
    wait_sd(arn, lambda d: d["status"] == "SUCCESSFUL", "the first deployment to succeed")
    ecs.wait_completed("web")


def stage_watch(arn, until, timeout=120):
    """Polls the deployment, returns (the stages seen in order, the last description)."""
    seen = []

    def done():
        d = describe_sd(arn, fast=True)
        st = d.get("lifecycleStage")
        if st and (not seen or seen[-1] != st):
            seen.append(st)
        return d if until(d) else None
    d = wait_for(done, timeout, interval=0.05, what=f"{arn} to finish; stages {seen}")
    return seen, d


def fast_strategies(minute=MINUTE):
    control("/_testbed/config", {"strategy_minute_seconds": minute})


def hooks(payload=None, method=None):
    return control("/_testbed/hooks", payload, method)


def test_validation_errors_as_aws_documents(ecs):
    e = elb_setup()
    td = register(ecs, "bgv", "scripted/app:1")

    def err(dconf, **kw):
        p = service(ecs, e, td, dconf, check=False, **kw)
        assert p.returncode != 0, p
        assert "InvalidParameterException" in p.stderr, p.stderr
        return p.stderr

    assert "strategy" in err({"strategy": "RED_BLACK"})
    assert "bakeTimeInMinutes must be provided" in err({"strategy": "BLUE_GREEN"})
    assert "bakeTimeInMinutes" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1441})
    assert "stepPercent" in err({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.9}})
    assert "stepPercent" in err({"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 10.05}})
    assert "stepBakeTimeInMinutes" in err({"strategy": "LINEAR", "linearConfiguration": {"stepBakeTimeInMinutes": -1}})
    assert "canaryPercent" in err({"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.0}})
    assert "only valid with the LINEAR" in err({"strategy": "CANARY", "linearConfiguration": {"stepPercent": 10}})
    assert "advancedConfiguration is required" in err(
        {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
        load_balancers=[{"targetGroupArn": e["blue"], "containerName": "app", "containerPort": 80}])
    assert "roleArn is required" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
                                        load_balancers=lbs(e, roleArn=None))
    assert "must differ" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
                                load_balancers=lbs(e, alternateTargetGroupArn=e["blue"]))
    assert "does not exist" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1},
                                   load_balancers=lbs(e, productionListenerRule=e["prod"] + "0"))
    assert "requires a load balancer" in err({"strategy": "LINEAR"}, load_balancers=[])
    hook = {"hookTargetArn": HOOK, "roleArn": HOOK_ROLE, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    assert "invalid stage" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                                   "lifecycleHooks": [dict(hook, lifecycleStages=["BAKE_TIME"])]})
    assert "roleArn must be provided" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                                              "lifecycleHooks": [{k: v for k, v in hook.items() if k != "roleArn"}]})
    assert "not a Lambda function ARN" in err({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                                               "lifecycleHooks": [dict(hook, hookTargetArn="arn:aws:sns:x")]})
    assert "PAUSE hooks cannot be configured at TEST_TRAFFIC_SHIFT" in err(
        {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
         "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["TEST_TRAFFIC_SHIFT"]}]})
    assert "only valid with the BLUE_GREEN" in err({"strategy": "ROLLING", "lifecycleHooks": [hook]})
    p = aws("ecs", "create-service", "--cluster", ecs.cluster, "--service-name", "cd", "--task-definition", td,
            "--desired-count", "1", "--deployment-controller", "type=CODE_DEPLOY",
            "--deployment-configuration", json.dumps({"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1}), check=False)
    assert p.returncode != 0 and "ECS deployment controller" in p.stderr

    # a valid one is stored with the documented defaults and shown back by DescribeServices
    service(ecs, e, td, {"strategy": "LINEAR", "lifecycleHooks": [hook]})
    s = ecs.service("web")
    dc = s["deploymentConfiguration"]
    assert dc["strategy"] == "LINEAR"
    assert dc["linearConfiguration"] == {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
    assert dc["lifecycleHooks"] == [dict(hook, targetType="AWS_LAMBDA")]
    assert s["loadBalancers"][0]["advancedConfiguration"]["alternateTargetGroupArn"] == e["green"]
    # UpdateService validates the merged configuration
    p = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--deployment-configuration",
            json.dumps({"linearConfiguration": {"stepPercent": 200}}), check=False)
    assert p.returncode != 0 and "stepPercent" in p.stderr


def test_blue_green_runs_the_stages_and_moves_the_listener_weights(ecs):
    fast_strategies()
    e = elb_setup()
    td1, td2 = register(ecs, "bg", "scripted/app:1"), register(ecs, "bg", "scripted/app:2")
    hooks({"hookTargetArn": HOOK, "hookStatus": "SUCCEEDED"})
    hook = {"hookTargetArn": HOOK, "roleArn": HOOK_ROLE, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
            "hookDetails": {"url": "http://test"}}
    service(ecs, e, td1, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 12, "lifecycleHooks": [hook]})
    settle_first(ecs)
    # the first deployment had nothing to shift from: production traffic stays on the primary group
    assert share(rule_weights(e["prod"]), e["blue"]) == 100.0
    hooks(method="DELETE")
    hooks({"hookTargetArn": HOOK, "hookStatus": "SUCCEEDED"})
    arn = deploy(ecs, td2)

    d = wait_sd(arn, lambda d: d.get("lifecycleStage") == "BAKE_TIME", "BAKE_TIME")
    # green has all production and test traffic, blue still runs
    assert share(rule_weights(e["prod"]), e["green"]) == 100.0
    assert share(rule_weights(e["test"]), e["green"]) == 100.0
    green_rev, blue_rev = d["targetServiceRevision"]["arn"], d["sourceServiceRevisions"][0]["arn"]
    assert d["targetServiceRevision"]["requestedProductionTrafficWeight"] == 100.0
    assert d["sourceServiceRevisions"][0]["requestedProductionTrafficWeight"] == 0.0
    assert len([t for t in ecs.tasks("web")]) == 4
    health = aws("elbv2", "describe-target-health", "--target-group-arn", e["green"])["TargetHealthDescriptions"]
    assert len(health) == 2
    seen, d = stage_watch(arn, lambda d: d["status"] == "SUCCESSFUL")
    assert d["lifecycleStage"] == "CLEAN_UP"
    ecs.wait_completed("web")
    assert len(ecs.tasks("web")) == 2
    assert share(rule_weights(e["prod"]), e["green"]) == 100.0

    inv = hooks()["invocations"]
    assert [i["lifecycleStage"] for i in inv] == ["POST_TEST_TRAFFIC_SHIFT"]
    p = inv[0]["payload"]
    assert p["targetServiceRevisionArn"] == green_rev and p["serviceArn"].endswith(f"/{ecs.cluster}/web")
    assert p["testTrafficWeights"] == {green_rev: 100.0, blue_rev: 0.0}
    assert p["productionTrafficWeights"] == {green_rev: 0.0, blue_rev: 100.0}
    assert p["hookDetails"] == {"url": "http://test"}
    assert inv[0]["hookTargetArn"] == HOOK and inv[0]["roleArn"] == HOOK_ROLE


def test_blue_green_stage_order_and_second_deployment_swaps_the_groups(ecs):
    fast_strategies(3.0)  # a bake time long enough to be seen between two polls on a loaded machine
    e = elb_setup()
    tds = [register(ecs, "bg2", f"scripted/app:{i}") for i in (1, 2, 3)]
    service(ecs, e, tds[0], {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1})
    settle_first(ecs)
    arn = deploy(ecs, tds[1])
    seen, d = stage_watch(arn, lambda d: d["status"] == "SUCCESSFUL")
    order = ["PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "POST_TEST_TRAFFIC_SHIFT",
             "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"]
    assert [s for s in order if s in seen] == [s for s in seen if s in order]  # never out of order
    assert {"SCALE_UP", "BAKE_TIME", "CLEAN_UP"} <= set(seen)
    assert share(rule_weights(e["prod"]), e["green"]) == 100.0
    ecs.wait_completed("web")
    # the next deployment goes the other way: green is now blue
    arn = deploy(ecs, tds[2])
    wait_sd(arn, lambda d: d.get("lifecycleStage") == "BAKE_TIME", "BAKE_TIME")
    assert share(rule_weights(e["prod"]), e["blue"]) == 100.0
    wait_sd(arn, lambda d: d["status"] == "SUCCESSFUL", "SUCCESSFUL")


def test_linear_shifts_in_steps_with_step_bake_time(ecs):
    # Longer minutes than the other tests: each step must outlast an AWS CLI call on a loaded
    # machine, or a sample can miss it.
    minute = 3.0
    fast_strategies(minute)
    e = elb_setup()
    td1, td2 = register(ecs, "lin", "scripted/app:1"), register(ecs, "lin", "scripted/app:2")
    service(ecs, e, td1, {"strategy": "LINEAR", "bakeTimeInMinutes": 0,
                          "linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 2}})
    settle_first(ecs)
    arn = deploy(ecs, td2)
    shares = []

    def done():
        w = share(rule_weights(e["prod"]), e["green"])
        if not shares or shares[-1] != w:
            shares.append(w)
        return describe_sd(arn, fast=True)["status"] == "SUCCESSFUL"
    wait_for(done, 180, interval=0.2, what=f"linear steps {shares}")
    # The first sample may come after the first step (scale-up takes about as long as one CLI
    # call); every step after it is seen, one at a time.
    assert shares[0] in (0.0, 25.0), shares
    assert [s for s in shares if s > 0] == [25.0, 50.0, 75.0, 100.0], shares


def test_canary_holds_its_percent_for_the_canary_bake_time(ecs):
    minute = 3.0  # the bake must outlast two AWS CLI calls on a loaded machine
    fast_strategies(minute)
    e = elb_setup()
    td1, td2 = register(ecs, "can", "scripted/app:1"), register(ecs, "can", "scripted/app:2")
    service(ecs, e, td1, {"strategy": "CANARY", "bakeTimeInMinutes": 0,
                          "canaryConfiguration": {"canaryPercent": 10.5, "canaryBakeTimeInMinutes": 6}})
    settle_first(ecs)
    arn = deploy(ecs, td2)
    import time
    seen_at = []  # when the canary share was first seen (the confirming CLI call comes later)

    def canary():
        w = rule_weights(e["prod"])
        if share(w, e["green"]) != 10.5:
            return None
        seen_at.append(time.time())
        return w
    w = wait_for(canary, 60, what="the canary share")
    t0 = seen_at[0]
    assert w == {e["blue"]: 895, e["green"]: 105}  # ELBv2 weights are integers: tenths of a percent
    assert describe_sd(arn)["lifecycleStage"] == "PRODUCTION_TRAFFIC_SHIFT"
    wait_for(lambda: share(rule_weights(e["prod"]), e["green"]) == 100.0, 120, interval=0.1, what="the rest")
    assert time.time() - t0 >= 6 * minute - 2.5  # observed up to ~2 s late (CLI start-up)
    wait_sd(arn, lambda d: d["status"] == "SUCCESSFUL", "SUCCESSFUL")


def test_hook_failed_at_post_test_traffic_shift_rolls_back_without_moving_production(ecs):
    fast_strategies()
    e = elb_setup()
    td1, td2 = register(ecs, "hk", "scripted/app:1"), register(ecs, "hk", "scripted/app:2")
    hook = {"hookTargetArn": HOOK, "roleArn": HOOK_ROLE, "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}
    hooks({"hookTargetArn": HOOK, "answers": [{"hookStatus": "SUCCEEDED"}]})
    service(ecs, e, td1, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1, "lifecycleHooks": [hook]})
    settle_first(ecs)
    hooks(method="DELETE")
    hooks({"hookTargetArn": HOOK, "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
           "answers": [{"hookStatus": "IN_PROGRESS", "callBackDelay": 0.5, "hookDetails": {"try": 1}},
                       {"hookStatus": "FAILED"}]})
    arn = deploy(ecs, td2)
    prod_seen = set()

    def done():
        prod_seen.add(share(rule_weights(e["prod"]), e["green"]))
        return describe_sd(arn, fast=True)["status"] == "ROLLBACK_SUCCESSFUL"
    wait_for(done, 90, interval=0.2, what="the rollback")
    assert prod_seen == {0.0}  # production traffic never moved
    d = describe_sd(arn)
    assert d["lifecycleStage"] == "POST_TEST_TRAFFIC_SHIFT"
    assert d["statusReason"] == "Service deployment rolled back because a lifecycle hook failed."
    assert d["rollback"]["serviceRevisionArn"] == d["sourceServiceRevisions"][0]["arn"]
    assert HOOK in d["rollback"]["reason"] and "POST_TEST_TRAFFIC_SHIFT" in d["rollback"]["reason"]
    assert d["lifecycleHookDetails"][0]["status"] == "FAILED"
    assert d["lifecycleHookDetails"][0]["targetArn"] == HOOK
    assert share(rule_weights(e["test"]), e["blue"]) == 100.0
    s = ecs.wait_completed("web")
    assert s["taskDefinition"] == td1 and len(ecs.tasks("web")) == 2
    inv = hooks()["invocations"]
    assert [i["answer"]["hookStatus"] for i in inv] == ["IN_PROGRESS", "FAILED"]
    assert inv[1]["at"] - inv[0]["at"] >= 0.4
    assert inv[1]["payload"]["hookDetails"] == {"try": 1}  # handed back from the IN_PROGRESS answer


def test_breaker_trips_during_scale_up_and_traffic_stays_on_blue(ecs):
    fast_strategies()
    e = elb_setup()
    td1, td2 = register(ecs, "cb", "scripted/app:1"), register(ecs, "cb", "scripted/app:2", environment=FAIL)
    service(ecs, e, td1, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 1,
                          "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    settle_first(ecs)
    arn = deploy(ecs, td2)
    stages = set()

    def done():
        d = describe_sd(arn, fast=True)
        stages.add(d.get("lifecycleStage"))
        return d["status"] == "ROLLBACK_SUCCESSFUL"
    wait_for(done, 90, interval=0.1, what="the breaker rollback")
    d = describe_sd(arn)
    assert stages - {None} == {"PRE_SCALE_UP", "SCALE_UP"} or stages - {None} == {"SCALE_UP"}
    assert d["lifecycleStage"] == "SCALE_UP"
    assert d["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert d["rollback"]["reason"] == "The deployment circuit breaker initiated the rollback operation."
    assert share(rule_weights(e["prod"]), e["blue"]) == 100.0
    s = ecs.wait_completed("web")
    assert s["taskDefinition"] == td1


def test_stop_service_deployment_during_bake_time_returns_traffic_to_blue(ecs):
    fast_strategies()
    e = elb_setup()
    td1, td2 = register(ecs, "st", "scripted/app:1"), register(ecs, "st", "scripted/app:2")
    service(ecs, e, td1, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 30})
    settle_first(ecs)
    arn = deploy(ecs, td2)
    wait_sd(arn, lambda d: d.get("lifecycleStage") == "BAKE_TIME", "BAKE_TIME")
    assert share(rule_weights(e["prod"]), e["green"]) == 100.0
    aws("ecs", "stop-service-deployment", "--service-deployment-arn", arn, "--stop-type", "ROLLBACK")
    assert share(rule_weights(e["prod"]), e["blue"]) == 100.0
    assert share(rule_weights(e["test"]), e["blue"]) == 100.0
    d = wait_sd(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", "ROLLBACK_SUCCESSFUL")
    assert d["lifecycleStage"] == "BAKE_TIME"
    assert d["rollback"]["reason"] == "StopServiceDeployment (stopType ROLLBACK) initiated the rollback operation."
    s = ecs.wait_completed("web")
    assert s["taskDefinition"] == td1 and len(ecs.tasks("web")) == 2


def test_pause_hook_waits_for_continue_service_deployment(ecs):
    fast_strategies()
    e = elb_setup()
    tds = [register(ecs, "ps", f"scripted/app:{i}") for i in (1, 2, 3)]
    pause = {"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
             "timeoutConfiguration": {"timeoutInMinutes": 60, "action": "ROLLBACK"}}
    service(ecs, e, tds[0], {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": [pause]})
    arn = newest_sd(ecs)

    def awaiting(d):
        return d.get("lifecycleHookDetails") and d["lifecycleHookDetails"][0]["status"] == "AWAITING_ACTION"
    d = wait_sd(arn, awaiting, "the pause hook")
    h = d["lifecycleHookDetails"][0]
    assert h["targetType"] == "PAUSE" and h["timeoutAction"] == "ROLLBACK" and h["hookId"].startswith("ecs-pause-")
    p = aws("ecs", "continue-service-deployment", "--service-deployment-arn", arn, "--hook-id", "ecs-pause-nope",
            check=False)
    assert p.returncode != 0 and "InvalidParameterException" in p.stderr
    aws("ecs", "continue-service-deployment", "--service-deployment-arn", arn, "--hook-id", h["hookId"],
        "--action", "CONTINUE")
    wait_sd(arn, lambda d: d["status"] == "SUCCESSFUL", "SUCCESSFUL")
    ecs.wait_completed("web")
    arn = deploy(ecs, tds[1])
    d = wait_sd(arn, awaiting, "the pause hook")
    assert share(rule_weights(e["test"]), e["green"]) == 100.0
    assert share(rule_weights(e["prod"]), e["blue"]) == 100.0
    aws("ecs", "continue-service-deployment", "--service-deployment-arn", arn,
        "--hook-id", d["lifecycleHookDetails"][0]["hookId"], "--action", "ROLLBACK")
    d = wait_sd(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", "ROLLBACK_SUCCESSFUL")
    assert d["rollback"]["reason"] == "ContinueServiceDeployment (action ROLLBACK) initiated the rollback operation."
    assert share(rule_weights(e["test"]), e["blue"]) == 100.0
    p = aws("ecs", "continue-service-deployment", "--service-deployment-arn", arn, "--hook-id", "x", check=False)
    assert p.returncode != 0 and "IN_PROGRESS" in p.stderr


def test_hook_endpoint_shapes_and_a_hook_without_an_answer_fails(ecs):
    assert hooks({"hookTargetArn": HOOK, "hookStatus": "SUCCEEDED", "lifecycleStage": "PRE_SCALE_UP"})[
        "answers"] == [{"hookTargetArn": HOOK, "lifecycleStage": "PRE_SCALE_UP",
                        "answers": [{"hookStatus": "SUCCEEDED"}], "used": 0}]
    import urllib.error
    try:
        hooks({"hookTargetArn": HOOK, "lifecycleStage": "BAKE_TIME", "hookStatus": "SUCCEEDED"})
        raise AssertionError("accepted a stage hooks cannot have")
    except urllib.error.HTTPError as err:
        assert err.code == 400
    assert hooks(method="DELETE") == {"answers": [], "invocations": []}
    fast_strategies()
    e = elb_setup()
    td1, td2 = register(ecs, "na", "scripted/app:1"), register(ecs, "na", "scripted/app:2")
    hook = {"hookTargetArn": HOOK, "roleArn": HOOK_ROLE, "lifecycleStages": ["PRE_SCALE_UP"]}
    hooks({"hookTargetArn": HOOK, "hookStatus": "SUCCEEDED"})
    service(ecs, e, td1, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": 0, "lifecycleHooks": [hook]})
    settle_first(ecs)
    hooks(method="DELETE")
    arn = deploy(ecs, td2)
    d = wait_sd(arn, lambda d: d["status"] == "ROLLBACK_SUCCESSFUL", "ROLLBACK_SUCCESSFUL")
    assert d["lifecycleStage"] == "PRE_SCALE_UP"
    inv = hooks()["invocations"]
    assert len(inv) == 1 and inv[0]["answer"] is None
