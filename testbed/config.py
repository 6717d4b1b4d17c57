"""Knobs of the test bed.  Each can be set at start-up by an environment
variable TESTBED_<NAME upper-cased> and changed at run time with
POST /_testbed/config {"name": value, ...}."""
import os
import threading

DEFAULTS = {
    # seconds a new task stays PROVISIONING, then PENDING (pull + start)
    "provisioning_seconds": 0.5,
    "pending_seconds": 0.5,
    # seconds a stopping task spends in DEACTIVATING/STOPPING before STOPPED
    "stopping_seconds": 0.5,
    # container health checks: interval used instead of the task definition's
    # (ECS: 5-300 s); 0 = use the definition's interval.  Scripted unhealthy
    # containers turn UNHEALTHY after interval * retries (+ startPeriod).
    "health_check_interval": 1.0,
    # how long STOPPED tasks stay visible (ECS: about an hour)
    "stopped_task_retention": 3600.0,
    # task-launch backoff after consecutive failed tasks of a service
    "launch_backoff_base": 0.5,
    "launch_backoff_max": 5.0,
    # "has reached a steady state" is re-emitted after this long in steady state (ECS: ~6 h)
    "steady_state_reemit_seconds": 21600.0,
    # a RUNNING task counts towards a deployment's completion (and as healthy for
    # minimumHealthyPercent) only after running this long
    "task_stable_seconds": 1.0,
    # ticker period
    "tick_seconds": 0.1,
    # really run containers with the engine (1) or script them (0); default:
    # 1 when an engine is available
    "run_containers": None,
    # circuit breaker threshold bounds (ECS: ceil(0.5*desired), min 3, max 200)
    "breaker_min_threshold": 3,
    "breaker_max_threshold": 200,
    # DescribeServices is eventually consistent: after a CreateService/UpdateService that starts a
    # deployment it shows the service as it was before (a new service: MISSING) for this long
    "deployment_visibility_seconds": 0.0,
    # BLUE_GREEN/LINEAR/CANARY deployments: how many seconds one minute of bakeTimeInMinutes,
    # stepBakeTimeInMinutes, canaryBakeTimeInMinutes and hook timeoutInMinutes lasts (60 = real
    # time); the default hook callBackDelay (30 s) is scaled the same way (testbed/strategies.py)
    "strategy_minute_seconds": 60.0,
    # ECS request throttling (AWS's token buckets per action category): 1 = AWS's bucket sizes
    # and refill rates, other values scale both, 0 = no throttling
    "ecs_throttle_scale": 1.0,
    # an EC2 instance whose user data sets ECS_CLUSTER registers with the cluster this long after
    # it starts running (the ECS agent's boot; testbed/instances.py)
    "instance_boot_seconds": 1.0,
    # a task of a capacity provider with managed scaling that finds no room waits in PROVISIONING
    # for at most this long, then stops (ECS: 10 to 30 minutes; testbed/capacity_providers.py)
    "capacity_provisioning_timeout_seconds": 1800.0,
}

_lock = threading.Lock()
_values = {}


def _coerce(name, value):
    if value is None:
        return None
    default = DEFAULTS[name]
    if name == "run_containers":
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(default, int) and not isinstance(default, bool):
        return int(float(value))
    return float(value)


def load_from_env():
    with _lock:
        _values.clear()
        for name, default in DEFAULTS.items():
            env = os.environ.get("TESTBED_" + name.upper())
            _values[name] = _coerce(name, env) if env not in (None, "") else default


def get(name):
    with _lock:
        return _values.get(name, DEFAULTS[name])


def update(changes):
    unknown = [k for k in changes if k not in DEFAULTS]
    if unknown:
        raise KeyError(", ".join(unknown))
    with _lock:
        for k, v in changes.items():
            _values[k] = _coerce(k, v)


def snapshot():
    with _lock:
        return {k: _values.get(k, DEFAULTS[k]) for k in DEFAULTS}


load_from_env()
