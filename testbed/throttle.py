"""Request-rate limits of the ECS API, as AWS documents them ("Request throttling for the Amazon
ECS API", ECS API reference): a token bucket per API action category, per account and Region.
Each request takes one token; a request that finds the bucket empty is answered HTTP 400
{"__type": "ThrottlingException", "message": "Rate exceeded"} and takes nothing. A bucket
refills continuously at its refill rate (the sustained rate) up to its maximum capacity (the
burst rate). Knob `ecs_throttle_scale` multiplies both (1 = AWS's numbers, 0 = no throttling).
"""
import re
import threading
import time
from collections import Counter

from . import config

# (category, bucket maximum capacity, bucket refill rate per second, actions), from the table
# "Request Token Bucket Sizes and Refill Rates" of the ECS API reference.
ECS_BUCKETS = [
    ("Cluster modify actions", 20, 1,
     ["CreateCluster", "DeleteCluster", "PutClusterCapacityProviders", "UpdateCluster", "UpdateClusterSettings"]),
    ("Cluster read actions", 50, 20, ["DescribeClusters", "ListClusters"]),
    ("Task definition modify actions", 20, 1, ["DeregisterTaskDefinition", "RegisterTaskDefinition"]),
    ("Task definition read actions", 50, 20,
     ["DescribeTaskDefinition", "ListTaskDefinitions", "ListTaskDefinitionFamilies"]),
    ("Task definition deletion actions", 5, 1, ["DeleteTaskDefinitions"]),
    ("Capacity provider modify actions", 10, 1,
     ["CreateCapacityProvider", "DeleteCapacityProvider", "UpdateCapacityProvider"]),
    ("Capacity provider read actions", 50, 20, ["DescribeCapacityProviders"]),
    ("Tag modify actions", 20, 10, ["TagResource", "UntagResource"]),
    ("Tag read actions", 50, 20, ["ListTagsForResource"]),
    ("Setting modify actions", 10, 1, ["DeleteAccountSetting", "PutAccountSetting", "PutAccountSettingDefault"]),
    ("Setting read actions", 50, 20, ["ListAccountSettings"]),
    ("Cluster resource modify actions", 100, 40,
     ["DeleteAttributes", "DeregisterContainerInstance", "ExecuteCommand", "PutAttributes", "RunTask",
      "StartTask", "StopTask", "UpdateContainerAgent", "UpdateContainerInstancesState"]),
    ("Cluster resource read actions", 100, 20,
     ["DescribeContainerInstances", "DescribeTasks", "ListAttributes", "ListContainerInstances", "ListTasks"]),
    ("Agent modify actions", 200, 120,
     ["RegisterContainerInstance", "SubmitAttachmentStateChanges", "SubmitContainerStateChange",
      "SubmitTaskStateChange"]),
    ("Service modify actions", 50, 5, ["CreateService", "DeleteService", "UpdateService"]),
    ("Service read actions", 100, 20, ["DescribeServices", "ListServices"]),
    ("Service deployment actions", 50, 20, ["DescribeServiceDeployments", "ListServiceDeployments"]),
    ("Service revision actions", 50, 20, ["DescribeServiceRevisions"]),
    ("Task protection actions", 200, 80, ["UpdateTaskProtection", "GetTaskProtection"]),
    ("Cluster service resource read actions", 10, 1, ["ListServicesByNamespace"]),
]
CATEGORY_OF = {op: (cat, burst, refill) for cat, burst, refill, ops in ECS_BUCKETS for op in ops}

_CRED_RE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")
_lock = threading.Lock()
_buckets = {}  # (account, region, category) -> [tokens, last refill time, scale]
_throttled = Counter()  # "ecs:Operation" -> throttled requests since the last clear


def _account(access_key):
    try:
        from moto.iam.models import get_account_id_from
        return get_account_id_from(access_key)
    except Exception:  # noqa: BLE001
        import os
        return os.environ.get("MOTO_ACCOUNT_ID", "123456789012")


def allow(environ, service, op):
    """Take a token for this request; False when it is throttled."""
    if service != "ecs" or op not in CATEGORY_OF:
        return True
    scale = float(config.get("ecs_throttle_scale") or 0)
    if scale <= 0:
        return True
    m = _CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (m.group(1), m.group(2)) if m else ("", "us-east-1")
    category, burst, refill = CATEGORY_OF[op]
    capacity = max(1.0, burst * scale)
    rate = refill * scale
    key = (_account(access_key), region, category)
    t = time.monotonic()
    with _lock:
        b = _buckets.get(key)
        if b is None or b[2] != scale:
            b = _buckets[key] = [capacity, t, scale]
        else:
            b[0] = min(capacity, b[0] + (t - b[1]) * rate)
            b[1] = t
        if b[0] >= 1.0:
            b[0] -= 1.0
            return True
        _throttled[f"{service}:{op}"] += 1
        return False


def refill_all():
    with _lock:
        _buckets.clear()


def clear():
    with _lock:
        _throttled.clear()
        _buckets.clear()


def stats():
    t = time.monotonic()
    with _lock:
        buckets = {}
        for (account, region, category), (tokens, last, scale) in _buckets.items():
            _, burst, refill = next((c, b, r) for c, b, r, _ops in ECS_BUCKETS if c == category)
            capacity = max(1.0, burst * scale)
            buckets[f"{account}/{region}/{category}"] = {
                "tokens": round(min(capacity, tokens + (t - last) * refill * scale), 3),
                "capacity": capacity, "refillPerSecond": refill * scale}
        throttled = dict(_throttled)
    return {"throttled_total": sum(throttled.values()), "throttled": throttled,
            "ecs_throttle_scale": config.get("ecs_throttle_scale"), "buckets": buckets}
