"""EC2 container instances for the ECS extension, after the ECS API reference
(RegisterContainerInstance, DeregisterContainerInstance, ListContainerInstances,
DescribeContainerInstances, UpdateContainerInstancesState) and the developer guide (container
instance draining, the container agent's configuration, task placement).

* Registration: RegisterContainerInstance honours `totalResources` and `attributes`; and, as
  the ECS agent does on an ECS-optimized AMI, every running moto EC2 instance whose user data
  sets `ECS_CLUSTER=NAME` registers itself with that cluster `instance_boot_seconds` after it
  starts (CPU 1024 units per vCPU and the instance type's memory less `ECS_RESERVED_MEMORY`,
  ports 22/2375/2376/51678/51679 reserved, `ECS_INSTANCE_ATTRIBUTES` as custom attributes).  So
  an Auto Scaling group's replacement instance joins the cluster by itself.
* Resources: `remainingResources`, `runningTasksCount` and `pendingTasksCount` follow the tasks
  placed on the instance (testbed/placement.py decides where).
* DRAINING: no new tasks; the service scheduler replaces service tasks on it (ecs_ext treats
  them like tasks of an older deployment, within minimumHealthyPercent/maximumPercent);
  standalone tasks are left alone.
* An instance terminated in EC2 stops its tasks ("Host EC2 (instance ID) terminated.") and is
  deregistered, as ECS does; a stopped one shows `agentConnected` false.
* Tasks of services with `loadBalancers` placed on an instance are registered in the target
  group as (EC2 instance id, host port) while RUNNING and deregistered when they stop.
* Auto Scaling: a replacement instance is launched from the group's launch template version
  (moto used the template's default version) and reports that version.
"""
import base64
import json
import re
import threading
import time

from moto.autoscaling import models as asg_models
from moto.core.responses import ActionResult
from moto.ecs import models as ecs_models
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2.exceptions import InvalidTargetError, TargetGroupNotFoundError, TargetNotRunning

from . import capacity_providers, config, placement

DEFAULT_PORTS = ["22", "2375", "2376", "51678", "51679"]
_first_seen = {}  # (account, region, ec2 instance id) -> time first seen running
_registered_targets = {}  # (account, region) -> {(tg arn, instance id, port)}
_lock = threading.RLock()


def now():
    return time.time()


# --------------------------------------------------------------------------- resources
def _res(name, value):
    if isinstance(value, list):
        return {"doubleValue": 0.0, "integerValue": 0, "longValue": 0, "name": name,
                "type": "STRINGSET", "stringSetValue": [str(v) for v in value]}
    return {"doubleValue": 0.0, "integerValue": int(value), "longValue": 0, "name": name,
            "type": "INTEGER"}


def _registered(ci):
    out = {"CPU": 0, "MEMORY": 0, "PORTS": set(), "PORTS_UDP": set()}
    for r in ci._tb_registered:
        if r.get("type") == "STRINGSET" or "stringSetValue" in r:
            out[r["name"]] = {int(p) for p in r.get("stringSetValue") or []}
        else:
            out[r["name"]] = int(r.get("integerValue") or r.get("longValue") or r.get("doubleValue") or 0)
    return out


def tasks_on(ci):
    """Tasks placed on `ci` that have not reached STOPPED."""
    backend = ci._backend
    arn = ci.container_instance_arn
    return [t for t in backend.tasks.get(ci.cluster_name, {}).values()
            if t.container_instance_arn == arn and t.last_status != "STOPPED"]


def _usage(ci):
    cpu = mem = 0
    static = {"tcp": set(), "udp": set()}
    every = {"tcp": set(), "udp": set()}
    for t in tasks_on(ci):
        r = getattr(t, "_tb_reserve", None)
        if not r:
            continue
        cpu += r["CPU"]
        mem += r["MEMORY"]
        for (_, _, host, proto) in r["bound"]:
            every.setdefault(proto, set()).add(host)
        for (_, _, host, proto) in r["static"]:
            static.setdefault(proto, set()).add(host)
    return cpu, mem, static, every


def _remaining(ci):
    reg = _registered(ci)
    cpu, mem, static, _ = _usage(ci)
    return [_res("CPU", reg["CPU"] - cpu), _res("MEMORY", reg["MEMORY"] - mem),
            _res("PORTS", sorted(reg["PORTS"] | static["tcp"])),
            _res("PORTS_UDP", sorted(reg["PORTS_UDP"] | static["udp"]))]


def view(ci):
    """What placement needs to know about `ci` (see placement.choose)."""
    reg = _registered(ci)
    cpu, mem, static, every = _usage(ci)
    groups = {}
    for t in tasks_on(ci):
        if t.desired_status == "RUNNING":
            groups[t.group] = groups.get(t.group, 0) + 1
    return {
        "arn": ci.container_instance_arn, "ec2InstanceId": ci.ec2_instance_id,
        "attributes": dict(ci.attributes), "agentConnected": bool(ci.agent_connected),
        "agentVersion": (ci.version_info or {}).get("agentVersion"),
        "runningTasksCount": sum(1 for t in tasks_on(ci) if t.last_status == "RUNNING"),
        "registeredAt": ci.registered_at.timestamp() if hasattr(ci.registered_at, "timestamp") else 0,
        "cpu": reg["CPU"] - cpu, "memory": reg["MEMORY"] - mem,
        "ports": {"tcp": reg["PORTS"] | static["tcp"], "udp": reg["PORTS_UDP"] | static["udp"]},
        "all_ports": {"tcp": reg["PORTS"] | every["tcp"], "udp": reg["PORTS_UDP"] | every["udp"]},
        "groups": set(groups), "group_counts": groups,
    }


def _install_container_instance_properties():
    cls = ecs_models.ContainerInstance

    def registered_get(self):
        return self._tb_registered

    def registered_set(self, value):
        self._tb_registered = value

    def remaining_get(self):
        return _remaining(self)

    def count_get(status):
        def get(self):
            if not hasattr(self, "_tb_registered"):
                return 0
            if status == "RUNNING":
                return sum(1 for t in tasks_on(self) if t.last_status == "RUNNING")
            return sum(1 for t in tasks_on(self) if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING"))
        return get

    cls.registered_resources = property(registered_get, registered_set)
    cls.remaining_resources = property(remaining_get, lambda self, v: None)
    cls.running_tasks_count = property(count_get("RUNNING"), lambda self, v: None)
    cls.pending_tasks_count = property(count_get("PENDING"), lambda self, v: None)


# --------------------------------------------------------------------------- cluster helpers
def active_views(backend, cluster_name):
    return [view(ci) for ci in backend.container_instances.get(cluster_name, {}).values()
            if ci.status == "ACTIVE"]


def has_instances(backend, cluster_name):
    """Whether tasks of the cluster are placed on container instances: it has (or has had) some."""
    cluster = backend.clusters.get(cluster_name)
    return bool(backend.container_instances.get(cluster_name)) or bool(getattr(cluster, "_tb_ec2", False))


def on_draining(backend, tasks):
    """The tasks among `tasks` placed on a DRAINING instance."""
    out = []
    for t in tasks:
        arn = t.container_instance_arn
        if not arn:
            continue
        ci = backend.container_instances.get(t.cluster_name, {}).get(arn.split("/")[-1])
        if ci is not None and ci.status == "DRAINING":
            out.append(t)
    return out


def place(backend, cluster_name, taskdef, constraints, strategy, group, taken=()):
    """The instance view to place one task on (raises placement.PlacementError)."""
    constraints = list(getattr(taskdef, "placement_constraints", None) or []) + list(constraints or [])
    req = placement.requirements(taskdef)
    chosen = placement.choose(active_views(backend, cluster_name), req, constraints, strategy, group, taken)
    return chosen, req


def attach(task, chosen, req):
    """Record where `task` was placed: its reservation, host ports and network bindings."""
    bound = placement.dynamic_ports(chosen, req)
    task.container_instance_arn = chosen["arn"]
    task._tb_reserve = {"CPU": req["CPU"], "MEMORY": req["MEMORY"], "bound": bound,
                        "static": [(n, c, h, p) for (n, c, h, p) in req["ports"] if h is not None],
                        "ec2": chosen["ec2InstanceId"]}
    task.availability_zone = chosen["attributes"].get("ecs.availability-zone", task.availability_zone)
    for c in task.containers:
        c["networkBindings"] = [{"bindIP": "0.0.0.0", "containerPort": cport, "hostPort": host,
                                 "protocol": proto}
                                for (name, cport, host, proto) in bound if name == c["name"]]


def service_event(service, error):
    if isinstance(error, placement.PlacementError):
        if error.arn is None:
            detail = f"Reason: {error.event}"
        else:
            detail = error.event
        return (f"(service {service.name}) was unable to place a task because no container instance met "
                f"all of its requirements. {detail} For more information, see the Troubleshooting "
                f"section of the Amazon ECS Developer Guide.")
    return f"(service {service.name}) was unable to place a task. Reason: {error}."


# --------------------------------------------------------------------------- the ECS agent
def _user_data_text(raw):
    if raw is None:
        return ""
    if hasattr(raw, "decode") and not isinstance(raw, (bytes, str)):  # moto's Base64EncodedString
        try:
            return raw.decode()
        except Exception:  # noqa: BLE001
            return ""
    if isinstance(raw, (list, tuple)):
        raw = raw[0] if raw else ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001
        return str(raw)


def agent_config(user_data):
    """ECS_CLUSTER, ECS_RESERVED_MEMORY and ECS_INSTANCE_ATTRIBUTES from an instance's user data."""
    text = _user_data_text(user_data)
    out = {}
    m = re.search(r"ECS_CLUSTER=['\"]?([A-Za-z0-9_-]+)", text)
    if m:
        out["cluster"] = m.group(1)
    m = re.search(r"ECS_RESERVED_MEMORY=['\"]?(\d+)", text)
    out["reserved_memory"] = int(m.group(1)) if m else 0
    m = re.search(r"ECS_INSTANCE_ATTRIBUTES=['\"]?(\{[^\n'}]*\})", text)
    if m:
        try:
            out["attributes"] = {str(k): str(v) for k, v in json.loads(m.group(1)).items()}
        except ValueError:
            pass
    return out


def _type_resources(instance_type, reserved_memory):
    from moto.ec2.models.instance_types import INSTANCE_TYPES
    info = INSTANCE_TYPES.get(instance_type) or {}
    vcpus = (info.get("VCpuInfo") or {}).get("DefaultVCpus", 1)
    mem = (info.get("MemoryInfo") or {}).get("SizeInMiB", 1024)
    return vcpus * 1024, max(0, mem - reserved_memory)


def _register(backend, cluster_name, ec2_instance_id, total=None, attributes=None):
    ci = backend.register_container_instance(cluster_name, ec2_instance_id)
    backend.clusters[ci.cluster_name]._tb_ec2 = True
    ci._tb_registered = [dict(r) for r in ci._tb_registered]
    if total:
        by_name = {r["name"]: r for r in ci._tb_registered}
        for r in total:
            by_name[r["name"]] = dict(r)
        ci._tb_registered = list(by_name.values())
    for a in attributes or []:
        if a.get("name"):
            ci.attributes[a["name"]] = a.get("value")
    return ci


def _ec2_instances(account, region):
    from moto.ec2.models import ec2_backends
    ec2 = ec2_backends[account][region]
    for reservation in ec2.reservations.values():
        yield from reservation.instances


def _agent_tick(backend, request_stop):
    account, region = backend.account_id, backend.region_name
    by_ec2 = {}
    for cluster_name, cis in backend.container_instances.items():
        for ci in cis.values():
            by_ec2[ci.ec2_instance_id] = (cluster_name, ci)
    t = now()
    for inst in list(_ec2_instances(account, region)):
        state = inst.state
        key = (account, region, inst.id)
        if inst.id in by_ec2:
            cluster_name, ci = by_ec2[inst.id]
            if state in ("terminated", "shutting-down"):
                _terminated(backend, cluster_name, ci, request_stop)
            else:
                ci.agent_connected = state == "running"
            continue
        if state != "running":
            continue
        cfg = agent_config(inst.user_data)
        cluster_name = cfg.get("cluster")
        if not cluster_name or cluster_name not in backend.clusters:
            continue
        first = _first_seen.setdefault(key, t)
        if t - first < config.get("instance_boot_seconds"):
            continue
        cpu, mem = _type_resources(inst.instance_type, cfg["reserved_memory"])
        total = [_res("CPU", cpu), _res("MEMORY", mem), _res("PORTS", DEFAULT_PORTS), _res("PORTS_UDP", [])]
        attrs = [{"name": k, "value": v} for k, v in (cfg.get("attributes") or {}).items()]
        _register(backend, cluster_name, inst.id, total, attrs)


def _terminated(backend, cluster_name, ci, request_stop):
    for task in tasks_on(ci):
        if task.desired_status == "RUNNING":
            request_stop(task, "TerminationNotice", f"Host EC2 (instance {ci.ec2_instance_id}) terminated.")
    ci_id = ci.container_instance_arn.split("/")[-1]
    backend.container_instances.get(cluster_name, {}).pop(ci_id, None)
    cluster = backend.clusters.get(cluster_name)
    if cluster is not None:
        cluster.registered_container_instances_count = len(backend.container_instances.get(cluster_name, {}))


# --------------------------------------------------------------------------- load balancer targets
def _targets_tick(backend, service_tasks):
    from moto.elbv2.models import elbv2_backends
    account, region = backend.account_id, backend.region_name
    elb = elbv2_backends[account][region]
    want = set()
    for service in backend.services.values():
        if service.status != "ACTIVE":
            continue
        for lb in service.load_balancers or []:
            tg = lb.get("targetGroupArn")
            if not tg:
                continue
            # Blue/green, linear and canary services: strategies.py registers their tasks
            # in the production or the alternate group as the stage requires.
            strategy = ((getattr(service, "deployment_configuration", None) or {}).get("strategy")
                        or "ROLLING")
            for task in service_tasks(backend, service):
                if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
                    continue
                r = getattr(task, "_tb_reserve", None)
                if r:
                    for (name, cport, host, _) in r["bound"]:
                        if name == lb.get("containerName") and cport == lb.get("containerPort"):
                            want.add((tg, r["ec2"], host))
                    continue
                # awsvpc (Fargate, or EC2 in awsvpc mode): ECS registers the task's ENI address
                # with the container port in the group (target type ip).
                ip = _task_ip(task)
                if ip and strategy == "ROLLING" and lb.get("containerPort"):
                    want.add((tg, ip, lb["containerPort"]))
    have = _registered_targets.setdefault((account, region), set())
    for (tg, inst, port) in sorted(want - have):
        if not inst.startswith("i-"):
            # An IP target: moto's RegisterTargets checks only instances, so the target goes in
            # as ECS's own registration would put it.
            group = elb.target_groups.get(tg)
            if group is not None:
                group.targets[inst] = {"Id": inst, "Port": port}
                group.deregistered_targets.pop(inst, None)
                have.add((tg, inst, port))
            continue
        try:
            elb.register_targets(tg, [{"Id": inst, "Port": port}])
            have.add((tg, inst, port))
        except (TargetGroupNotFoundError, TargetNotRunning):  # deleted group, or the instance is going
            pass
    for (tg, inst, port) in sorted(have - want):
        if not inst.startswith("i-"):
            group = elb.target_groups.get(tg)
            if group is not None and inst in group.targets:
                group.deregistered_targets[inst] = group.targets.pop(inst)
            have.discard((tg, inst, port))
            continue
        try:
            elb.deregister_targets(tg, [{"Id": inst, "Port": port}])
        except (TargetGroupNotFoundError, InvalidTargetError):
            pass
        have.discard((tg, inst, port))


def _task_ip(task):
    """The private address of an awsvpc task's ENI, once it has one."""
    for a in getattr(task, "attachments", None) or []:
        for d in a.get("details", []):
            if d.get("name") == "privateIPv4Address" and d.get("value"):
                return d["value"]
    return None


def tick(backend, request_stop, service_tasks):
    """Once per ticker round, under ecs_ext.LOCK."""
    if not backend.clusters:
        return
    _agent_tick(backend, request_stop)
    capacity_providers.tick(backend, request_stop)
    _targets_tick(backend, service_tasks)


def reset():
    _first_seen.clear()
    _registered_targets.clear()


# --------------------------------------------------------------------------- API patches
def _register_response(self):
    cluster = self._get_param("cluster", "default")
    doc = json.loads(self._get_param("instanceIdentityDocument") or "{}")
    ci = _register(self.ecs_backend, cluster.split("/")[-1], doc.get("instanceId"),
                   self._get_param("totalResources"), self._get_param("attributes"))
    if self._get_param("versionInfo"):
        ci.version_info = self._get_param("versionInfo")
    return ActionResult({"containerInstance": ci})


def _list_response(self):
    backend = self.ecs_backend
    cluster = backend._get_cluster(self._get_param("cluster", "default"))
    status = self._get_param("status")
    expr = self._get_param("filter")
    if status and status not in ("ACTIVE", "DRAINING", "REGISTERING", "DEREGISTERING", "REGISTRATION_FAILED"):
        raise InvalidParameterException(f"Invalid status: {status}")
    try:
        node = placement.parse_query(expr) if expr else None
    except placement.QueryError as e:
        raise InvalidParameterException(f"The filter expression is invalid: {e}")
    out = []
    for ci in backend.container_instances.get(cluster.name, {}).values():
        if status and ci.status != status:
            continue
        if node is not None and not placement.evaluate(node, view(ci)):
            continue
        out.append(ci.container_instance_arn)
    out.sort()
    start = int(self._get_param("nextToken") or 0)
    limit = self._get_int_param("maxResults") or 100
    page = out[start:start + limit]
    result = {"containerInstanceArns": page}
    if start + limit < len(out):
        result["nextToken"] = str(start + limit)
    return ActionResult(result)


def _patch_asg_launch_template_version():
    """moto launched an Auto Scaling group's instances from its launch template's default
    version whatever version the group names; AWS launches the group's version."""
    group_cls = asg_models.FakeAutoScalingGroup
    orig = group_cls.replace_autoscaling_group_instances

    def replace(self, count_needed, propagated_tags):
        before = {s.instance.id for s in self.instance_states}
        orig(self, count_needed, propagated_tags)
        lt = self.ec2_launch_template
        if lt is None:
            return
        version = lt.get_version(self.launch_template_version)
        for s in self.instance_states:
            if s.instance.id not in before:
                s.instance.add_tags({"aws:ec2launchtemplate:version": str(version.number)})
                s.instance.image_id = version.image_id

    group_cls.replace_autoscaling_group_instances = replace

    state_cls = asg_models.InstanceState
    orig_lt = state_cls.launch_template

    def launch_template(self):
        lt = orig_lt.fget(self)
        if lt is not None:
            tag = next((t.get("value") for t in self.instance.get_tags()
                        if t.get("key") == "aws:ec2launchtemplate:version"), None)
            if tag is not None:
                lt = dict(lt, Version=str(tag))
        return lt

    state_cls.launch_template = property(launch_template)


def _patch_deregister():
    backend_cls = ecs_models.EC2ContainerServiceBackend
    orig = backend_cls.deregister_container_instance

    def deregister(self, cluster_str, container_instance_str, force):
        ci = orig(self, cluster_str, container_instance_str, force)
        cluster = self._get_cluster(cluster_str)
        cluster.registered_container_instances_count = len(self.container_instances.get(cluster.name, {}))
        ci.status = "INACTIVE"
        return ci

    backend_cls.deregister_container_instance = deregister


def _patch_launch_template_user_data():
    """CreateLaunchTemplateVersion kept UserData as a plain string, which moto's Auto Scaling
    then refused (an internal error) when it launched a replacement from that version."""
    from moto.core.types import Base64EncodedString
    from moto.ec2.models.launch_templates import LaunchTemplateVersion

    def user_data(self):
        value = self.data.get("UserData")
        if isinstance(value, str):
            value = self.data["UserData"] = Base64EncodedString(value)
        return value

    LaunchTemplateVersion.user_data = property(user_data)


def install():
    _install_container_instance_properties()
    _patch_launch_template_user_data()
    _patch_deregister()
    EC2ContainerServiceResponse.register_container_instance = _register_response
    EC2ContainerServiceResponse.list_container_instances = _list_response
    _patch_asg_launch_template_version()
    capacity_providers.install()
