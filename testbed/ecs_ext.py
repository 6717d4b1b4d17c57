"""ECS lifecycle extension for moto.

moto stores ECS objects but never runs them.  This module patches
moto.ecs.models so that services roll out deployments, tasks move through
their lifecycle, containers run (for real with docker/podman, or scripted by
environment variables), logs reach CloudWatch Logs, and the deployment circuit
breaker works.  moto's own validation and response shapes are kept: the
patched methods call the originals and add behaviour around them.

All model state is changed under LOCK (the server also takes it around every
request), by the API handlers and by the ticker thread.
"""
import math
import os
import random
import string
import threading
import time
import traceback
from datetime import datetime, timezone

from moto.ecs import models as ecs_models
from moto.ecs.models import EC2ContainerServiceBackend, Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse

from . import capacity_providers, config, engine, instances
from . import service_deployments as sdx
from . import strategies

LOCK = threading.RLock()
_local = threading.local()
ENGINE = "none"
STATE_DIR = os.environ.get("WHARF_TESTBED_DIR", os.path.expanduser("~/.cache/wharf-testbed"))
# deployment id -> {"service", "cluster", "status", "at", "created"}: for benchmarks
DEPLOYMENT_RECORD = {}
SCRIPT_VARS = ("TESTBED_EXIT_CODE", "TESTBED_RUN_SECONDS", "TESTBED_HEALTH", "TESTBED_OUTPUT")



def _resource_requirements(backend, taskdef):
    """moto's accounting adds each container's memory, which Fargate task definitions leave out
    (memory is set for the task). Fall back to the task-level values, as ECS does."""
    try:
        return backend._calculate_task_resource_requirements(taskdef)
    except TypeError:
        return {"CPU": int(float(taskdef.cpu or 0)), "MEMORY": int(float(taskdef.memory or 0)),
                "PORTS": [], "PORTS_UDP": []}

def now():
    return time.time()


def dt(ts):
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def new_deployment_id():
    return "ecs-svc/" + "".join(random.choice(string.digits) for _ in range(19))


# --------------------------------------------------------------------------- helpers
def _task_id(task):
    return task.id


def _svc_event(service, message, ts=None):
    ts = ts or now()
    service.events.insert(0, {"id": _uuid(), "createdAt": dt(ts), "message": message})
    del service.events[100:]


def _uuid():
    import uuid
    return str(uuid.uuid4())


def _env_list_to_dict(lst):
    return {e["name"]: e.get("value", "") for e in (lst or []) if "name" in e}


def _find_deployment(service, dep_id):
    for d in service.deployments:
        if d.get("id") == dep_id:
            return d
    return None


def _deployment_config(service):
    dc = getattr(service, "deployment_configuration", None) or {}
    cb = dc.get("deploymentCircuitBreaker") or {}
    full = {
        "deploymentCircuitBreaker": {"enable": bool(cb.get("enable", False)),
                                     "rollback": bool(cb.get("rollback", False))},
        "maximumPercent": int(dc.get("maximumPercent", 200)),
        "minimumHealthyPercent": int(dc.get("minimumHealthyPercent", 100)),
    }
    for k, v in dc.items():
        full.setdefault(k, v)
    service.deployment_configuration = full
    return full


def breaker_threshold(desired):
    return max(config.get("breaker_min_threshold"),
               min(config.get("breaker_max_threshold"), math.ceil(0.5 * desired)))


# --------------------------------------------------------------------------- logs / secrets
def _logs_backend(account, region):
    from moto.logs.models import logs_backends
    return logs_backends[account][region]


def _resolve_secret(account, region, value_from):
    """SSM parameter (name or ARN) or Secrets Manager secret (ARN[:json-key::])."""
    if ":secretsmanager:" in value_from:
        from moto.secretsmanager.models import secretsmanager_backends
        parts = value_from.split(":")
        sec_region = parts[3] or region
        secret_id = ":".join(parts[:7])
        json_key = parts[7] if len(parts) > 7 and parts[7] else None
        sm = secretsmanager_backends[account][sec_region]
        val = sm.get_secret_value(secret_id, None, None)["SecretString"]
        if json_key:
            import json
            val = str(json.loads(val)[json_key])
        return val
    from moto.ssm.models import ssm_backends
    p_region = region
    name = value_from
    if value_from.startswith("arn:"):
        parts = value_from.split(":", 5)
        p_region = parts[3] or region
        name = parts[5][len("parameter"):]  # "/x/y" or "/x"
    ssm = ssm_backends[account][p_region]
    for cand in (name, name.lstrip("/"), "/" + name.lstrip("/")):
        try:
            p = ssm.get_parameter(cand)
        except Exception:  # noqa: BLE001
            p = None
        if p is not None:
            val = p.value
            prefix = f"kms:{getattr(p, 'keyid', None) or 'alias/aws/ssm'}:"
            if getattr(p, "parameter_type", "") == "SecureString" and val.startswith(prefix):
                val = val[len(prefix):]  # moto stores SecureStrings as "kms:<key>:<value>"
            return val
    raise KeyError(value_from)


# --------------------------------------------------------------------------- task runtime
class TaskRuntime:
    def __init__(self, task, backend, taskdef, overrides, service_key=None):
        self.task = task
        self.backend = backend
        self.taskdef = taskdef
        self.service_key = service_key
        self.created = now()
        self.pending_at = None
        self.running_at = None
        self.stopping_at = None
        self.stopped_at = None
        self.failed = False
        self.runner = None
        self.specs = []
        self.health_failed_reported = False
        self.log_targets = {}
        overrides = overrides or {}
        by_name = {o.get("name"): o for o in overrides.get("containerOverrides", []) or []}
        global_run = config.get("run_containers")
        if global_run is None:
            global_run = ENGINE != "none"
        for cdef in taskdef.container_definitions:
            o = by_name.get(cdef.get("name"), {})
            env = _env_list_to_dict(cdef.get("environment"))
            env.update(_env_list_to_dict(o.get("environment")))
            mode = env.get("TESTBED_RUN_CONTAINERS")
            if mode is not None:
                scripted = mode.strip().lower() in ("0", "false", "no", "off")
            else:
                scripted = (not global_run) or any(v in env for v in SCRIPT_VARS)
            if ENGINE == "none":
                scripted = True
            hc = cdef.get("healthCheck")
            health = None
            if hc and hc.get("command"):
                interval = config.get("health_check_interval") or hc.get("interval", 30)
                health = {"command": hc["command"], "interval": interval,
                          "timeout": min(hc.get("timeout", 5), max(interval, 1)),
                          "retries": hc.get("retries", 3), "startPeriod": hc.get("startPeriod", 0)}
            self.specs.append({
                "name": cdef.get("name"), "image": cdef.get("image"), "scripted": scripted,
                "env": env, "command": o.get("command") or cdef.get("command"),
                "entrypoint": cdef.get("entryPoint"), "health": health,
                "essential": cdef.get("essential", True), "secrets": cdef.get("secrets") or [],
                "stop_timeout": cdef.get("stopTimeout", 2) if cdef.get("stopTimeout") is not None else 2,
                "log": cdef.get("logConfiguration"),
                "mounts": [(m.get("sourceVolume"), m.get("containerPath"), bool(m.get("readOnly")))
                           for m in cdef.get("mountPoints") or []],
                "volumes_from": [(v.get("sourceContainer"), bool(v.get("readOnly")))
                                 for v in cdef.get("volumesFrom") or []],
                "depends_on": [(d.get("containerName"), (d.get("condition") or "START").upper())
                               for d in cdef.get("dependsOn") or []],
            })
        task.containers = [{
            "containerArn": f"arn:aws:ecs:{task.region_name}:{backend.account_id}:container/{task.cluster_name}/{task.id}/{_uuid()}",
            "taskArn": task.task_arn,
            "name": s["name"], "image": s["image"], "lastStatus": "PENDING",
            "healthStatus": "UNKNOWN", "networkInterfaces": [],
            "cpu": str(c.get("cpu", 0)),
            **({"memory": str(c["memory"])} if c.get("memory") else {}),
        } for s, c in zip(self.specs, taskdef.container_definitions)]
        for c, s in zip(task.containers, self.specs):
            if task.attachments:
                det = {d["name"]: d["value"] for d in task.attachments[0]["details"]}
                c["networkInterfaces"] = [{"attachmentId": task.attachments[0]["id"],
                                           "privateIpv4Address": det.get("privateIPv4Address")}]
        task.status = "PROVISIONING"
        task.desired_status = "RUNNING"
        task.created_at = dt(self.created)
        task.health_status = "UNKNOWN"
        task.connectivity = "CONNECTED"
        task.connectivity_at = dt(self.created)
        task.availability_zone = f"{task.region_name}a"
        task.version = 1
        task.cpu = taskdef.cpu
        task.memory = taskdef.memory
        task._tb = self

    # ---- container helpers
    def container(self, name):
        for c in self.task.containers:
            if c["name"] == name:
                return c
        return None

    def spec(self, name):
        for s in self.specs:
            if s["name"] == name:
                return s
        return None

    def emit_output(self, spec, line, ts=None):
        tgt = self.log_targets.get(spec["name"])
        if not tgt:
            return
        lb, group, stream = tgt
        with LOCK:
            try:
                lb.put_log_events(group, stream, [{"timestamp": int((ts or now()) * 1000), "message": line}])
            except Exception:  # noqa: BLE001
                pass

    def prepare(self):
        """At PENDING: secrets, log streams, runner.  Returns an error (stop_code, reason) or None."""
        task = self.task
        account, region = self.backend.account_id, task.region_name
        for s in self.specs:
            for sec in s["secrets"]:
                try:
                    s["env"][sec["name"]] = _resolve_secret(account, region, sec["valueFrom"])
                except Exception:  # noqa: BLE001
                    return ("TaskFailedToStart",
                            "ResourceInitializationError: unable to pull secrets or registry auth: "
                            "execution resource retrieval failed: unable to retrieve secret from asm/ssm: "
                            f"service call has been retried 1 time(s): parameter or secret {sec['valueFrom']} not found")
            log = s["log"] or {}
            if log.get("logDriver") == "awslogs":
                opts = log.get("options") or {}
                group = opts.get("awslogs-group")
                lregion = opts.get("awslogs-region") or region
                prefix = opts.get("awslogs-stream-prefix")
                stream = f"{prefix}/{s['name']}/{task.id}" if prefix else f"{task.id}/{s['name']}"
                try:
                    lb = _logs_backend(account, lregion)
                    if group not in lb.groups:
                        if str(opts.get("awslogs-create-group", "")).lower() == "true":
                            lb.create_log_group(group, {})
                        else:
                            return ("TaskFailedToStart",
                                    "ResourceInitializationError: failed to validate logger args: create stream has "
                                    "been retried 1 times: failed to create Cloudwatch log stream: "
                                    "ResourceNotFoundException: The specified log group does not exist. : exit status 1")
                    if stream not in lb.groups[group].streams:
                        lb.create_log_stream(group, stream)
                    self.log_targets[s["name"]] = (lb, group, stream)
                except Exception as e:  # noqa: BLE001
                    return ("TaskFailedToStart", f"ResourceInitializationError: failed to validate logger args: {e}")
            s["on_output"] = (lambda spec: (lambda line: self.emit_output(spec, line)))(s)
        real = [s for s in self.specs if not s["scripted"]]
        if real:
            volumes = [v.get("name") for v in self.taskdef.volumes or [] if v.get("name")]
            shared = getattr(self.taskdef, "network_mode", None) == "awsvpc" and len(real) > 1
            self.runner = engine.EngineRunner(task.id, real, ENGINE, STATE_DIR, volumes, shared)
            self.runner.start()
        scripted = [s for s in self.specs if s["scripted"]]
        self.script_runner = engine.Runner(task.id, scripted) if scripted else None
        if self.script_runner:
            self.script_runner.start()
        return None

    def runners(self):
        return [r for r in (self.runner, getattr(self, "script_runner", None)) if r]


def _tb(task):
    return getattr(task, "_tb", None)


# --------------------------------------------------------------------------- task stepping
def request_stop(task, stop_code, reason, failed=False, container_reasons=None):
    rt = _tb(task)
    if task.desired_status == "STOPPED" and rt and rt.stopping_at:
        return
    task.desired_status = "STOPPED"
    task.stop_code = stop_code
    task.stopped_reason = reason
    ts = now()
    if rt:
        rt.failed = failed
        rt.stopping_at = ts
        for name, why in (container_reasons or {}).items():
            c = rt.container(name)
            if c is not None:
                c["reason"] = why
        for r in rt.runners():
            r.stop()
        if failed and rt.service_key:
            svc = rt.backend.services.get(rt.service_key)
            if svc is not None:
                dep = _find_deployment(svc, task.started_by)
                if dep is not None:
                    dep["failedTasks"] = dep.get("failedTasks", 0) + 1
                srt = _svc_rt(svc)
                srt.consecutive_failures += 1
                delay = min(config.get("launch_backoff_base") * 2 ** (srt.consecutive_failures - 1),
                            config.get("launch_backoff_max"))
                srt.next_launch_at = ts + delay
    task.stopping_at = dt(ts)
    if task.last_status in ("RUNNING", "ACTIVATING"):
        task.status = "DEACTIVATING" if task.attachments else "STOPPING"
    elif task.last_status in ("PROVISIONING", "PENDING"):
        task.status = "STOPPING" if task.last_status == "PENDING" else "DEPROVISIONING"


def _container_health(rt, spec, c):
    if not spec["health"]:
        return None
    if not spec["scripted"]:
        st = rt.runner.containers.get(spec["name"]) if rt.runner else None
        return st.health if st else "UNKNOWN"
    want = spec["env"].get("TESTBED_HEALTH", "healthy").strip().lower()
    h = spec["health"]
    elapsed = now() - (rt.running_at or now())
    if want == "unhealthy":
        if elapsed >= h["startPeriod"] + h["interval"] * max(1, h["retries"]):
            return "UNHEALTHY"
        return "UNKNOWN"
    return "HEALTHY" if elapsed >= min(h["interval"], 1.0) * 0 else "UNKNOWN"


def _scripted_exit(spec, rt):
    env = spec["env"]
    code = env.get("TESTBED_EXIT_CODE")
    secs = env.get("TESTBED_RUN_SECONDS")
    if code is None and secs is None:
        return None
    secs = float(secs) if secs not in (None, "") else 0.0
    if now() - rt.running_at >= secs:
        return int(code) if code not in (None, "") else 0
    return None


def _expand(line, env):
    return string.Template(line).safe_substitute(env)


def step_task(task):
    rt = _tb(task)
    if rt is None:
        return
    t = now()
    if task.desired_status == "RUNNING":
        if capacity_providers.waiting(task):
            return  # waits in PROVISIONING for capacity (testbed/capacity_providers.py)
        if task.last_status == "PROVISIONING" and t - rt.created >= config.get("provisioning_seconds"):
            task.status = "PENDING"
            rt.pending_at = t
            task.pull_started_at = dt(t)
            err = rt.prepare()
            if err:
                request_stop(task, err[0], err[1], failed=True,
                             container_reasons={s["name"]: err[1] for s in rt.specs})
            return
        if task.last_status == "PENDING":
            for r in rt.runners():
                if r.pull_error:
                    request_stop(task, "TaskFailedToStart", r.pull_error, failed=True,
                                 container_reasons={s["name"]: r.pull_error for s in r.specs})
                    return
                if r.start_error:
                    # what ran before the task gave up (a failed init container) keeps its exit code
                    for s in r.specs:
                        st = r.containers[s["name"]]
                        if st.status == "STOPPED" and st.exit_code is not None:
                            rt.container(s["name"])["exitCode"] = st.exit_code
                    request_stop(task, "TaskFailedToStart", r.start_error, failed=True,
                                 container_reasons={s["name"]: r.start_error for s in r.specs
                                                    if r.containers[s["name"]].exit_code is None})
                    return
            if all(r.started for r in rt.runners()) and t - rt.pending_at >= config.get("pending_seconds"):
                task.status = "RUNNING"
                rt.running_at = t
                task.pull_stopped_at = dt(t)
                task.started_at = dt(t)
                for s in rt.specs:
                    c = rt.container(s["name"])
                    c["lastStatus"] = "RUNNING"
                    if s["scripted"]:
                        for line in s["env"].get("TESTBED_OUTPUT", "").splitlines():
                            rt.emit_output(s, _expand(line, s["env"]))
            else:
                return
        if task.last_status == "RUNNING":
            essential_exit = None
            unhealthy = []
            for s in rt.specs:
                c = rt.container(s["name"])
                if c["lastStatus"] == "STOPPED":
                    continue
                if s["scripted"]:
                    code = _scripted_exit(s, rt)
                else:
                    st = rt.runner.containers[s["name"]]
                    code = st.exit_code if st.status == "STOPPED" else None
                    if st.status == "STOPPED" and code is None:
                        code = 137
                h = _container_health(rt, s, c)
                if h:
                    c["healthStatus"] = h
                    if h == "UNHEALTHY" and s["essential"]:
                        unhealthy.append(s["name"])
                if code is not None:
                    c["lastStatus"] = "STOPPED"
                    c["exitCode"] = code
                    if s["essential"] and essential_exit is None:
                        essential_exit = s["name"]
            _update_task_health(rt)
            if essential_exit:
                # the other containers are stopped too
                request_stop(task, "EssentialContainerExited", "Essential container in task exited",
                             failed=bool(rt.service_key))
                return
            if unhealthy and rt.service_key:
                svc = rt.backend.services.get(rt.service_key)
                if svc is not None and not rt.health_failed_reported:
                    rt.health_failed_reported = True
                    _svc_event(svc, f"(service {svc.name}) (task {task.id}) failed container health checks.")
                request_stop(task, "ServiceSchedulerInitiated", "Task failed container health checks",
                             failed=True)
            return
    else:
        # stopping
        if task.last_status == "STOPPED":
            return
        if rt.stopping_at is None:
            rt.stopping_at = t
        runners_done = all(r.finished for r in rt.runners())
        elapsed = t - rt.stopping_at
        if task.last_status == "DEACTIVATING" and elapsed >= config.get("stopping_seconds") / 3:
            task.status = "STOPPING"
        if elapsed >= config.get("stopping_seconds") and (runners_done or elapsed > 30):
            task.status = "STOPPED"
            rt.stopped_at = t
            task.stopped_at = dt(t)
            task.execution_stopped_at = dt(t)
            for s in rt.specs:
                c = rt.container(s["name"])
                if c["lastStatus"] == "RUNNING":
                    if not s["scripted"] and rt.runner:
                        st = rt.runner.containers.get(s["name"])
                        code = st.exit_code if st and st.exit_code is not None else 143
                    else:
                        code = 0
                    c["exitCode"] = code
                c["lastStatus"] = "STOPPED"
            _update_task_health(rt)
            if rt.stopped_at and task.attachments:
                for a in task.attachments:
                    a["status"] = "DELETED"


def _update_task_health(rt):
    statuses = [rt.container(s["name"]).get("healthStatus") for s in rt.specs
                if s["health"] and s["essential"]]
    if not statuses:
        rt.task.health_status = "UNKNOWN"
    elif "UNHEALTHY" in statuses:
        rt.task.health_status = "UNHEALTHY"
    elif all(h == "HEALTHY" for h in statuses):
        rt.task.health_status = "HEALTHY"
    else:
        rt.task.health_status = "UNKNOWN"


def _task_healthy_running(task):
    if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    rt = _tb(task)
    if rt and rt.running_at and now() - rt.running_at < config.get("task_stable_seconds"):
        return False  # not yet: a container that crashes at start must not complete a deployment
    if rt and any(s["health"] and s["essential"] for s in rt.specs):
        return task.health_status == "HEALTHY"
    return True


# --------------------------------------------------------------------------- services
class ServiceRuntime:
    def __init__(self):
        self.consecutive_failures = 0
        self.next_launch_at = 0.0
        self.last_completed = None  # (deployment id, task definition arn)
        self.steady = False
        self.steady_event_at = 0.0
        self.rev_of = {}  # legacy deployment id -> service revision arn (service_deployments)


def _svc_rt(service):
    rt = getattr(service, "_tb", None)
    if rt is None:
        rt = service._tb = ServiceRuntime()
    return rt


def _service_key(backend, service):
    for k, v in backend.services.items():
        if v is service:
            return k
    return None


def _new_deployment(service, taskdef_arn, reason=None):
    ts = now()
    dep_id = new_deployment_id()
    base = service.deployments[0] if service.deployments else {}
    dep = {
        "id": dep_id, "status": "PRIMARY", "taskDefinition": taskdef_arn,
        "desiredCount": service.desired_count, "pendingCount": 0, "runningCount": 0,
        "failedTasks": 0, "createdAt": dt(ts), "updatedAt": dt(ts),
        "launchType": service.launch_type,
        "platformVersion": base.get("platformVersion", service.platform_version),
        "platformFamily": base.get("platformFamily"),
        "networkConfiguration": base.get("networkConfiguration") or (service.network_configuration or None),
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or f"ECS deployment {dep_id} in progress.",
    }
    for d in service.deployments:
        if d["status"] == "PRIMARY":
            d["status"] = "ACTIVE"
            d["updatedAt"] = dt(ts)
    service.deployments.insert(0, dep)
    _svc_rt(service).consecutive_failures = 0
    _svc_rt(service).next_launch_at = 0.0
    _svc_rt(service).steady = False
    DEPLOYMENT_RECORD[dep_id] = {"service": service.name, "cluster": service.cluster_name,
                                 "taskDefinition": taskdef_arn, "created": ts,
                                 "status": "IN_PROGRESS", "at": None}
    return dep


def _launch_service_task(backend, service, key, dep):
    taskdef = backend.describe_task_definition(dep["taskDefinition"])
    cluster = backend._get_cluster(service.cluster_name)
    net = service.network_configuration or None
    chosen = prov = None
    constraints = getattr(service, "placement_constraints", None)
    strategy = getattr(service, "placement_strategy", None) or instances.placement.SERVICE_DEFAULT_STRATEGY
    providers = capacity_providers.strategy_of(backend, cluster, service)
    if providers:
        prov, chosen = capacity_providers.place(backend, cluster.name, providers, taskdef, constraints, strategy,
                                                f"service:{service.name}")
    elif (service.launch_type or "EC2") == "EC2" and instances.has_instances(backend, cluster.name):
        chosen = instances.place(backend, cluster.name, taskdef, constraints, strategy, f"service:{service.name}")
    task = Task(cluster, taskdef, None, _resource_requirements(backend, taskdef),
                backend=backend, group=f"service:{service.name}",
                launch_type=service.launch_type or "EC2", started_by=dep["id"],
                tags=service.tags if service.propagate_tags == "SERVICE" else [],
                networking_configuration=net, platform_version=service.platform_version)
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    TaskRuntime(task, backend, taskdef, None, service_key=key)
    if chosen:
        instances.attach(task, *chosen)
    if prov is not None:
        task.capacity_provider_name = prov.name
        if not chosen:
            capacity_providers.wait(task, prov, constraints, strategy)
    return task


def _service_tasks(backend, service):
    key = f"service:{service.name}"
    out = []
    for t in backend.tasks.get(service.cluster_name, {}).values():
        if t.group == key and _tb(t) is not None:
            out.append(t)
    return out


def _stop_tasks_event(service, stopped):
    running = [t for t in stopped if t.last_status not in ("PROVISIONING", "PENDING")]
    pending = [t for t in stopped if t.last_status in ("PROVISIONING", "PENDING")]
    for group, word in ((running, "running"), (pending, "pending")):
        if group:
            ids = " ".join(f"(task {t.id})" for t in group)
            _svc_event(service, f"(service {service.name}) has stopped {len(group)} {word} tasks: {ids}.")


def step_service(backend, key, service):
    tasks = _service_tasks(backend, service)
    live = [t for t in tasks if t.desired_status == "RUNNING"]
    if service.status != "ACTIVE":
        for t in live:
            request_stop(t, "ServiceSchedulerInitiated", "Service deleted")
        _update_counts(service, tasks)
        return
    if (service.deployment_controller or {}).get("type", "ECS") != "ECS" or not service.deployments:
        return
    if strategies.step_service(backend, key, service):
        return  # a BLUE_GREEN/LINEAR/CANARY deployment drives the service (testbed/strategies.py)
    dc = _deployment_config(service)
    srt = _svc_rt(service)
    primary = service.deployments[0]
    desired = service.desired_count or 0
    primary["desiredCount"] = desired
    t = now()

    by_dep = {}
    for task in live:
        by_dep.setdefault(task.started_by, []).append(task)
    primary_live = by_dep.get(primary["id"], [])
    old_live = [x for x in live if x.started_by != primary["id"]]
    moving = instances.on_draining(backend, primary_live)  # on DRAINING instances: replaced elsewhere
    if moving:
        primary_live = [x for x in primary_live if x not in moving]
        old_live = old_live + moving

    upper = max(desired, math.floor(desired * dc["maximumPercent"] / 100))
    lower = math.ceil(desired * dc["minimumHealthyPercent"] / 100)

    launching_blocked = primary.get("rolloutState") == "FAILED"
    # launch new tasks for the primary deployment
    n_start = min(desired - len(primary_live), upper - len(live))
    if n_start > 0 and not launching_blocked and t >= srt.next_launch_at:
        started = []
        for _ in range(n_start):
            try:
                started.append(_launch_service_task(backend, service, key, primary))
            except Exception as e:  # noqa: BLE001
                _svc_event(service, instances.service_event(service, e))
                srt.next_launch_at = t + config.get("launch_backoff_max")
                break
        if started:
            ids = " ".join(f"(task {x.id})" for x in started)
            _svc_event(service, f"(service {service.name}) has started {len(started)} tasks: {ids}.")
            primary_live = primary_live + started
            live = live + started

    reason = f"Scaling activity initiated by (deployment {primary['id']})"
    stopped = []
    # scale in the primary deployment
    if len(primary_live) > desired:
        extra = sorted(primary_live, key=lambda x: (x.last_status == "RUNNING", x.created_at))
        for x in extra[:len(primary_live) - desired]:
            request_stop(x, "ServiceSchedulerInitiated", reason)
            stopped.append(x)
    # drain old deployments within minimumHealthyPercent
    healthy = sum(1 for x in live if _task_healthy_running(x) and x not in stopped)
    for x in sorted(old_live, key=lambda x: _task_healthy_running(x)):
        if not _task_healthy_running(x):
            request_stop(x, "ServiceSchedulerInitiated", reason)
            stopped.append(x)
        elif healthy - 1 >= lower:
            request_stop(x, "ServiceSchedulerInitiated", reason)
            stopped.append(x)
            healthy -= 1
    if stopped:
        _stop_tasks_event(service, stopped)

    # circuit breaker
    cb = dc["deploymentCircuitBreaker"]
    if cb["enable"] and primary.get("rolloutState") == "IN_PROGRESS" and \
            primary.get("failedTasks", 0) >= breaker_threshold(desired):
        primary["rolloutState"] = "FAILED"
        primary["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
        primary["updatedAt"] = dt(t)
        rec = DEPLOYMENT_RECORD.setdefault(primary["id"], {"service": service.name, "cluster": service.cluster_name,
                                                           "created": None})
        rec.update(status="FAILED", at=t)
        _svc_event(service, f"(service {service.name}) (deployment {primary['id']}) deployment failed: tasks failed to start.")
        failed, rollback_dep, prev_id = primary, None, None
        if cb["rollback"] and srt.last_completed:
            prev_id, prev_td = srt.last_completed
            rollback_dep = _new_deployment(
                service, prev_td, reason=f"ECS deployment detected failure. Rolling back to deployment {prev_id}.")
            service.task_definition = prev_td
            _svc_event(service, f"(service {service.name}) rolling back to deployment {prev_id}.")
            primary = service.deployments[0]
        sdx.on_breaker_failed(backend, service, failed, rollback_dep, prev_id)
    # forget old deployments with nothing left running
    all_now = _service_tasks(backend, service)
    live_now = [x for x in all_now if x.desired_status == "RUNNING"]
    draining = any(x.last_status != "STOPPED" for x in all_now if x.desired_status == "STOPPED")
    deps_with_tasks = {x.started_by for x in live_now}
    service.deployments[:] = [d for d in service.deployments
                              if d is primary or d["id"] in deps_with_tasks]

    # completion
    primary_live = [x for x in live_now if x.started_by == primary["id"]]
    healthy_primary = sum(1 for x in primary_live if _task_healthy_running(x))
    steady = (len(service.deployments) == 1 and healthy_primary == desired and len(primary_live) == desired
              and len(live_now) == desired and not draining and primary.get("rolloutState") != "FAILED")
    if steady and primary.get("rolloutState") == "IN_PROGRESS":
        primary["rolloutState"] = "COMPLETED"
        primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
        primary["updatedAt"] = dt(t)
        srt.last_completed = (primary["id"], primary["taskDefinition"])
        srt.consecutive_failures = 0
        rec = DEPLOYMENT_RECORD.setdefault(primary["id"], {"service": service.name, "cluster": service.cluster_name,
                                                           "created": None})
        rec.update(status="COMPLETED", at=t)
        _svc_event(service, f"(service {service.name}) (deployment {primary['id']}) deployment completed.")
        sdx.on_completed(backend, service, primary)
    if steady and primary.get("rolloutState") == "COMPLETED":
        if not srt.steady or t - srt.steady_event_at >= config.get("steady_state_reemit_seconds"):
            _svc_event(service, f"(service {service.name}) has reached a steady state.")
            srt.steady_event_at = t
        srt.steady = True
    else:
        srt.steady = False
    if steady:
        srt.consecutive_failures = 0  # the launch backoff resets once the service is steady
    _update_counts(service, _service_tasks(backend, service))
    sdx.tick(backend, service)


def _update_counts(service, tasks):
    live = [t for t in tasks if t.desired_status == "RUNNING"]
    service.running_count = sum(1 for t in live if t.last_status == "RUNNING")
    service.pending_count = sum(1 for t in live if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
    for d in service.deployments:
        mine = [t for t in live if t.started_by == d["id"]]
        run = sum(1 for t in mine if t.last_status == "RUNNING")
        pend = sum(1 for t in mine if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
        if d.get("runningCount") != run or d.get("pendingCount") != pend:
            d["updatedAt"] = dt(now())
        d["runningCount"] = run
        d["pendingCount"] = pend
        if d["status"] != "PRIMARY":
            d["desiredCount"] = len(mine)
        else:
            # ECS: the PRIMARY deployment's desiredCount is the service's, at once (an
            # UpdateService that changes only desiredCount starts no deployment; its answer and the
            # next DescribeServices already show the new count on the PRIMARY one)
            d["desiredCount"] = service.desired_count or 0


# --------------------------------------------------------------------------- ticker
def tick():
    with LOCK:
        retention = config.get("stopped_task_retention")
        t = now()
        for account, regions in list(ecs_backends.items()):
            for region, backend in list(regions.items()):
                for cluster_tasks in list(backend.tasks.values()):
                    for arn, task in list(cluster_tasks.items()):
                        try:
                            step_task(task)
                        except Exception:  # noqa: BLE001
                            traceback.print_exc()
                        rt = _tb(task)
                        if rt and rt.stopped_at and t - rt.stopped_at > retention:
                            del cluster_tasks[arn]
                for key, service in list(backend.services.items()):
                    try:
                        step_service(backend, key, service)
                    except Exception:  # noqa: BLE001
                        traceback.print_exc()
                try:
                    instances.tick(backend, request_stop, _service_tasks)
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
                for cluster in backend.clusters.values():
                    tasks = [x for x in backend.tasks.get(cluster.name, {}).values()
                             if x.desired_status == "RUNNING"]
                    cluster.running_tasks_count = sum(1 for x in tasks if x.last_status == "RUNNING")
                    cluster.pending_tasks_count = sum(1 for x in tasks if x.last_status in ("PROVISIONING", "PENDING"))
                    cluster.active_services_count = sum(
                        1 for s in backend.services.values()
                        if s.cluster_name == cluster.name and s.status == "ACTIVE")


def ticker_loop():
    while True:
        try:
            tick()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
        time.sleep(config.get("tick_seconds"))


def reset():
    """Called after moto's own reset: stop runners and remove containers."""
    DEPLOYMENT_RECORD.clear()
    instances.reset()
    engine.remove_all_containers(ENGINE)


# --------------------------------------------------------------------------- patches
_orig = {}


def _patched_create_service(self, *args, **kwargs):
    service = _orig["create_service"](self, *args, **kwargs)
    extra = getattr(_local, "create_params", {}) or {}
    service.deployment_configuration = extra.get("deploymentConfiguration") or {}
    _deployment_config(service)
    if extra.get("healthCheckGracePeriodSeconds") is not None:
        service.health_check_grace_period_seconds = extra["healthCheckGracePeriodSeconds"]
    if extra.get("enableExecuteCommand") is not None:
        service.enable_execute_command = extra["enableExecuteCommand"]
    service.placement_constraints = extra.get("placementConstraints") or []
    service.placement_strategy = extra.get("placementStrategy") or []
    service.created_at = dt(now())
    if service.task_definition:
        # the task definition ARN with revision, as ECS reports it
        service.task_definition = self.describe_task_definition(service.task_definition).arn
    service.running_count = 0
    service.pending_count = 0
    if service.deployments:
        service.deployments[:] = []
        dep = _new_deployment(service, service.task_definition)
        sdx.on_new_deployment(self, service, dep)
    sdx.hide_until_visible(self, f"{service.cluster_name}:{service.name}", None)
    return service


def _patched_update_service(self, props):
    props = dict(props)
    force = props.pop("force_new_deployment", False)
    cluster_str = props.get("cluster", "default")
    service_name = props.get("service", "").split("/")[-1]
    service = self._get_service(cluster_str, service_name)
    old_td = service.task_definition
    td_str = props.get("task_definition")
    new_td = self.describe_task_definition(td_str).arn if td_str else None
    dconf = props.pop("deployment_configuration", None)
    before = sdx.snapshot_before(self, None, service)
    result = _orig["update_service"](self, props)
    if new_td:
        result.task_definition = new_td
    if dconf:
        merged = dict(getattr(result, "deployment_configuration", {}) or {})
        merged.update(dconf)
        result.deployment_configuration = merged
    _deployment_config(result)
    if (new_td and new_td != old_td) or force:
        if (result.deployment_controller or {}).get("type", "ECS") == "ECS":
            dep = _new_deployment(result, result.task_definition)
            sdx.on_new_deployment(self, result, dep)
            sdx.hide_until_visible(self, f"{result.cluster_name}:{result.name}", before)
    # counts follow the tasks, not the request
    _update_counts(result, _service_tasks(self, result))
    return result


def _patched_delete_service(self, cluster_name, service_name, force):
    service = _orig["delete_service"](self, cluster_name, service_name, force)
    sdx.on_delete_service(self, service)
    return service


def _patched_run_task(self, cluster_str, task_definition_str, count, overrides, started_by, tags,
                      launch_type, networking_configuration=None, group=None, platform_version=None):
    real_launch = launch_type
    cluster = self._get_cluster(cluster_str)
    if launch_type != "FARGATE" and (instances.has_instances(self, cluster.name)
                                     or capacity_providers.strategy_of(self, cluster)):
        return _run_task_on_instances(self, cluster, task_definition_str, count, overrides, started_by, tags,
                                      launch_type, networking_configuration, group)
    if launch_type != "FARGATE" and not self.container_instances.get(cluster.name):
        # no registered container instances: place the task like Fargate does
        launch_type = "FARGATE"
    tasks = _orig["run_task"](self, cluster_str, task_definition_str, count, overrides, started_by,
                              tags, launch_type, networking_configuration, group, platform_version)
    taskdef = self.describe_task_definition(task_definition_str)
    for task in tasks:
        task.launch_type = real_launch or "EC2"
        TaskRuntime(task, self, taskdef, overrides)
    return tasks


def _run_task_on_instances(backend, cluster, task_definition_str, count, overrides, started_by, tags,
                           launch_type, networking_configuration, group):
    """RunTask placed by testbed/placement.py; what cannot be placed goes to `failures`."""
    taskdef = backend.describe_task_definition(task_definition_str)
    params = getattr(_local, "run_task_params", {}) or {}
    group = group or f"family:{taskdef.family}"
    strategy = params.get("placementStrategy") or instances.placement.RUN_TASK_DEFAULT_STRATEGY
    tasks, failures, taken = [], [], []
    providers = capacity_providers.strategy_of(backend, cluster)
    for _ in range(count):
        prov = None
        try:
            if providers:
                prov, chosen = capacity_providers.place(backend, cluster.name, providers, taskdef,
                                                        params.get("placementConstraints"), strategy, group, taken)
            else:
                chosen = instances.place(backend, cluster.name, taskdef, params.get("placementConstraints"),
                                         strategy, group, taken)
        except instances.placement.PlacementError as e:
            if e.arn is None:
                raise ecs_models.InvalidParameterException(e.event)
            failures.append({"arn": e.arn, "reason": e.reason})
            continue
        task = Task(cluster, taskdef, None, _resource_requirements(backend, taskdef), backend=backend,
                    group=group, overrides=overrides or {}, started_by=started_by or "", tags=tags or [],
                    launch_type=launch_type or "EC2", networking_configuration=networking_configuration)
        backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
        TaskRuntime(task, backend, taskdef, overrides)
        if prov is not None:
            task.capacity_provider_name = prov.name
        if chosen is None:  # waits in PROVISIONING for managed scaling
            capacity_providers.wait(task, prov, params.get("placementConstraints"), strategy)
            tasks.append(task)
            continue
        instances.attach(task, *chosen)
        taken.append(chosen[0]["arn"])
        tasks.append(task)
    _local.run_task_failures = failures
    return tasks


def _wrap_run_task_response():
    orig = EC2ContainerServiceResponse.run_task

    def run_task(self):
        _local.run_task_params = {p: self._get_param(p) for p in ("placementConstraints", "placementStrategy")}
        _local.run_task_failures = []
        try:
            result = orig(self)
            result.result["failures"] = list(_local.run_task_failures)
            return result
        finally:
            _local.run_task_params = {}
            _local.run_task_failures = []
    EC2ContainerServiceResponse.run_task = run_task


def _patched_stop_task(self, cluster_str, task_str, reason):
    cluster = self._get_cluster(cluster_str)
    task_id = task_str.split("/")[-1]
    for arn, task in self.tasks.get(cluster.name, {}).items():
        if arn.endswith(task_id) and _tb(task) is not None:
            request_stop(task, "UserInitiated", reason or "Task stopped by user")
            return task
    return _orig["stop_task"](self, cluster_str, task_str, reason)


def _patched_list_tasks(self, cluster_str=None, container_instance=None, family=None, started_by=None,
                        service_name=None, desiredStatus=None):
    tasks = _orig["list_tasks"](self, cluster_str, container_instance, family, started_by, None, desiredStatus)
    if service_name:
        name = service_name.split("/")[-1]
        tasks = [t for t in tasks if t.group == f"service:{name}"]
    if not desiredStatus:
        tasks = [t for t in tasks if t.desired_status == "RUNNING"]  # ECS default filter
    return tasks


def _patched_task_advance(self, *a, **k):
    if _tb(self) is None:
        return _orig["advance"](self, *a, **k)


def _wrap_response(name, params):
    orig = getattr(EC2ContainerServiceResponse, name)

    def wrapper(self):
        _local.create_params = {p: self._get_param(p) for p in params}
        try:
            return orig(self)
        finally:
            _local.create_params = {}
    setattr(EC2ContainerServiceResponse, name, wrapper)


def _patch_eni():
    """moto's Task() reads eni.private_dns_name, which moto only sets when the VPC
    has DNS hostnames enabled: that is why RunTask on Fargate/awsvpc failed with
    an internal error.  Give every ENI the name AWS would give it."""
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import generate_dns_from_ip

    orig_init = NetworkInterface.__init__

    def init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        if not getattr(self, "private_dns_name", None):
            self.private_dns_name = generate_dns_from_ip(self.private_ip_address)

    NetworkInterface.__init__ = init


def install(engine_name_):
    global ENGINE
    ENGINE = engine_name_
    _patch_eni()
    _orig["create_service"] = EC2ContainerServiceBackend.create_service
    _orig["update_service"] = EC2ContainerServiceBackend.update_service
    _orig["run_task"] = EC2ContainerServiceBackend.run_task
    _orig["stop_task"] = EC2ContainerServiceBackend.stop_task
    _orig["list_tasks"] = EC2ContainerServiceBackend.list_tasks
    _orig["delete_service"] = EC2ContainerServiceBackend.delete_service
    _orig["advance"] = Task.advance
    EC2ContainerServiceBackend.create_service = _patched_create_service
    EC2ContainerServiceBackend.update_service = _patched_update_service
    EC2ContainerServiceBackend.run_task = _patched_run_task
    EC2ContainerServiceBackend.stop_task = _patched_stop_task
    EC2ContainerServiceBackend.list_tasks = _patched_list_tasks
    EC2ContainerServiceBackend.delete_service = _patched_delete_service
    Task.advance = _patched_task_advance
    _wrap_response("create_service", ["deploymentConfiguration", "healthCheckGracePeriodSeconds",
                                      "enableExecuteCommand", "placementConstraints", "placementStrategy"])
    instances.install()
    _wrap_run_task_response()
    sdx.install()
    threading.Thread(target=ticker_loop, name="ecs-ticker", daemon=True).start()
    _ = ecs_models  # keep the import for readers
