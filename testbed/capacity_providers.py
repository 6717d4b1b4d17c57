"""Auto Scaling group capacity providers and their managed scaling (ECS cluster auto scaling),
after the ECS developer guide ("Amazon ECS cluster auto scaling", "Auto Scaling group capacity
providers", "Amazon ECS standalone tasks": the task workflow), the API reference
(ManagedScaling, CapacityProviderStrategyItem, CreateService/RunTask) and the AWS blog post
"Deep Dive on Amazon ECS Cluster Auto Scaling".

* A service (CreateService/UpdateService `capacityProviderStrategy`, or the cluster's default
  strategy when neither a launch type nor a strategy is given) or a RunTask with a strategy has
  its tasks placed only on the container instances of the strategy's providers (the instances of
  each provider's Auto Scaling group); `base` tasks go to their provider first, the rest by
  `weight`.  The providers must be associated with the cluster, and a launch type cannot be given
  with a strategy (InvalidParameterException, as ECS answers).
* Provider with managed scaling ENABLED: a task that fits on none of its instances does not fail;
  it waits in PROVISIONING (no instance, no containers) and is placed as soon as an instance has
  room.  Tasks that wait for longer than `capacity_provisioning_timeout_seconds` (ECS: between 10
  and 30 minutes) stop with stopCode TaskFailedToStart (they count as failed tasks of their
  deployment, so the circuit breaker sees them).
* Provider with managed scaling DISABLED: a task that fits nowhere fails at once, as with launch
  type EC2 (the service event / RunTask `failures`); with no instance in the provider the reason
  is "No Container Instances were found in your capacity provider.".
* Managed scaling, every tick: M = the group's instances that run a task or are still booting,
  plus the new instances the waiting tasks need (first-fit on instances of the group's instance
  type); N = the group's instances; CapacityProviderReservation = M / N x 100 (200 when N is 0 and
  M is not, 100 when both are 0).  Above targetCapacity the group's desired capacity grows to
  ceil(M x 100 / targetCapacity), by at least minimumScalingStepSize and at most
  maximumScalingStepSize, never past MaxSize; moto's Auto Scaling launches the instances and
  testbed/instances.py registers them when they boot.  Scale-in is not emulated.
* managedTerminationProtection ENABLED: the group's instances that run tasks are protected from
  scale-in, the others not (ECS manages the instances' scale-in protection).
"""
import math
import threading
import time

from moto.ecs.exceptions import InvalidParameterException

from . import config, placement

_local = threading.local()

BOTH = "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."
NOT_ASSOCIATED = ("The specified capacity provider strategy cannot contain a capacity provider that is not "
                  "associated with the cluster. Associate the capacity provider with the cluster or specify a "
                  "valid capacity provider and try again.")
NO_PROVIDER_INSTANCES = "No Container Instances were found in your capacity provider."
# The stop reason of a task whose provisioning timed out: ECS's documentation gives none; this is
# the one users report ("TaskFailedToStart: EMPTY CAPACITY PROVIDER").
TIMEOUT_REASON = "EMPTY CAPACITY PROVIDER"


def now():
    return time.time()


# --------------------------------------------------------------------------- providers
def _asg_backend(backend):
    from moto.autoscaling.models import autoscaling_backends
    return autoscaling_backends[backend.account_id][backend.region_name]


def provider(backend, name):
    for p in backend.capacity_providers.values():
        if name in (p.name, p.capacity_provider_arn):
            return p
    return None


def group_of(backend, prov):
    """The moto Auto Scaling group of a provider (None if it is gone)."""
    arn = (prov.auto_scaling_group_provider or {}).get("autoScalingGroupArn") or ""
    name = arn.split("autoScalingGroupName/")[-1] if "autoScalingGroupName/" in arn else arn
    groups = _asg_backend(backend).autoscaling_groups
    if name in groups:
        return groups[name]
    for g in groups.values():
        if getattr(g, "arn", None) == arn:
            return g
    return None


def managed(prov):
    ms = (prov.auto_scaling_group_provider or {}).get("managedScaling") or {}
    return ms.get("status") == "ENABLED"


def _group_instance_ids(group):
    return {s.instance.id for s in group.instance_states} if group is not None else set()


def validate(backend, cluster, strategy, launch_type):
    """CreateService/UpdateService/RunTask checks, raising InvalidParameterException as ECS does."""
    if not strategy:
        return
    if launch_type:
        raise InvalidParameterException(BOTH)
    associated = set(getattr(cluster, "capacity_providers", None) or [])
    for item in strategy:
        name = item.get("capacityProvider")
        if name in ("FARGATE", "FARGATE_SPOT"):
            continue
        if name not in associated or provider(backend, name) is None:
            raise InvalidParameterException(NOT_ASSOCIATED)


def strategy_of(backend, cluster, service=None):
    """The Auto Scaling group providers of the strategy a service's (or, with service None, this
    RunTask's) tasks use: [(item, provider)]; [] for launch types and Fargate providers."""
    if service is not None:
        strategy = getattr(service, "capacity_provider_strategy", None) or []
        if not strategy and getattr(service, "_tb_default_strategy", False):
            strategy = getattr(cluster, "default_capacity_provider_strategy", None) or []
    else:
        strategy = getattr(_local, "run_task_strategy", None) or []
    out = []
    for item in strategy:
        prov = provider(backend, item.get("capacityProvider"))
        if prov is not None:
            out.append((item, prov))
    return out


def _pick(backend, cluster_name, items, group_name):
    """The provider the next task of `group_name` goes to: base first, then by weight."""
    counts = {}
    for t in backend.tasks.get(cluster_name, {}).values():
        if t.group == group_name and t.desired_status == "RUNNING":
            name = getattr(t, "capacity_provider_name", None)
            counts[name] = counts.get(name, 0) + 1
    for item, prov in items:
        if counts.get(prov.name, 0) < int(item.get("base") or 0):
            return prov
    weighted = [(item, prov) for item, prov in items if int(item.get("weight") or 0) > 0] or items[:1]
    total = sum(counts.get(p.name, 0) for _, p in weighted) + 1
    wsum = sum(int(i.get("weight") or 1) for i, _ in weighted)
    best = max(weighted, key=lambda ip: int(ip[0].get("weight") or 1) / wsum * total - counts.get(ip[1].name, 0))
    return best[1]


def place(backend, cluster_name, items, taskdef, constraints, strategy, group_name, taken=()):
    """Where a task of a capacity provider strategy goes: (provider, (view, req)) when an instance
    of the chosen provider fits it, (provider, None) when it is to wait in PROVISIONING (managed
    scaling), or raises placement.PlacementError (managed scaling off)."""
    from . import instances
    prov = _pick(backend, cluster_name, items, group_name)
    ids = _group_instance_ids(group_of(backend, prov))
    views = [v for v in instances.active_views(backend, cluster_name) if v["ec2InstanceId"] in ids]
    constraints = list(getattr(taskdef, "placement_constraints", None) or []) + list(constraints or [])
    req = placement.requirements(taskdef)
    try:
        if not views:
            raise placement.PlacementError(None, None, NO_PROVIDER_INSTANCES)
        return prov, (placement.choose(views, req, constraints, strategy, group_name, taken), req)
    except placement.PlacementError:
        if managed(prov):
            return prov, None
        raise


def wait(task, prov, constraints, strategy):
    """Mark `task` as waiting in PROVISIONING for capacity of `prov`."""
    task.capacity_provider_name = prov.name
    task._tb_capacity = {"provider": prov.name, "since": now(), "constraints": constraints,
                         "strategy": strategy}


def waiting(task):
    """Whether `task` waits in PROVISIONING for capacity (ecs_ext does not advance it)."""
    return getattr(task, "_tb_capacity", None) is not None


# --------------------------------------------------------------------------- the ticker
def _waiting_tasks(backend):
    for cluster_name, tasks in backend.tasks.items():
        for t in tasks.values():
            if waiting(t) and t.desired_status == "RUNNING" and t.last_status == "PROVISIONING":
                yield cluster_name, t


def _place_waiting(backend, request_stop):
    from . import instances
    timeout = config.get("capacity_provisioning_timeout_seconds")
    t = now()
    for cluster_name, task in sorted(_waiting_tasks(backend), key=lambda ct: ct[1]._tb_capacity["since"]):
        info = task._tb_capacity
        prov = provider(backend, info["provider"])
        taskdef = backend.describe_task_definition(task.task_definition_arn)
        chosen = None
        if prov is not None:
            ids = _group_instance_ids(group_of(backend, prov))
            views = [v for v in instances.active_views(backend, cluster_name) if v["ec2InstanceId"] in ids]
            req = placement.requirements(taskdef)
            constraints = list(getattr(taskdef, "placement_constraints", None) or []) + list(info["constraints"] or [])
            try:
                if views:
                    chosen = (placement.choose(views, req, constraints, info["strategy"], task.group), req)
            except placement.PlacementError:
                chosen = None
        if chosen is not None:
            instances.attach(task, *chosen)
            task._tb_capacity = None
            rt = getattr(task, "_tb", None)
            if rt is not None:
                rt.created = t  # PROVISIONING from here on as for any placed task
            continue
        if t - info["since"] >= timeout:
            task._tb_capacity = None
            request_stop(task, "TaskFailedToStart", TIMEOUT_REASON, failed=True)


def _booting(backend, group, registered_ids):
    return [s for s in group.instance_states
            if s.instance.id not in registered_ids and getattr(s.instance, "state", "running") in ("pending", "running")]


def _type_capacity(group):
    from . import instances
    itype = None
    if group.instance_states:
        itype = group.instance_states[0].instance.instance_type
    elif group.ec2_launch_template is not None:
        itype = group.ec2_launch_template.get_version(group.launch_template_version).instance_type
    elif getattr(group, "launch_config", None) is not None:
        itype = group.launch_config.instance_type
    return instances._type_resources(itype or "t3.medium", 0)


def _needed(waiting_reqs, bins, capacity):
    """How many new instances of `capacity` (cpu, mem) the waiting tasks need beyond `bins`
    (free (cpu, mem) of instances still booting), first fit."""
    bins = [list(b) for b in bins]
    extra = 0
    for cpu, mem in sorted(waiting_reqs, key=lambda r: (-r[1], -r[0])):
        for b in bins:
            if b[0] >= cpu and b[1] >= mem:
                b[0] -= cpu
                b[1] -= mem
                break
        else:
            if cpu > capacity[0] or mem > capacity[1]:
                continue  # no instance of this type can take it: scaling out does not help
            bins.append([capacity[0] - cpu, capacity[1] - mem])
            extra += 1
    return extra


def reservation(backend, prov):
    """(M, N, CapacityProviderReservation) of a provider now."""
    from . import instances
    group = group_of(backend, prov)
    if group is None:
        return 0, 0, 100.0
    by_ec2 = {}
    for cis in backend.container_instances.values():
        for ci in cis.values():
            if ci.status in ("ACTIVE", "DRAINING"):
                by_ec2[ci.ec2_instance_id] = ci
    ids = _group_instance_ids(group)
    n = len([s for s in group.instance_states if getattr(s.instance, "state", "running") in ("pending", "running")])
    busy = sum(1 for i in ids if i in by_ec2 and instances.tasks_on(by_ec2[i]))
    booting = _booting(backend, group, set(by_ec2))
    reqs = []
    for _, task in _waiting_tasks(backend):
        if task._tb_capacity["provider"] == prov.name:
            r = placement.requirements(backend.describe_task_definition(task.task_definition_arn))
            reqs.append((r["CPU"], r["MEMORY"]))
    cap = _type_capacity(group)
    extra = _needed(reqs, [cap for _ in booting], cap) if reqs else 0
    m = busy + len(booting) + extra
    if n == 0:
        cpr = 200.0 if m else 100.0
    else:
        cpr = m / n * 100.0
    return m, n, cpr


def _scale(backend, prov):
    ms = prov.auto_scaling_group_provider.get("managedScaling") or {}
    group = group_of(backend, prov)
    if group is None:
        return
    m, n, cpr = reservation(backend, prov)
    target = float(ms.get("targetCapacity") or 100)
    prov._tb_reservation = cpr
    if cpr <= target:
        return
    want = math.ceil(m * 100.0 / target)
    current = int(group.desired_capacity or 0)
    if want <= current:
        return
    step = max(int(ms.get("minimumScalingStepSize") or 1), want - current)
    step = min(int(ms.get("maximumScalingStepSize") or 10000), step)
    new = min(int(group.max_size), current + step)
    if new > current:
        _asg_backend(backend).set_desired_capacity(group.name, new)


def _protect(backend, prov):
    from . import instances
    if (prov.auto_scaling_group_provider or {}).get("managedTerminationProtection") != "ENABLED":
        return
    group = group_of(backend, prov)
    if group is None:
        return
    by_ec2 = {ci.ec2_instance_id: ci for cis in backend.container_instances.values() for ci in cis.values()}
    for s in group.instance_states:
        ci = by_ec2.get(s.instance.id)
        s.protected_from_scale_in = bool(ci is not None and instances.tasks_on(ci))


def tick(backend, request_stop):
    """Once per ticker round (from instances.tick, under ecs_ext.LOCK)."""
    if not backend.capacity_providers:
        return
    _place_waiting(backend, request_stop)
    used = set()
    for cluster in backend.clusters.values():
        used.update(getattr(cluster, "capacity_providers", None) or [])
    for prov in list(backend.capacity_providers.values()):
        if prov.name not in used:
            continue
        if managed(prov):
            _scale(backend, prov)
        _protect(backend, prov)


# --------------------------------------------------------------------------- API patches
def install():
    from moto.ecs.responses import EC2ContainerServiceResponse

    orig_create = EC2ContainerServiceResponse.create_service
    orig_update = EC2ContainerServiceResponse.update_service
    orig_run = EC2ContainerServiceResponse.run_task

    def _cluster(self):
        return self.ecs_backend._get_cluster(self._get_param("cluster", "default"))

    def create_service(self):
        strategy = self._get_param("capacityProviderStrategy")
        launch_type = self._get_param("launchType")
        cluster = _cluster(self)
        validate(self.ecs_backend, cluster, strategy, launch_type)
        default = not strategy and not launch_type and bool(cluster.default_capacity_provider_strategy)
        _local.service_strategy = (strategy or [], default)
        try:
            return orig_create(self)
        finally:
            _local.service_strategy = None

    def update_service(self):
        strategy = self._get_param("capacityProviderStrategy")
        if strategy:
            validate(self.ecs_backend, _cluster(self), strategy, None)
        return orig_update(self)

    def run_task(self):
        strategy = self._get_param("capacityProviderStrategy")
        launch_type = self._get_param("launchType")
        cluster = _cluster(self)
        validate(self.ecs_backend, cluster, strategy, launch_type)
        if not strategy and not launch_type:
            strategy = cluster.default_capacity_provider_strategy or []
        _local.run_task_strategy = strategy or []
        try:
            return orig_run(self)
        finally:
            _local.run_task_strategy = []

    EC2ContainerServiceResponse.create_service = create_service
    EC2ContainerServiceResponse.update_service = update_service
    EC2ContainerServiceResponse.run_task = run_task

    from moto.ecs.models import EC2ContainerServiceBackend
    backend_create = EC2ContainerServiceBackend.create_service

    def backend_create_service(self, *args, **kwargs):
        service = backend_create(self, *args, **kwargs)
        strategy, default = getattr(_local, "service_strategy", None) or ([], False)
        service.capacity_provider_strategy = strategy
        service._tb_default_strategy = default
        return service

    # wraps ecs_ext's CreateService (installed before this), so the strategy is set when the
    # first tasks launch on the next tick
    EC2ContainerServiceBackend.create_service = backend_create_service
