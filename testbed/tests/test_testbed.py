"""ECR/registry wiring, control endpoints, and the scripts/testbed lifecycle."""
import base64
import os
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from testbed.tests.conftest import ENDPOINT, ENGINE, ENV, REGISTRY, TESTBED, aws, container, control, wait_for


def test_ecr_uri_and_token_reach_the_registry(busybox_image):
    repo = aws("ecr", "create-repository", "--repository-name", "tb/pushed")["repository"]
    assert repo["repositoryUri"] == f"{REGISTRY}/tb/pushed"
    auth = aws("ecr", "get-authorization-token")["authorizationData"][0]
    assert auth["proxyEndpoint"] == f"http://{REGISTRY}"
    user, pw = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    assert user == "AWS"
    password = subprocess.run(["aws", "ecr", "get-login-password"], env=ENV, capture_output=True, text=True,
                              check=True).stdout.strip()
    assert password == pw
    cfg = os.path.join(ENV["WHARF_TESTBED_DIR"], "test-docker-config")
    base = [ENGINE] + (["--config", cfg] if ENGINE == "docker" else [])
    subprocess.run(base + ["login", "--username", user, "--password-stdin", REGISTRY], input=pw, text=True,
                   check=True, capture_output=True)
    ref = f"{repo['repositoryUri']}:v1"
    subprocess.run([ENGINE, "tag", busybox_image, ref], check=True)
    subprocess.run(base + ["push", ref], check=True, capture_output=True)
    # ECR's image APIs reflect what was pushed to the registry
    imgs = aws("ecr", "describe-images", "--repository-name", "tb/pushed")["imageDetails"]
    assert [i["imageTags"] for i in imgs] == [["v1"]]
    assert aws("ecr", "list-images", "--repository-name", "tb/pushed")["imageIds"][0]["imageTag"] == "v1"
    # a wrong password is refused by the registry
    req = urllib.request.Request(f"http://{REGISTRY}/v2/", headers={
        "Authorization": "Basic " + base64.b64encode(b"AWS:wrong").decode()})
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(req, timeout=10)


def test_ecr_image_lookups_answer_as_aws_documents(busybox_image):
    """DescribeImages and BatchGetImage for an image pushed with docker (wharf's image check
    relies on them): found by tag and by digest; a missing tag, digest or repository is reported
    as AWS documents it."""
    name = "tb/lookup-" + uuid.uuid4().hex[:6]
    repo = aws("ecr", "create-repository", "--repository-name", name)["repository"]
    pw = subprocess.run(["aws", "ecr", "get-login-password"], env=ENV, capture_output=True, text=True,
                        check=True).stdout.strip()
    cfg = os.path.join(ENV["WHARF_TESTBED_DIR"], "test-docker-config")
    base = [ENGINE] + (["--config", cfg] if ENGINE == "docker" else [])
    subprocess.run(base + ["login", "--username", "AWS", "--password-stdin", REGISTRY], input=pw, text=True,
                   check=True, capture_output=True)
    ref = f"{repo['repositoryUri']}:v1"
    subprocess.run([ENGINE, "tag", busybox_image, ref], check=True)
    subprocess.run(base + ["push", ref], check=True, capture_output=True)
    missing = "sha256:" + "0" * 64

    # BatchGetImage first (before DescribeImages imports the registry's tags): by digest, with a
    # missing digest asked first.
    by_tag = aws("ecr", "batch-get-image", "--repository-name", name, "--image-ids", "imageTag=v1")
    assert by_tag["failures"] == []
    digest = by_tag["images"][0]["imageId"]["imageDigest"]
    assert by_tag["images"][0]["imageId"]["imageTag"] == "v1"
    other = "tb/lookup-" + uuid.uuid4().hex[:6]
    aws("ecr", "create-repository", "--repository-name", other)
    subprocess.run([ENGINE, "tag", busybox_image, f"{REGISTRY}/{other}:v1"], check=True)
    subprocess.run(base + ["push", f"{REGISTRY}/{other}:v1"], check=True, capture_output=True)
    both = aws("ecr", "batch-get-image", "--repository-name", other, "--image-ids",
               f"imageDigest={missing}", f"imageDigest={digest}")
    assert [i["imageId"]["imageDigest"] for i in both["images"]] == [digest]
    assert both["failures"] == [{"imageId": {"imageDigest": missing}, "failureCode": "ImageNotFound",
                                 "failureReason": "Requested image not found"}]

    details = aws("ecr", "describe-images", "--repository-name", name, "--image-ids",
                  "imageTag=v1")["imageDetails"]
    assert [(d["imageDigest"], d["imageTags"]) for d in details] == [(digest, ["v1"])]
    details = aws("ecr", "describe-images", "--repository-name", name, "--image-ids",
                  f"imageDigest={digest}")["imageDetails"]
    assert [d["imageDigest"] for d in details] == [digest]
    for ids, error in ((["imageTag=nope"], "ImageNotFoundException"),
                       ([f"imageDigest={missing}"], "ImageNotFoundException")):
        p = aws("ecr", "describe-images", "--repository-name", name, "--image-ids", *ids, check=False)
        assert p.returncode != 0 and error in p.stderr, p.stderr
    p = aws("ecr", "describe-images", "--repository-name", "tb/no-such-repo", "--image-ids", "imageTag=v1",
            check=False)
    assert p.returncode != 0 and "RepositoryNotFoundException" in p.stderr, p.stderr


def test_request_log_counts_and_faults():
    control("/_testbed/requests", method="DELETE")
    aws("ecs", "list-clusters")
    aws("ecs", "list-clusters")
    counts = control("/_testbed/requests")["counts"]
    assert counts.get("ecs:ListClusters") == 2
    log = os.path.join(ENV["WHARF_TESTBED_DIR"], "requests.log")
    assert "\tecs\tListClusters" in open(log).read()

    # the next 2 ListClusters are throttled; the CLI retries and succeeds
    control("/_testbed/faults", {"operations": ["ListClusters"], "error": "throttle", "count": 2})
    control("/_testbed/requests", method="DELETE")
    aws("ecs", "list-clusters")
    assert control("/_testbed/requests")["counts"]["ecs:ListClusters"] == 3
    # a direct request sees the ThrottlingException body
    control("/_testbed/faults", {"operations": ["ecs:ListClusters"], "error": "throttle", "count": 1})
    req = urllib.request.Request(ENDPOINT + "/", data=b"{}", method="POST", headers={
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters",
        "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/ecs/aws4_request, "
                         "SignedHeaders=host, Signature=x"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=20)
    assert e.value.code == 400
    assert b'"__type": "ThrottlingException"' in e.value.read()
    # 503 for every call, with the CLI's retries disabled
    control("/_testbed/faults", {"operations": ["DescribeClusters"], "error": "503", "rate": 1.0})
    env = dict(ENV, AWS_MAX_ATTEMPTS="1")
    p = subprocess.run(["aws", "ecs", "describe-clusters"], env=env, capture_output=True, text=True)
    assert p.returncode != 0
    control("/_testbed/faults", method="DELETE")
    aws("ecs", "describe-clusters")


def test_deployment_record(ecs):
    td = ecs.register("rec", [container("a", "scripted/a:1", environment=[
        {"name": "TESTBED_RUN_SECONDS", "value": "600"}])])
    dep = ecs.create_service("rec", td, desired=1)["deployments"][0]["id"]
    ecs.wait_completed("rec")
    rec = control("/_testbed/deployments")["deployments"][dep]
    assert rec["status"] == "COMPLETED" and rec["at"] >= rec["created"]


def test_config_endpoint():
    cfg = control("/_testbed/config", {"pending_seconds": 0.7})
    assert cfg["pending_seconds"] == 0.7
    with pytest.raises(urllib.error.HTTPError):
        control("/_testbed/config", {"no_such_knob": 1})


def test_up_twice_then_down_then_up():
    pid_file = os.path.join(ENV["WHARF_TESTBED_DIR"], "run", "moto.pid")
    subprocess.run([TESTBED, "up"], check=True, timeout=240)
    pid = open(pid_file).read().strip()
    subprocess.run([TESTBED, "up"], check=True, timeout=240)
    assert open(pid_file).read().strip() == pid
    subprocess.run([TESTBED, "down"], check=True, timeout=240)
    assert subprocess.run([TESTBED, "status"], capture_output=True).returncode != 0
    subprocess.run([TESTBED, "up"], check=True, timeout=240)
    assert open(pid_file).read().strip() != pid
    assert subprocess.run([TESTBED, "status"], capture_output=True).returncode == 0
    wait_for(lambda: aws("ecs", "list-clusters") is not None, timeout=20)
