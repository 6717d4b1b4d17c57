"""Service deployments and service revisions (ListServiceDeployments, DescribeServiceDeployments,
DescribeServiceRevisions, StopServiceDeployment), ListTaskDefinitions sort/pagination and the
DescribeServices visibility delay, judged with the AWS CLI."""
import re
import time

from testbed.tests.conftest import aws, api, container, control, env, wait_for

RUN = env(TESTBED_RUN_SECONDS=600)          # scripted: runs until stopped
FAIL = env(TESTBED_EXIT_CODE=1)             # scripted: essential container exits 1 at once
SD_ARN = re.compile(r"^arn:aws:ecs:us-east-1:123456789012:service-deployment/([^/]+)/([^/]+)/[A-Za-z0-9_-]+$")
SR_ARN = re.compile(r"^arn:aws:ecs:us-east-1:123456789012:service-revision/([^/]+)/([^/]+)/\d+$")


def sds(ecs, service, *extra):
    return aws("ecs", "list-service-deployments", "--cluster", ecs.cluster, "--service", service,
               *extra)["serviceDeployments"]


def describe_sd(arn):
    out = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arn)
    assert out["failures"] == []
    return out["serviceDeployments"][0]


def describe_rev(arn):
    out = aws("ecs", "describe-service-revisions", "--service-revision-arns", arn)
    assert out["failures"] == []
    return out["serviceRevisions"][0]


def sd_status(arn):
    return api("ecs", "DescribeServiceDeployments", {"serviceDeploymentArns": [arn]})["serviceDeployments"][0]


def wait_sd(arn, statuses, timeout=60):
    statuses = (statuses,) if isinstance(statuses, str) else statuses

    def done():
        from testbed.tests.conftest import polling
        d = sd_status(arn) if polling() else describe_sd(arn)
        return d if d["status"] in statuses else None
    return wait_for(done, timeout, interval=0.1, what=f"service deployment {arn} to reach {statuses}")


def error_of(p):
    assert p.returncode != 0, p
    return p.stderr


def test_create_update_scale_and_force_create_deployments_and_revisions(ecs):
    td1 = ecs.register("sd", [container("app", "scripted/app:1", environment=RUN)])
    td2 = ecs.register("sd", [container("app", "scripted/app:2", environment=RUN)])
    ecs.create_service("web", td1, desired=2)
    first = sds(ecs, "web")
    assert len(first) == 1
    b = first[0]
    m = SD_ARN.match(b["serviceDeploymentArn"])
    assert m and m.groups() == (ecs.cluster, "web")
    assert SR_ARN.match(b["targetServiceRevisionArn"]).groups() == (ecs.cluster, "web")
    assert b["serviceArn"] == f"arn:aws:ecs:us-east-1:123456789012:service/{ecs.cluster}/web"
    assert b["clusterArn"] == f"arn:aws:ecs:us-east-1:123456789012:cluster/{ecs.cluster}"
    assert b["status"] in ("PENDING", "IN_PROGRESS", "SUCCESSFUL")  # scripted tasks are quick
    sd1 = b["serviceDeploymentArn"]
    rev1 = b["targetServiceRevisionArn"]

    ecs.wait_completed("web")
    d = wait_sd(sd1, "SUCCESSFUL")
    assert d["createdAt"] <= d["startedAt"] <= d["finishedAt"] <= d["updatedAt"]
    assert "stoppedAt" not in d and "rollback" not in d
    assert d["targetServiceRevision"] == {"arn": rev1, "requestedTaskCount": 2, "runningTaskCount": 2,
                                          "pendingTaskCount": 0}
    assert d["sourceServiceRevisions"] == []
    assert d["deploymentConfiguration"]["maximumPercent"] == 200
    assert d["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert d["deploymentCircuitBreaker"]["status"] == "DISABLED"
    rev = describe_rev(rev1)
    assert rev["serviceRevisionArn"] == rev1 and rev["taskDefinition"] == td1
    assert rev["serviceArn"] == b["serviceArn"] and rev["clusterArn"] == b["clusterArn"]
    assert rev["containerImages"] == [{"containerName": "app", "image": "scripted/app:1"}]
    assert "createdAt" in rev
    s = ecs.service("web")
    assert s["currentServiceDeployment"] == sd1
    assert s["currentServiceRevisions"] == [{"arn": rev1, "requestedTaskCount": 2, "runningTaskCount": 2,
                                             "pendingTaskCount": 0}]

    # a new task definition: a new deployment and revision; the running revision is the source
    control("/_testbed/config", {"pending_seconds": 8})  # slow enough to look at it while it runs
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--task-definition", td2)
    listed = sds(ecs, "web")
    assert [x["serviceDeploymentArn"] for x in listed][1:] == [sd1]  # newest first
    sd2, rev2 = listed[0]["serviceDeploymentArn"], listed[0]["targetServiceRevisionArn"]
    d = describe_sd(sd2)
    assert d["status"] in ("PENDING", "IN_PROGRESS")
    assert [x["arn"] for x in d["sourceServiceRevisions"]] == [rev1]
    assert d["sourceServiceRevisions"][0]["runningTaskCount"] == 2
    assert d["targetServiceRevision"]["requestedTaskCount"] == 2
    assert d["targetServiceRevision"]["runningTaskCount"] == 0
    control("/_testbed/config", {"pending_seconds": 0.2})
    assert rev2 != rev1 and describe_rev(rev2)["taskDefinition"] == td2
    ecs.wait_completed("web")
    d = wait_sd(sd2, "SUCCESSFUL")
    assert d["targetServiceRevision"] == {"arn": rev2, "requestedTaskCount": 2, "runningTaskCount": 2,
                                          "pendingTaskCount": 0}
    assert d["sourceServiceRevisions"] == [{"arn": rev1, "requestedTaskCount": 0, "runningTaskCount": 0,
                                            "pendingTaskCount": 0}]
    assert describe_sd(sd1)["status"] == "SUCCESSFUL"  # finished deployments keep their status
    assert ecs.service("web")["currentServiceDeployment"] == sd2

    # desiredCount alone starts no deployment
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--desired-count", "3")
    assert len(sds(ecs, "web")) == 2
    # forceNewDeployment does, with a new revision of the same task definition
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "web", "--force-new-deployment")
    listed = sds(ecs, "web")
    assert len(listed) == 3
    rev3 = listed[0]["targetServiceRevisionArn"]
    assert rev3 not in (rev1, rev2) and describe_rev(rev3)["taskDefinition"] == td2
    d = wait_sd(listed[0]["serviceDeploymentArn"], "SUCCESSFUL")
    assert d["targetServiceRevision"]["runningTaskCount"] == 3


def test_newer_update_stops_an_in_progress_deployment(ecs):
    bad = ecs.register("st", [container("app", "scripted/app:bad", environment=FAIL)])
    good = ecs.register("st", [container("app", "scripted/app:good", environment=RUN)])
    ecs.create_service("st", bad, desired=1)  # no breaker: retries forever, stays IN_PROGRESS
    sd1 = sds(ecs, "st")[0]["serviceDeploymentArn"]
    wait_for(lambda: (lambda d: d if d["status"] == "IN_PROGRESS" and
                      d["deploymentCircuitBreaker"]["failureCount"] >= 1 else None)(sd_status(sd1)),
             timeout=30, what="a failed task counted")
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "st", "--task-definition", good)
    d = wait_sd(sd1, "STOPPED")
    assert d["statusReason"] == "Service deployment stopped because a new service deployment started."
    assert d["createdAt"] <= d["startedAt"] <= d["stoppedAt"] and "finishedAt" in d
    sd2 = sds(ecs, "st")[0]["serviceDeploymentArn"]
    assert sd2 != sd1
    wait_sd(sd2, "SUCCESSFUL")
    assert [x["serviceDeploymentArn"] for x in sds(ecs, "st", "--status", "STOPPED")] == [sd1]
    assert [x["serviceDeploymentArn"] for x in sds(ecs, "st", "--status", "SUCCESSFUL", "IN_PROGRESS")] == [sd2]


def test_circuit_breaker_rollback_is_rollback_in_progress_then_rollback_successful(ecs):
    good = ecs.register("rb", [container("app", "scripted/app:good", environment=RUN)])
    bad = ecs.register("rb", [container("app", "scripted/app:bad", environment=FAIL)])
    ecs.create_service("rb", good, desired=1, breaker=True)
    ecs.wait_completed("rb")
    first = sds(ecs, "rb")[0]
    rev1 = first["targetServiceRevisionArn"]
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "rb", "--task-definition", bad)
    # watch it closely (plain requests, no CLI start-up in between)
    sd2 = api("ecs", "ListServiceDeployments", {"cluster": ecs.cluster, "service": "rb"})[
        "serviceDeployments"][0]["serviceDeploymentArn"]
    seen = []
    deadline = time.time() + 90
    while time.time() < deadline:
        st = sd_status(sd2)["status"]
        if not seen or seen[-1] != st:
            seen.append(st)
        if st in ("ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED"):
            break
        time.sleep(0.05)
    assert "ROLLBACK_IN_PROGRESS" in seen and seen[-1] == "ROLLBACK_SUCCESSFUL", seen
    assert seen[0] in ("PENDING", "IN_PROGRESS"), seen
    d = describe_sd(sd2)
    assert d["status"] == "ROLLBACK_SUCCESSFUL"
    assert d["statusReason"] == "Service deployment rolled back because the circuit breaker threshold was exceeded."
    assert d["rollback"]["serviceRevisionArn"] == rev1
    assert d["rollback"]["reason"] == "The deployment circuit breaker initiated the rollback operation."
    assert d["startedAt"] <= d["rollback"]["startedAt"] <= d["finishedAt"]
    cb = d["deploymentCircuitBreaker"]
    assert cb["status"] == "TRIGGERED" and cb["failureCount"] >= 3 and cb["threshold"] == 3
    assert d["targetServiceRevision"]["runningTaskCount"] == 0
    # a rollback creates neither a service deployment nor a service revision
    assert len(sds(ecs, "rb")) == 2
    s = ecs.wait_completed("rb")
    assert s["taskDefinition"] == good
    assert [r["arn"] for r in s["currentServiceRevisions"]] == [rev1]
    assert describe_sd(first["serviceDeploymentArn"])["status"] == "SUCCESSFUL"


def test_circuit_breaker_without_rollback_stops_the_deployment(ecs):
    bad = ecs.register("nb", [container("app", "scripted/app:bad", environment=FAIL)])
    ecs.create_service("nb", bad, desired=1, breaker=False)  # enable, no rollback
    sd1 = sds(ecs, "nb")[0]["serviceDeploymentArn"]
    d = wait_sd(sd1, "STOPPED")
    assert d["statusReason"] == "Service deployment stopped because the circuit breaker threshold was exceeded."
    assert d["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert d["deploymentCircuitBreaker"]["failureCount"] >= 3
    assert "stoppedAt" in d and "rollback" not in d


def test_stop_service_deployment_rolls_back(ecs):
    good = ecs.register("sp", [container("app", "scripted/app:good", environment=RUN)])
    bad = ecs.register("sp", [container("app", "scripted/app:bad", environment=FAIL)])
    ecs.create_service("sp", bad, desired=1)  # no breaker: IN_PROGRESS for ever
    sd1 = sds(ecs, "sp")[0]["serviceDeploymentArn"]
    wait_sd(sd1, "IN_PROGRESS")
    # nothing successful to roll back to
    p = aws("ecs", "stop-service-deployment", "--service-deployment-arn", sd1, "--stop-type", "ROLLBACK",
            check=False)
    assert "InvalidParameterException" in error_of(p)
    p = aws("ecs", "stop-service-deployment", "--service-deployment-arn", sd1, "--stop-type", "SIDEWAYS",
            check=False)
    assert "InvalidParameterException" in error_of(p)
    missing = sd1.rsplit("/", 1)[0] + "/doesnotexist12345678"
    p = aws("ecs", "stop-service-deployment", "--service-deployment-arn", missing, check=False)
    assert "ServiceDeploymentNotFoundException" in error_of(p)

    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "sp", "--task-definition", good)
    sd2 = sds(ecs, "sp")[0]["serviceDeploymentArn"]
    wait_sd(sd1, "STOPPED")
    ecs.wait_completed("sp")
    rev2 = wait_sd(sd2, "SUCCESSFUL")["targetServiceRevision"]["arn"]
    for done in (sd1, sd2):  # a completed deployment cannot be stopped
        p = aws("ecs", "stop-service-deployment", "--service-deployment-arn", done, "--stop-type", "ROLLBACK",
                check=False)
        assert "ConflictException" in error_of(p)

    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "sp", "--task-definition", bad)
    sd3 = sds(ecs, "sp")[0]["serviceDeploymentArn"]
    control("/_testbed/config", {"pending_seconds": 8})  # a rollback slow enough to look at
    out = aws("ecs", "stop-service-deployment", "--service-deployment-arn", sd3, "--stop-type", "ROLLBACK")
    assert out == {"serviceDeploymentArn": sd3}
    d = describe_sd(sd3)
    assert d["status"] in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
    assert d["rollback"]["serviceRevisionArn"] == rev2
    assert d["rollback"]["reason"] == "StopServiceDeployment (stopType ROLLBACK) initiated the rollback operation."
    # a second stop while rolling back is accepted: the rollback goes on
    assert aws("ecs", "stop-service-deployment", "--service-deployment-arn", sd3) == {"serviceDeploymentArn": sd3}
    control("/_testbed/config", {"pending_seconds": 0.2})
    d = wait_sd(sd3, "ROLLBACK_SUCCESSFUL")
    assert d["statusReason"] == "Service deployment rolled back by StopServiceDeployment."
    assert d["deploymentCircuitBreaker"]["status"] == "DISABLED"
    s = ecs.wait_completed("sp")
    assert s["taskDefinition"] == good
    assert [r["arn"] for r in s["currentServiceRevisions"]] == [rev2]
    assert len(sds(ecs, "sp")) == 3


def test_list_service_deployments_filters_pagination_and_errors(ecs):
    # tasks that keep failing (no breaker): each deployment stays IN_PROGRESS until the next one
    td = ecs.register("pg", [container("app", "scripted/app:1", environment=FAIL)])
    ecs.create_service("pg", td, desired=1)
    for _ in range(4):
        time.sleep(1.1)  # the CLI sends createdAt filters in whole seconds
        aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "pg", "--force-new-deployment")
    everything = sds(ecs, "pg")
    assert len(everything) == 5
    created = [x["createdAt"] for x in everything]
    assert created == sorted(created, reverse=True)  # newest first
    arns = [x["serviceDeploymentArn"] for x in everything]
    # by ARN as well as by name; cluster by ARN
    svc_arn = everything[0]["serviceArn"]
    by_arn = aws("ecs", "list-service-deployments", "--cluster", everything[0]["clusterArn"], "--service",
                 svc_arn)["serviceDeployments"]
    assert [x["serviceDeploymentArn"] for x in by_arn] == arns
    # pagination
    page = aws("ecs", "list-service-deployments", "--cluster", ecs.cluster, "--service", "pg", "--max-results", "2")
    got = [x["serviceDeploymentArn"] for x in page["serviceDeployments"]]
    assert got == arns[:2] and page["nextToken"]
    while "nextToken" in page:
        page = aws("ecs", "list-service-deployments", "--cluster", ecs.cluster, "--service", "pg",
                   "--max-results", "2", "--next-token", page["nextToken"])
        got += [x["serviceDeploymentArn"] for x in page["serviceDeployments"]]
    assert got == arns
    # createdAt filter (the CLI sends whole epoch seconds)
    mid = int(everything[2]["createdAt"])
    after = sds(ecs, "pg", "--created-at", f"after={mid}")
    assert [x["serviceDeploymentArn"] for x in after] == arns[:3]
    before = sds(ecs, "pg", "--created-at", f"before={mid + 1}")
    assert [x["serviceDeploymentArn"] for x in before] == arns[2:]
    window = sds(ecs, "pg", "--created-at", f"after={mid},before={mid + 1}")
    assert [x["serviceDeploymentArn"] for x in window] == arns[2:3]
    p = aws("ecs", "list-service-deployments", "--cluster", ecs.cluster, "--service", "pg",
            "--created-at", f"after={mid + 1},before={mid}", check=False)
    assert "InvalidParameterException" in error_of(p)
    # status filter
    wait_sd(arns[1], "STOPPED")
    assert [x["serviceDeploymentArn"] for x in sds(ecs, "pg", "--status", "IN_PROGRESS")] == arns[:1]
    assert [x["serviceDeploymentArn"] for x in sds(ecs, "pg", "--status", "STOPPED")] == arns[1:]
    assert sds(ecs, "pg", "--status", "SUCCESSFUL") == []
    assert len(sds(ecs, "pg", "--status", "STOPPED", "IN_PROGRESS")) == 5

    # errors
    for args, code in [
        (["--service", "nope"], "ServiceNotFoundException"),
        (["--cluster", "no-such-cluster", "--service", "pg"], "ClusterNotFoundException"),
        (["--service", "pg", "--status", "DONE"], "InvalidParameterException"),
        (["--service", "pg", "--max-results", "0"], "InvalidParameterException"),
        (["--service", "pg", "--max-results", "101"], "InvalidParameterException"),
        (["--service", "pg", "--next-token", "garbage"], "InvalidParameterException"),
    ]:
        extra = [] if "--cluster" in args else ["--cluster", ecs.cluster]
        p = aws("ecs", "list-service-deployments", *extra, *args, check=False)
        assert code in error_of(p), (args, p.stderr)
    # DescribeServiceDeployments / DescribeServiceRevisions: unknown ARNs are failures, bad input an error
    unknown = arns[0].rsplit("/", 1)[0] + "/unknownunknownunknown"
    out = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arns[0], unknown)
    assert [x["serviceDeploymentArn"] for x in out["serviceDeployments"]] == [arns[0]]
    assert out["failures"] == [{"arn": unknown, "reason": "MISSING"}]
    p = aws("ecs", "describe-service-deployments", "--service-deployment-arns", "not-an-arn", check=False)
    assert "InvalidParameterException" in error_of(p)
    p = aws("ecs", "describe-service-deployments", "--service-deployment-arns", *([arns[0]] * 21), check=False)
    assert "InvalidParameterException" in error_of(p)
    rev = everything[0]["targetServiceRevisionArn"]
    other = rev[:-1] + ("1" if rev[-1] != "1" else "2")
    out = aws("ecs", "describe-service-revisions", "--service-revision-arns", rev, other)
    assert len(out["serviceRevisions"]) == 1 and out["failures"][0]["reason"] == "MISSING"

    # DeleteService deletes the service's deployments and revisions
    aws("ecs", "delete-service", "--cluster", ecs.cluster, "--service", "pg", "--force")
    assert sds(ecs, "pg") == []
    out = aws("ecs", "describe-service-deployments", "--service-deployment-arns", arns[0])
    assert out["serviceDeployments"] == [] and out["failures"][0]["reason"] == "MISSING"


def test_list_task_definitions_sort_status_family_and_pagination(ecs):
    def reg(family):
        return ecs.register(family, [container("app", "scripted/app:1", environment=RUN)])
    b = [reg("tdb") for _ in range(3)]
    a = [reg("tda") for _ in range(2)]
    bb = [reg("tdbb")]
    aws("ecs", "deregister-task-definition", "--task-definition", a[0])

    def ltd(*args):
        return aws("ecs", "list-task-definitions", *args)["taskDefinitionArns"]
    assert ltd() == [a[1]] + b + bb                      # ASC: family, then revision
    assert ltd("--sort", "ASC") == [a[1]] + b + bb
    assert ltd("--sort", "DESC") == bb + b[::-1] + [a[1]]
    assert ltd("--family-prefix", "tdb") == b            # the full family name: not tdbb
    assert ltd("--family-prefix", "tdb", "--sort", "DESC") == b[::-1]
    assert ltd("--status", "INACTIVE") == [a[0]]
    assert ltd("--family-prefix", "nothing") == []
    # the CLI's paginator (maxResults per page) and single pages with nextToken
    assert ltd("--sort", "DESC", "--page-size", "2") == bb + b[::-1] + [a[1]]
    page = aws("ecs", "list-task-definitions", "--sort", "DESC", "--max-items", "2")
    assert page["taskDefinitionArns"] == bb + [b[2]] and page["NextToken"]
    rest = aws("ecs", "list-task-definitions", "--sort", "DESC", "--starting-token", page["NextToken"])
    assert rest["taskDefinitionArns"] == b[1::-1] + [a[1]]
    raw = api("ecs", "ListTaskDefinitions", {"sort": "DESC", "maxResults": 3})
    assert raw["taskDefinitionArns"] == bb + b[:0:-1] and raw["nextToken"]
    raw = api("ecs", "ListTaskDefinitions", {"sort": "DESC", "maxResults": 3, "nextToken": raw["nextToken"]})
    assert raw["taskDefinitionArns"] == [b[0], a[1]] and "nextToken" not in raw
    for args in (["--sort", "SIDEWAYS"], ["--status", "GONE"], ["--page-size", "101"],
                 ["--starting-token", "garbage"]):
        p = aws("ecs", "list-task-definitions", *args, check=False)
        assert p.returncode != 0, args
        if args[0] != "--starting-token":  # the CLI itself rejects a malformed starting token
            assert "InvalidParameterException" in p.stderr, (args, p.stderr)


def test_describe_services_visibility_delay(ecs):
    td1 = ecs.register("vis", [container("app", "scripted/app:1", environment=RUN)])
    td2 = ecs.register("vis", [container("app", "scripted/app:2", environment=RUN)])
    # 0 (the default): what CreateService/UpdateService did is visible at once
    control("/_testbed/config", {"deployment_visibility_seconds": 0})
    ecs.create_service("now", td1, desired=1)
    assert ecs.service("now")["taskDefinition"] == td1
    aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "now", "--task-definition", td2)
    s = ecs.service("now")
    assert s["taskDefinition"] == td2 and s["deployments"][0]["taskDefinition"] == td2

    control("/_testbed/config", {"deployment_visibility_seconds": 4})
    t0 = time.time()
    created = ecs.create_service("late", td1, desired=1)
    assert created["taskDefinition"] == td1  # the CreateService answer itself is complete
    out = aws("ecs", "describe-services", "--cluster", ecs.cluster, "--services", "late")
    if time.time() - t0 < 3.5:
        assert out["services"] == [] and out["failures"] == [
            {"arn": created["serviceArn"], "reason": "MISSING"}]
    s = wait_for(lambda: (lambda o: o["services"][0] if o["services"] else None)(
        aws("ecs", "describe-services", "--cluster", ecs.cluster, "--services", "late")),
        timeout=20, what="the new service to become visible")
    assert time.time() - t0 >= 4 and s["taskDefinition"] == td1
    ecs.wait_completed("late")
    before = ecs.service("late")
    t0 = time.time()
    upd = aws("ecs", "update-service", "--cluster", ecs.cluster, "--service", "late", "--task-definition", td2)
    assert upd["service"]["taskDefinition"] == td2 and len(upd["service"]["deployments"]) == 2
    s = ecs.service("late")
    if time.time() - t0 < 3.5:
        assert s["taskDefinition"] == td1
        assert [d["id"] for d in s["deployments"]] == [d["id"] for d in before["deployments"]]
    s = wait_for(lambda: (lambda s: s if s["taskDefinition"] == td2 else None)(ecs.service("late")),
                 timeout=20, what="the update to become visible")
    assert time.time() - t0 >= 4
    assert s["deployments"][0]["taskDefinition"] == td2
    # ListServiceDeployments is not delayed
    assert len(sds(ecs, "late")) == 2
