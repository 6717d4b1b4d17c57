"""ECS service deployments and service revisions, on top of the lifecycle in ecs_ext.

AWS (ECS API reference: ServiceDeployment, ServiceRevision, ListServiceDeployments,
DescribeServiceDeployments, DescribeServiceRevisions, StopServiceDeployment; developer guide
"View service history using Amazon ECS service deployments", "Amazon ECS service revisions"):

* CreateService, and every UpdateService that starts a deployment, create a service deployment
  (arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID) and a new, immutable
  service revision (arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID) that records
  the task definition and the service settings being deployed.
* A rollback creates no service revision: it uses the last successful one, and it happens
  inside the failed service deployment (ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL/FAILED).
* States: PENDING -> IN_PROGRESS -> SUCCESSFUL; a new deployment moves an ongoing one to
  STOP_REQUESTED -> STOPPED; a circuit-breaker failure without rollback -> STOP_REQUESTED ->
  STOPPED; with rollback -> ROLLBACK_IN_PROGRESS -> ROLLBACK_SUCCESSFUL (or ROLLBACK_FAILED);
  StopServiceDeployment(ROLLBACK) -> ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS -> ...
* Task counts of the revisions are live while the deployment is ongoing and frozen when it ends
  ("the number of tasks running when the deployment completed").
* DeleteService deletes the service's deployments and revisions.

Also here (they wrap moto's ECS responses too):
* ListTaskDefinitions with `sort`, `status`, `familyPrefix` (the full family name, as AWS
  documents it), `maxResults` (1-100, default 100) and `nextToken`.
* The DescribeServices visibility delay (knob `deployment_visibility_seconds`): after a
  CreateService/UpdateService that starts a deployment, DescribeServices keeps answering with
  the service as it was before (a created service is MISSING) for that many seconds.

Everything runs under ecs_ext.LOCK (the server takes it around every request; the ticker too).
"""
import base64
import copy
import json
import random
import re
import string
from datetime import datetime, timezone

from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.core.responses import ActionResult

from . import config, ecs_ext, strategies

ONGOING = ("PENDING", "IN_PROGRESS", "STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")
FINISHED = ("SUCCESSFUL", "STOPPED", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED")
STATUSES = ONGOING + FINISHED
# what a newer deployment (or the breaker without rollback) stops
STOPPABLE = ("PENDING", "IN_PROGRESS", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS")

REASON_SUPERSEDED = "Service deployment stopped because a new service deployment started."
REASON_BREAKER_STOP = "Service deployment stopped because the circuit breaker threshold was exceeded."
REASON_BREAKER_ROLLBACK = "Service deployment rolled back because the circuit breaker threshold was exceeded."
REASON_USER_ROLLBACK = "Service deployment rolled back by StopServiceDeployment."
REASON_ROLLBACK_FAILED = "Service deployment rollback failed: the rolled-back service revision did not reach a steady state."
ROLLBACK_BY_BREAKER = "The deployment circuit breaker initiated the rollback operation."
ROLLBACK_BY_USER = "StopServiceDeployment (stopType ROLLBACK) initiated the rollback operation."


class ConflictException(ECSException):
    code = "ConflictException"

    def __init__(self, message):
        super().__init__(message)


class ServiceDeploymentNotFoundException(ECSException):
    code = "ServiceDeploymentNotFoundException"

    def __init__(self, message):
        super().__init__(message)


def _dt(ts):
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def _sd_id():
    alphabet = string.ascii_letters + string.digits + "-_"
    return "".join(random.choice(alphabet) for _ in range(21))


def _rev_id():
    return str(random.randint(1, 9)) + "".join(random.choice(string.digits) for _ in range(18))


def _partition_prefix(service):
    # service.arn = arn:PARTITION:ecs:REGION:ACCOUNT:service/CLUSTER/NAME
    return service.arn.split(":service/")[0]


class Store:
    """Per ECS backend (so moto's reset drops it with the backend)."""

    def __init__(self):
        self.deployments = {}  # arn -> ServiceDeployment (insertion order = creation order)
        self.revisions = {}    # arn -> dict (the ServiceRevision shape)
        self.snapshots = {}    # service key -> [visible_from (epoch), snapshot Service or None]


def store(backend):
    st = getattr(backend, "_tb_sd_store", None)
    if st is None:
        st = backend._tb_sd_store = Store()
    return st


def _runtime(service):
    srt = ecs_ext._svc_rt(service)
    if not hasattr(srt, "rev_of"):
        srt.rev_of = {}  # legacy deployment id (ecs-svc/...) -> service revision arn
    if not hasattr(srt, "failed_of"):
        srt.failed_of = {}  # legacy deployment id -> failedTasks when the breaker failed it
    return srt


class ServiceDeployment:
    def __init__(self, service, key, target_rev, target_legacy, sources):
        t = ecs_ext.now()
        self.arn = f"{_partition_prefix(service)}:service-deployment/{service.cluster_name}/{service.name}/{_sd_id()}"
        self.service_arn = service.arn
        self.cluster_arn = service.cluster_arn
        self.service_key = key
        self.created = t
        self.updated = t
        self.started = None
        self.finished = None
        self.stopped = None
        self.status = "PENDING"
        self.status_reason = None
        self.target_rev = target_rev
        self.target_legacy = target_legacy
        self.rollback_legacy = None
        self.rollback = None
        self.sources = list(sources)
        self.dconf = copy.deepcopy(ecs_ext._deployment_config(service))
        self.breaker_triggered = False
        self.frozen = None        # {rev arn: (requested, running, pending)} once finished
        self.frozen_failed = None
        self.frozen_threshold = None
        self.last_counts = None

    # ---- state changes
    def set_status(self, status, reason=None):
        t = ecs_ext.now()
        self.status = status
        if reason is not None:
            self.status_reason = reason
        self.updated = t
        if status == "IN_PROGRESS" and self.started is None:
            self.started = t
        if status == "STOPPED":
            self.stopped = t
        if status in FINISHED:
            self.finished = t

    def freeze(self, backend, service, tasks=None):
        if tasks is None:
            tasks = ecs_ext._service_tasks(backend, service)
        self.frozen = {r: _rev_counts(backend, service, r, tasks) for r in [self.target_rev] + self.sources}
        self.frozen_failed = _failed_tasks(service, self.target_legacy)
        self.frozen_threshold = ecs_ext.breaker_threshold(service.desired_count or 0)

    # ---- rendering
    def _summary(self, backend, service, rev):
        if self.frozen is not None:
            req, run, pend = self.frozen.get(rev, (0, 0, 0))
        elif service is not None:
            req, run, pend = _rev_counts(backend, service, rev)
        else:
            req, run, pend = 0, 0, 0
        return {"arn": rev, "requestedTaskCount": req, "runningTaskCount": run, "pendingTaskCount": pend}

    def brief(self):
        out = {"serviceDeploymentArn": self.arn, "serviceArn": self.service_arn, "clusterArn": self.cluster_arn,
               "createdAt": _dt(self.created), "status": self.status, "targetServiceRevisionArn": self.target_rev}
        if self.started is not None:
            out["startedAt"] = _dt(self.started)
        if self.finished is not None:
            out["finishedAt"] = _dt(self.finished)
        if self.status_reason:
            out["statusReason"] = self.status_reason
        return out

    def full(self, backend, service):
        out = self.brief()
        del out["targetServiceRevisionArn"]
        out["updatedAt"] = _dt(self.updated)
        if self.stopped is not None:
            out["stoppedAt"] = _dt(self.stopped)
        out["targetServiceRevision"] = self._summary(backend, service, self.target_rev)
        out["sourceServiceRevisions"] = [self._summary(backend, service, r) for r in self.sources]
        out["deploymentConfiguration"] = copy.deepcopy(self.dconf)
        cb = self.dconf.get("deploymentCircuitBreaker") or {}
        failed = self.frozen_failed if self.frozen is not None else _failed_tasks(service, self.target_legacy)
        if not cb.get("enable"):
            out["deploymentCircuitBreaker"] = {"status": "DISABLED", "failureCount": failed}
        else:
            threshold = self.frozen_threshold if self.frozen is not None else \
                ecs_ext.breaker_threshold((service.desired_count or 0) if service is not None else 0)
            status = "TRIGGERED" if self.breaker_triggered else (
                "MONITORING_COMPLETE" if self.status in FINISHED else "MONITORING")
            out["deploymentCircuitBreaker"] = {"status": status, "failureCount": failed, "threshold": threshold}
        alarms = self.dconf.get("alarms") or {}
        if alarms.get("enable"):
            out["alarms"] = {"status": "MONITORING_COMPLETE" if self.status in FINISHED else "MONITORING",
                             "alarmNames": list(alarms.get("alarmNames") or []), "triggeredAlarmNames": []}
        else:
            out["alarms"] = {"status": "DISABLED"}
        if self.rollback:
            out["rollback"] = {"reason": self.rollback["reason"], "startedAt": _dt(self.rollback["startedAt"]),
                               "serviceRevisionArn": self.rollback["serviceRevisionArn"]}
        return strategies.describe_extra(self, out)


def _failed_tasks(service, legacy_id):
    if service is None:
        return 0
    d = ecs_ext._find_deployment(service, legacy_id)
    if d is not None:
        return d.get("failedTasks", 0)
    return getattr(_runtime(service), "failed_of", {}).get(legacy_id, 0)


def _rev_counts(backend, service, rev, tasks=None):
    """(requested, running, pending) for a revision: its tasks are those started by the legacy
    deployments (ecs-svc/...) that deployed it.  `tasks`: the service's tasks, if at hand."""
    srt = _runtime(service)
    legacy = {lid for lid, r in srt.rev_of.items() if r == rev}
    if tasks is None:
        tasks = ecs_ext._service_tasks(backend, service)
    live = [t for t in tasks if t.desired_status == "RUNNING" and t.started_by in legacy]
    running = sum(1 for t in live if t.last_status == "RUNNING")
    pending = sum(1 for t in live if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
    primary = service.deployments[0]["id"] if service.deployments else None
    requested = (service.desired_count or 0) if primary in legacy and service.status == "ACTIVE" else len(live)
    return requested, running, pending


def _new_revision(backend, service):
    t = ecs_ext.now()
    arn = f"{_partition_prefix(service)}:service-revision/{service.cluster_name}/{service.name}/{_rev_id()}"
    td = backend.describe_task_definition(service.task_definition)
    rev = {
        "serviceRevisionArn": arn,
        "serviceArn": service.arn,
        "clusterArn": service.cluster_arn,
        "taskDefinition": td.arn,
        "containerImages": [{"containerName": c.get("name"), "image": c.get("image")}
                            for c in td.container_definitions],
        "loadBalancers": copy.deepcopy(service.load_balancers or []),
        "serviceRegistries": copy.deepcopy(service.service_registries or []),
        "guardDutyEnabled": False,
        "createdAt": _dt(t),
    }
    if service.launch_type:
        rev["launchType"] = service.launch_type
    cps = getattr(service, "capacity_provider_strategy", None)
    if cps:
        rev["capacityProviderStrategy"] = copy.deepcopy(cps)
    if service.platform_version:
        rev["platformVersion"] = service.platform_version
    if service.network_configuration:
        rev["networkConfiguration"] = copy.deepcopy(service.network_configuration)
    store(backend).revisions[arn] = rev
    return arn


# --------------------------------------------------------------------------- hooks from ecs_ext
def _service_deployments(backend, service):
    key = f"{service.cluster_name}:{service.name}"
    return [sd for sd in store(backend).deployments.values() if sd.service_key == key]


def on_new_deployment(backend, service, legacy):
    """CreateService / UpdateService started the legacy deployment `legacy` (ecs-svc/...)."""
    srt = _runtime(service)
    key = f"{service.cluster_name}:{service.name}"
    sources = []
    for d in service.deployments:
        r = srt.rev_of.get(d["id"])
        if d is not legacy and r and r not in sources:
            sources.append(r)
    for sd in _service_deployments(backend, service):
        if sd.status in STOPPABLE:
            sd.set_status("STOP_REQUESTED", REASON_SUPERSEDED)
    rev = _new_revision(backend, service)
    srt.rev_of[legacy["id"]] = rev
    sd = ServiceDeployment(service, key, rev, legacy["id"], sources)
    store(backend).deployments[sd.arn] = sd
    strategies.on_new_deployment(backend, service, legacy, sd)
    _update_service_view(backend, service)
    return sd


def on_breaker_failed(backend, service, failed, rollback_legacy, rolled_back_to):
    """The circuit breaker failed the legacy deployment `failed`; `rollback_legacy` is the legacy
    deployment ECS started to roll back to legacy deployment `rolled_back_to` (or None)."""
    srt = _runtime(service)
    srt.failed_of[failed["id"]] = failed.get("failedTasks", 0)
    for sd in _service_deployments(backend, service):
        if sd.status in ("PENDING", "IN_PROGRESS") and sd.target_legacy == failed["id"]:
            sd.breaker_triggered = True
            if rollback_legacy is not None:
                rev = srt.rev_of.get(rolled_back_to)
                srt.rev_of[rollback_legacy["id"]] = rev
                sd.rollback_legacy = rollback_legacy["id"]
                sd.rollback = {"reason": ROLLBACK_BY_BREAKER, "startedAt": ecs_ext.now(), "serviceRevisionArn": rev}
                sd.set_status("ROLLBACK_IN_PROGRESS", REASON_BREAKER_ROLLBACK)
            else:
                sd.set_status("STOP_REQUESTED", REASON_BREAKER_STOP)
        elif sd.status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS") and sd.rollback_legacy == failed["id"]:
            sd.freeze(backend, service)
            sd.set_status("ROLLBACK_FAILED", REASON_ROLLBACK_FAILED)
            if rollback_legacy is not None:
                srt.rev_of[rollback_legacy["id"]] = srt.rev_of.get(rolled_back_to)
        elif rollback_legacy is not None and rollback_legacy["id"] not in srt.rev_of:
            srt.rev_of[rollback_legacy["id"]] = srt.rev_of.get(rolled_back_to)


def on_completed(backend, service, legacy):
    """The legacy deployment `legacy` reached COMPLETED (steady state)."""
    for sd in _service_deployments(backend, service):
        if sd.target_legacy == legacy["id"] and sd.status in ("PENDING", "IN_PROGRESS"):
            if sd.status == "PENDING":
                sd.set_status("IN_PROGRESS")
            sd.freeze(backend, service)
            sd.set_status("SUCCESSFUL")
        elif sd.rollback_legacy == legacy["id"] and sd.status in ("ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
            sd.freeze(backend, service)
            sd.set_status("ROLLBACK_SUCCESSFUL")


def tick(backend, service):
    """Per ticker step: PENDING -> IN_PROGRESS, STOP_REQUESTED -> STOPPED,
    ROLLBACK_REQUESTED -> ROLLBACK_IN_PROGRESS; live counts; the service's current revisions."""
    sds = _service_deployments(backend, service)
    if not sds:
        return
    tasks = ecs_ext._service_tasks(backend, service)
    for sd in sds:
        if sd.status == "PENDING":
            sd.set_status("IN_PROGRESS")
        elif sd.status == "STOP_REQUESTED":
            sd.freeze(backend, service, tasks)
            sd.set_status("STOPPED")
        elif sd.status == "ROLLBACK_REQUESTED":
            sd.set_status("ROLLBACK_IN_PROGRESS")
        if sd.status in ONGOING:
            counts = tuple(_rev_counts(backend, service, r, tasks) for r in [sd.target_rev] + sd.sources)
            if counts != sd.last_counts:
                sd.last_counts = counts
                sd.updated = ecs_ext.now()
    _update_service_view(backend, service, sds, tasks)


def _update_service_view(backend, service, sds=None, tasks=None):
    """Service.currentServiceDeployment / currentServiceRevisions (DescribeServices)."""
    sds = sds if sds is not None else _service_deployments(backend, service)
    if not sds:
        return
    if tasks is None:
        tasks = ecs_ext._service_tasks(backend, service)
    service.current_service_deployment = sds[-1].arn
    srt = _runtime(service)
    revs = []
    for d in service.deployments:
        r = srt.rev_of.get(d["id"])
        if r and r not in revs:
            revs.append(r)
    out = []
    for r in revs:
        req, run, pend = _rev_counts(backend, service, r, tasks)
        out.append({"arn": r, "requestedTaskCount": req, "runningTaskCount": run, "pendingTaskCount": pend})
    service.current_service_revisions = out


def on_delete_service(backend, service):
    """DeleteService: ECS deletes the service's deployments and revisions."""
    st = store(backend)
    key = f"{service.cluster_name}:{service.name}"
    for arn in [a for a, sd in st.deployments.items() if sd.service_key == key]:
        del st.deployments[arn]
    for arn in [a for a, r in st.revisions.items() if r["serviceArn"] == service.arn]:
        del st.revisions[arn]
    st.snapshots.pop(key, None)
    for attr in ("current_service_deployment", "current_service_revisions"):
        if hasattr(service, attr):
            delattr(service, attr)


# --------------------------------------------------------------------------- DescribeServices delay
def snapshot_before(backend, service_key, service):
    """Called before a CreateService (service None) / UpdateService changes the service."""
    if service is None:
        return None
    snap = copy.copy(service)
    snap.deployments = copy.deepcopy(service.deployments)
    snap.events = list(service.events)
    snap.deployment_configuration = copy.deepcopy(getattr(service, "deployment_configuration", None))
    for attr in ("current_service_revisions",):
        if hasattr(service, attr):
            setattr(snap, attr, copy.deepcopy(getattr(service, attr)))
    return snap


def hide_until_visible(backend, service_key, snap):
    """A deployment was started: DescribeServices shows `snap` (None: the service is missing)
    for deployment_visibility_seconds."""
    delay = float(config.get("deployment_visibility_seconds") or 0)
    if delay <= 0:
        return
    st = store(backend)
    t = ecs_ext.now()
    cur = st.snapshots.get(service_key)
    if cur is not None and cur[0] > t:
        cur[0] = t + delay  # still hidden: keep what was visible, hide the newer change too
    else:
        st.snapshots[service_key] = [t + delay, snap]


def _describe_services(self):
    result = _orig_describe_services(self)
    try:
        backend = self.ecs_backend
        st = store(backend)
        if not st.snapshots:
            return result
        body = result.result
        t = ecs_ext.now()
        services, failures = [], list(body.get("failures") or [])
        for svc in body.get("services") or []:
            key = f"{svc.cluster_name}:{svc.name}"
            entry = st.snapshots.get(key)
            if entry is None or entry[0] <= t:
                if entry is not None:
                    del st.snapshots[key]
                services.append(svc)
            elif entry[1] is None:
                failures.append({"arn": svc.arn, "reason": "MISSING"})
            else:
                services.append(entry[1])
        body["services"] = services
        body["failures"] = failures
    except Exception:  # noqa: BLE001 - never break DescribeServices over the delay
        import traceback
        traceback.print_exc()
    return result


# --------------------------------------------------------------------------- pagination helpers
def _token(marker):
    return base64.urlsafe_b64encode(json.dumps({"m": marker}).encode()).decode()


def _from_token(token):
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))["m"]
    except Exception:  # noqa: BLE001
        raise InvalidParameterException("Invalid nextToken.")


def _page(items, key, max_results, token):
    """items already filtered and ordered; key(item) is a stable marker."""
    start = 0
    if token:
        marker = _from_token(token)
        keys = [key(i) for i in items]
        if marker not in keys:
            raise InvalidParameterException("Invalid nextToken.")
        start = keys.index(marker)
    page = items[start:start + max_results]
    nxt = _token(key(items[start + max_results])) if start + max_results < len(items) else None
    return page, nxt


def _max_results(value, default):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise InvalidParameterException("maxResults must be between 1 and 100.")
    return value


def _timestamp(value, name):
    if isinstance(value, bool):
        raise InvalidParameterException(f"Invalid {name}.")
    if isinstance(value, datetime):  # moto's request parser gives model timestamps as datetimes
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            d = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=timezone.utc)
            return d.timestamp()
        except ValueError:
            pass
    raise InvalidParameterException(f"Invalid {name}.")


# --------------------------------------------------------------------------- API handlers
def list_service_deployments(self):
    backend = self.ecs_backend
    service_str = self._get_param("service")
    cluster_str = self._get_param("cluster") or "default"
    statuses = self._get_param("status")
    created = self._get_param("createdAt")
    if not service_str or not isinstance(service_str, str):
        raise InvalidParameterException("Service cannot be empty.")
    max_results = _max_results(self._get_param("maxResults"), 20)
    if statuses is not None:
        if not isinstance(statuses, list):
            raise InvalidParameterException("status must be a list.")
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise InvalidParameterException(
                f"Invalid status {bad[0]!r}: valid values are {', '.join(STATUSES)}.")
    after = before = None
    if created is not None:
        if not isinstance(created, dict):
            raise InvalidParameterException("Invalid createdAt.")
        if created.get("after") is not None:
            after = _timestamp(created["after"], "createdAt.after")
        if created.get("before") is not None:
            before = _timestamp(created["before"], "createdAt.before")
        if after is not None and before is not None and after > before:
            raise InvalidParameterException("createdAt.after must not be later than createdAt.before.")
    service = backend._get_service(cluster_str, service_str)  # ClusterNotFound / ServiceNotFound
    sds = _service_deployments(backend, service)
    sds = [sd for sd in sds
           if (not statuses or sd.status in statuses)
           and (after is None or sd.created >= after)
           and (before is None or sd.created <= before)]
    sds.sort(key=lambda sd: sd.created, reverse=True)  # newest first
    page, nxt = _page(sds, lambda sd: sd.arn, max_results, self._get_param("nextToken"))
    out = {"serviceDeployments": [sd.brief() for sd in page]}
    if nxt:
        out["nextToken"] = nxt
    return ActionResult(out)


_SD_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-deployment/[^/]+/[^/]+/[^/]+$")
_SR_ARN = re.compile(r"^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service-revision/[^/]+/[^/]+/[^/]+$")


def _arn_list(value, name, pattern):
    if not isinstance(value, list) or not value:
        raise InvalidParameterException(f"{name} cannot be empty.")
    if len(value) > 20:
        raise InvalidParameterException(f"{name} can have at most 20 items.")
    for arn in value:
        if not isinstance(arn, str) or not pattern.match(arn):
            raise InvalidParameterException(f"Invalid ARN in {name}: {arn!r}.")
    return value


def describe_service_deployments(self):
    backend = self.ecs_backend
    arns = _arn_list(self._get_param("serviceDeploymentArns"), "serviceDeploymentArns", _SD_ARN)
    st = store(backend)
    found, failures = [], []
    for arn in arns:
        sd = st.deployments.get(arn)
        if sd is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(sd.full(backend, backend.services.get(sd.service_key)))
    return ActionResult({"serviceDeployments": found, "failures": failures})


def describe_service_revisions(self):
    backend = self.ecs_backend
    arns = _arn_list(self._get_param("serviceRevisionArns"), "serviceRevisionArns", _SR_ARN)
    st = store(backend)
    found, failures = [], []
    for arn in arns:
        rev = st.revisions.get(arn)
        if rev is None:
            failures.append({"arn": arn, "reason": "MISSING"})
        else:
            found.append(copy.deepcopy(rev))
    return ActionResult({"serviceRevisions": found, "failures": failures})


def stop_service_deployment(self):
    backend = self.ecs_backend
    arn = self._get_param("serviceDeploymentArn")
    stop_type = self._get_param("stopType") or "ROLLBACK"
    if not arn or not isinstance(arn, str):
        raise InvalidParameterException("serviceDeploymentArn cannot be empty.")
    if stop_type not in ("ROLLBACK", "ABORT"):
        raise InvalidParameterException(f"Invalid stopType {stop_type!r}: valid values are ROLLBACK, ABORT.")
    sd = store(backend).deployments.get(arn)
    if sd is None:
        raise ServiceDeploymentNotFoundException(f"Service deployment {arn} not found.")
    if stop_type == "ABORT":
        raise InvalidParameterException(
            "stopType ABORT is not supported for this service deployment: use ROLLBACK.")
    if sd.status in FINISHED:
        raise ConflictException(f"The service deployment {arn} has already completed with status {sd.status}.")
    if sd.status in ("STOP_REQUESTED", "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS"):
        return ActionResult({"serviceDeploymentArn": arn})  # it goes on stopping / rolling back
    service = backend.services.get(sd.service_key)
    srt = _runtime(service)
    if not srt.last_completed or srt.rev_of.get(srt.last_completed[0]) is None:
        raise InvalidParameterException(
            "The service has no successful service revision to roll back to.")
    if strategies.stop(backend, sd):
        return ActionResult({"serviceDeploymentArn": arn})
    strategies.release(backend, sd)
    prev_id, prev_td = srt.last_completed
    rev = srt.rev_of[prev_id]
    dep = ecs_ext._new_deployment(service, prev_td)
    service.task_definition = prev_td
    srt.rev_of[dep["id"]] = rev
    sd.rollback_legacy = dep["id"]
    sd.rollback = {"reason": ROLLBACK_BY_USER, "startedAt": ecs_ext.now(), "serviceRevisionArn": rev}
    sd.set_status("ROLLBACK_REQUESTED", REASON_USER_ROLLBACK)
    _update_service_view(backend, service)
    return ActionResult({"serviceDeploymentArn": arn})


def list_task_definitions(self):
    backend = self.ecs_backend
    family = self._get_param("familyPrefix")
    status = self._get_param("status") or "ACTIVE"
    sort = self._get_param("sort") or "ASC"
    if status not in ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS"):
        raise InvalidParameterException(
            f"Invalid status {status!r}: valid values are ACTIVE, INACTIVE, DELETE_IN_PROGRESS.")
    if sort not in ("ASC", "DESC"):
        raise InvalidParameterException(f"Invalid sort {sort!r}: valid values are ASC, DESC.")
    max_results = _max_results(self._get_param("maxResults"), 100)
    tds = [td for revs in backend.task_definitions.values() for td in revs.values()
           if (family is None or td.family == family) and td.status == status]
    tds.sort(key=lambda td: (td.family, td.revision), reverse=(sort == "DESC"))
    page, nxt = _page(tds, lambda td: td.arn, max_results, self._get_param("nextToken"))
    out = {"taskDefinitionArns": [td.arn for td in page]}
    if nxt:
        out["nextToken"] = nxt
    return ActionResult(out)


_orig_describe_services = None


def install():
    global _orig_describe_services
    _orig_describe_services = EC2ContainerServiceResponse.describe_services
    EC2ContainerServiceResponse.describe_services = _describe_services
    EC2ContainerServiceResponse.list_service_deployments = list_service_deployments
    EC2ContainerServiceResponse.describe_service_deployments = describe_service_deployments
    EC2ContainerServiceResponse.describe_service_revisions = describe_service_revisions
    EC2ContainerServiceResponse.stop_service_deployment = stop_service_deployment
    EC2ContainerServiceResponse.list_task_definitions = list_task_definitions
