"""ECS Exec in the test bed (used by `wharf exec` tests).

moto has no ExecuteCommand and no managed agents. This adds, in ECS's own shapes:
  * ``enableExecuteCommand`` on tasks: from RunTask's parameter, or from the service that
    launched the task (CreateService/UpdateService ``enableExecuteCommand``);
  * ``containers[].managedAgents`` with the ``ExecuteCommandAgent`` on tasks that have it: PENDING
    while the task starts, RUNNING while it runs, STOPPED after. A container whose definition sets
    the environment variable ``TESTBED_EXEC_AGENT`` (for example ``STOPPED``) reports that status
    instead, to model an agent that failed to start;
  * ``containers[].runtimeId`` (the container id the AWS CLI puts in the session target);
  * the ExecuteCommand action: checks the task and agent as ECS does and returns a session
    (``sessionId``, ``streamUrl``, ``tokenValue``). The session service behind it is not emulated:
    clients hand the session to session-manager-plugin, which tests replace with a stand-in.
"""
import hashlib
import threading
import uuid

from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.models import EC2ContainerServiceBackend
from moto.ecs.responses import EC2ContainerServiceResponse

from . import ecs_ext

_local = threading.local()
_orig = {}


def _agent_status(task, container):
    rt = getattr(task, "_tb", None)
    if rt is not None:
        spec = rt.spec(container.get("name"))
        forced = (spec or {}).get("env", {}).get("TESTBED_EXEC_AGENT")
        if forced:
            return forced.strip().upper()
    status = task.last_status
    if status == "RUNNING":
        return "RUNNING"
    if status in ("PROVISIONING", "PENDING", "ACTIVATING"):
        return "PENDING"
    return "STOPPED"


def _refresh(task):
    """Brings managedAgents and runtimeId of `task`'s containers up to date."""
    if not isinstance(getattr(task, "containers", None), list):
        return
    for c in task.containers:
        if not isinstance(c, dict):
            continue
        digest = hashlib.sha256(f"{task.id}/{c.get('name')}".encode()).hexdigest()
        c.setdefault("runtimeId", f"{digest[:32]}-{int(digest[32:40], 16) % 10**10}")
        if getattr(task, "enable_execute_command", False):
            status = _agent_status(task, c)
            agent = {"name": "ExecuteCommandAgent", "lastStatus": status}
            if status == "RUNNING" and task.started_at:
                agent["lastStartedAt"] = task.started_at
            c["managedAgents"] = [agent]


def _run_task_response(self):
    _local.exec = bool(self._get_param("enableExecuteCommand"))
    try:
        return _orig["run_task_response"](self)
    finally:
        _local.exec = False


def _run_task(self, *args, **kwargs):
    tasks = _orig["run_task"](self, *args, **kwargs)
    for t in tasks:
        t.enable_execute_command = getattr(_local, "exec", False)
        _refresh(t)
    return tasks


def _launch_service_task(backend, service, key, dep):
    task = _orig["launch_service_task"](backend, service, key, dep)
    task.enable_execute_command = bool(getattr(service, "enable_execute_command", False))
    _refresh(task)
    return task


def _describe_tasks(self, *args, **kwargs):
    tasks = _orig["describe_tasks"](self, *args, **kwargs)
    for t in tasks:
        _refresh(t)
    return tasks


def _execute_command(self):
    cluster_str = self._get_param("cluster", "default")
    task_str = self._get_param("task")
    container_name = self._get_param("container")
    command = self._get_param("command")
    interactive = bool(self._get_param("interactive"))
    backend = self.ecs_backend
    if not command:
        raise InvalidParameterException("command can not be blank.")
    if not interactive:
        raise InvalidParameterException("Interactive is the only mode supported currently.")
    tasks = backend.describe_tasks(cluster_str, [task_str])
    if not tasks:
        raise InvalidParameterException("The specified task was not found.")
    task = tasks[0]
    containers = [c for c in task.containers if isinstance(c, dict)]
    if container_name:
        chosen = [c for c in containers if c.get("name") == container_name]
        if not chosen:
            raise InvalidParameterException("The specified container was not found in the task.")
    else:
        if len(containers) > 1:
            raise InvalidParameterException(
                "Task has multiple containers. The container name must be specified.")
        chosen = containers
    container = chosen[0]
    agent = next((a for a in container.get("managedAgents", []) if a.get("name") == "ExecuteCommandAgent"), None)
    if not getattr(task, "enable_execute_command", False) or task.last_status != "RUNNING" \
            or agent is None or agent.get("lastStatus") != "RUNNING":
        raise InvalidParameterException(
            "The execute command failed because execute command was not enabled when the task was run "
            "or the execute command agent isn't running. Wait and try again or run a new task with "
            "execute command enabled and try again.")
    session_id = f"ecs-execute-command-{uuid.uuid4().hex[:17]}"
    region = task.region_name
    return ActionResult({
        "clusterArn": task.cluster_arn,
        "containerArn": container.get("containerArn"),
        "containerName": container.get("name"),
        "interactive": True,
        "session": {
            "sessionId": session_id,
            "streamUrl": f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session_id}"
                         "?role=publish_subscribe&cell-number=AAEAAQ",
            "tokenValue": "testbed-session-token-" + uuid.uuid4().hex,
        },
        "taskArn": task.task_arn,
    })


def _task_resources(self, task_definition):
    """RunTask (`wharf run`) on a Fargate task definition whose containers set no memory failed in
    moto with a TypeError: its accounting adds each container's memory. Fall back to the
    task-level cpu and memory, as ECS does (the ECS extension does the same for service tasks)."""
    try:
        return _orig["task_resources"](self, task_definition)
    except TypeError:
        return {"CPU": int(float(task_definition.cpu or 0)),
                "MEMORY": int(float(task_definition.memory or 0)),
                "PORTS": [], "PORTS_UDP": []}


def install():
    """Call after ecs_ext.install(): it wraps the ECS extension's RunTask and service launches."""
    _orig["task_resources"] = EC2ContainerServiceBackend._calculate_task_resource_requirements
    EC2ContainerServiceBackend._calculate_task_resource_requirements = _task_resources
    _orig["run_task_response"] = EC2ContainerServiceResponse.run_task
    _orig["run_task"] = EC2ContainerServiceBackend.run_task
    _orig["describe_tasks"] = EC2ContainerServiceBackend.describe_tasks
    _orig["launch_service_task"] = ecs_ext._launch_service_task
    EC2ContainerServiceResponse.run_task = _run_task_response
    EC2ContainerServiceBackend.run_task = _run_task
    EC2ContainerServiceBackend.describe_tasks = _describe_tasks
    ecs_ext._launch_service_task = _launch_service_task
    EC2ContainerServiceResponse.execute_command = _execute_command
