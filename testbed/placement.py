"""Task placement on EC2 container instances, after the ECS developer guide ("Amazon ECS task
placement", "task placement constraints", "task placement strategies", "cluster query
language") and the API reference (RunTask's `failures`, ContainerInstance's resources).

What a task reserves: the task-level `cpu`/`memory` when the definition sets them, else the sum
of its containers' `cpu` and `memoryReservation` (or `memory`); its static host ports; and in
`bridge` mode one dynamic host port (32768-65535, the ECS-optimized AMI's range) for each
port mapping without a `hostPort` (or with 0).  `host` mode reserves the container port itself;
`awsvpc` reserves no host port.  An instance's remaining resources are its registered ones less
what its tasks that have not reached STOPPED reserve.

Placement: the ACTIVE instances with a connected agent that pass the constraints
(`distinctInstance`, `memberOf` expressions, the definition's and the caller's) and have the
resources, ordered by the strategies in turn (`spread` on `instanceId`/`host` or an
`attribute:`, `binpack` on `cpu`/`memory`, `random`); services default to spreading over
Availability Zones and then instances, RunTask to `random`.  When nothing fits, the closest
matching instance (the one failing the fewest checks) names the reason, in the service event's
wording and as RunTask's failure reason.

This module only decides; ecs_ext/instances apply the result.
"""
import random
import re

DYNAMIC_PORTS = (32768, 65535)

# check -> (RunTask failure reason, the end of the service event after "The closest matching ...")
REASONS = {
    "AGENT": ("AGENT", 'encountered error "AGENT".'),
    "MEMBER_OF": ("MemberOf placement constraint unsatisfied.",
                  "is missing an attribute required by your task."),
    "DISTINCT": ("DistinctInstance placement constraint unsatisfied.",
                 "is already running a task of the same group (distinctInstance)."),
    "CPU": ("RESOURCE:CPU", "has insufficient CPU units available."),
    "MEMORY": ("RESOURCE:MEMORY", "has insufficient memory available."),
    "PORTS": ("RESOURCE:PORTS", "is already using a port required by your task."),
}
NO_INSTANCES = "No Container Instances were found in your cluster."


class PlacementError(Exception):
    """No container instance can take the task.  `reason` is RunTask's failure reason, `arn` the
    closest matching instance (None when the cluster has none), `event` the service event's text
    after "(service NAME) "."""

    def __init__(self, reason, arn, event):
        super().__init__(event)
        self.reason = reason
        self.arn = arn
        self.event = event


class QueryError(Exception):
    pass


# --------------------------------------------------------------------------- requirements
def _units(value):
    """Task-level cpu/memory as ECS stores them: "256", "1 vCPU", "0.5 GB", "512 MiB"."""
    if value in (None, ""):
        return None
    s = str(value).strip().lower()
    m = re.match(r"^([0-9.]+)\s*(vcpu|gb|gib|mb|mib)?$", s)
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2)
    if unit == "vcpu":
        return int(n * 1024)
    if unit in ("gb", "gib"):
        return int(n * 1024)
    return int(n)


def network_mode(taskdef):
    return getattr(taskdef, "network_mode", None) or "bridge"


def requirements(taskdef):
    """{"CPU", "MEMORY", "ports": [(container, containerPort, hostPort or None, protocol)]}."""
    cpu = _units(getattr(taskdef, "cpu", None))
    mem = _units(getattr(taskdef, "memory", None))
    ccpu = cmem = 0
    ports = []
    mode = network_mode(taskdef)
    for c in taskdef.container_definitions:
        ccpu += int(c.get("cpu") or 0)
        cmem += int(c.get("memoryReservation") or c.get("memory") or 0)
        for pm in c.get("portMappings") or []:
            cport = pm.get("containerPort")
            if cport is None:
                continue
            proto = (pm.get("protocol") or "tcp").lower()
            if mode == "awsvpc":
                continue
            if mode == "host":
                host = pm.get("hostPort") or cport
            else:
                host = pm.get("hostPort") or None  # 0 / absent: dynamic
            ports.append((c.get("name"), int(cport), int(host) if host else None, proto))
    return {"CPU": cpu if cpu is not None else ccpu, "MEMORY": mem if mem is not None else cmem,
            "ports": ports}


# --------------------------------------------------------------------------- cluster query language
_TOKEN = re.compile(r"\s*(==|!=|>=|<=|=~|!~|&&|\|\||[()\[\],!<>]|[^\s()\[\],!<>=~&|]+)")
_OPS = {"==": "==", "equals": "==", "!=": "!=", "not_equals": "!=", ">": ">", ">=": ">=",
        "<": "<", "<=": "<=", "=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
        "in": "in", "not_in": "not_in", "exists": "exists", "not_exists": "not_exists"}


def _tokens(expr):
    out, pos = [], 0
    expr = expr or ""
    while pos < len(expr):
        if expr[pos:].strip() == "":
            break
        m = _TOKEN.match(expr, pos)
        if not m:
            raise QueryError(f"unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, expr):
        self.toks = _tokens(expr)
        self.i = 0
        if not self.toks:
            raise QueryError("empty expression")

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        tok = self.peek()
        if tok is None:
            raise QueryError("unexpected end of expression")
        self.i += 1
        return tok

    def parse(self):
        node = self.expr()
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return node

    def expr(self):
        node = self.term()
        while self.peek() is not None and self.peek().lower() in ("or", "||"):
            self.take()
            node = ("or", node, self.term())
        return node

    def term(self):
        node = self.factor()
        while self.peek() is not None and self.peek().lower() in ("and", "&&"):
            self.take()
            node = ("and", node, self.factor())
        return node

    def factor(self):
        tok = self.peek()
        if tok is not None and tok.lower() in ("not", "!"):
            self.take()
            return ("not", self.factor())
        if tok == "(":
            self.take()
            node = self.expr()
            if self.take() != ")":
                raise QueryError("missing )")
            return node
        subject = self.take()
        op = self.take()
        if op == "!" and self.peek() == "exists":
            self.take()
            op = "not_exists"
        op = _OPS.get(op.lower())
        if op is None:
            raise QueryError(f"unknown operator after {subject}")
        if op in ("exists", "not_exists"):
            return ("cmp", subject, op, None)
        if self.peek() == "[" or op in ("in", "not_in"):
            if self.take() != "[":
                raise QueryError(f"{op} needs a list [a, b]")
            values = []
            while True:
                values.append(self.take())
                sep = self.take()
                if sep == "]":
                    break
                if sep != ",":
                    raise QueryError("expected , or ] in a list")
            return ("cmp", subject, op, values)
        return ("cmp", subject, op, self.take())


def parse_query(expr):
    return _Parser(expr).parse()


def _subject_values(subject, view):
    """The values a subject has on an instance (a list: task:group can have several)."""
    s = subject
    if s.startswith("attribute:"):
        v = view["attributes"].get(s[len("attribute:"):])
        return [] if v is None else [v]
    if s == "task:group":
        return sorted(view["groups"])
    if s in ("ec2InstanceId", "agentConnected", "agentVersion", "runningTasksCount", "registeredAt"):
        v = view.get(s)
        return [] if v is None else [v]
    raise QueryError(f"unknown subject {subject}")


def _compare(value, op, arg):
    def num(x):
        try:
            return float(x)
        except (TypeError, ValueError):
            return None
    if op in ("==", "!="):
        eq = str(value).lower() == str(arg).lower() if str(arg).lower() in ("true", "false") \
            else str(value) == str(arg)
        return eq if op == "==" else not eq
    if op in ("=~", "!~"):
        hit = re.fullmatch(str(arg), str(value)) is not None
        return hit if op == "=~" else not hit
    if op in ("in", "not_in"):
        hit = str(value) in [str(a) for a in arg]
        return hit if op == "in" else not hit
    a, b = num(value), num(arg)
    if a is None or b is None:
        a, b = str(value), str(arg)
    return {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op]


def evaluate(node, view):
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], view) or evaluate(node[2], view)
    if kind == "and":
        return evaluate(node[1], view) and evaluate(node[2], view)
    if kind == "not":
        return not evaluate(node[1], view)
    _, subject, op, arg = node
    values = _subject_values(subject, view)
    if op == "exists":
        return bool(values)
    if op == "not_exists":
        return not values
    if op in ("!=", "!~", "not_in"):
        return all(_compare(v, op, arg) for v in values)
    return any(_compare(v, op, arg) for v in values)


# --------------------------------------------------------------------------- placing
def _checks(view, req, constraints, group_name, taken):
    """The checks `view` fails for a task needing `req`, in the order ECS reports them."""
    failed = []
    if not view["agentConnected"]:
        failed.append("AGENT")
    for c in constraints:
        if c.get("type") == "memberOf":
            if not evaluate(parse_query(c.get("expression")), view):
                failed.append("MEMBER_OF")
        elif c.get("type") == "distinctInstance":
            if group_name in view["groups"] or view["arn"] in taken:
                failed.append("DISTINCT")
    if req["CPU"] > view["cpu"]:
        failed.append("CPU")
    if req["MEMORY"] > view["memory"]:
        failed.append("MEMORY")
    for (_, _, host, proto) in req["ports"]:
        if host is not None and host in view["ports"].get(proto, set()):
            failed.append("PORTS")
            break
    return failed


def _strategy_key(strategy, view, views, group_counts):
    kind = (strategy.get("type") or "").lower()
    field = strategy.get("field") or ""
    if kind == "random":
        return random.random()
    if kind == "binpack":
        return view["memory"] if field.lower() == "memory" else view["cpu"]
    if kind == "spread":
        if field.lower() in ("instanceid", "host"):
            value = view["arn"]
        else:
            value = view["attributes"].get(field[len("attribute:"):] if field.startswith("attribute:") else field)
        return sum(group_counts.get(v["arn"], 0) for v in views
                   if (v["arn"] if field.lower() in ("instanceid", "host")
                       else v["attributes"].get(field[len("attribute:"):] if field.startswith("attribute:") else field))
                   == value)
    return 0


SERVICE_DEFAULT_STRATEGY = [{"type": "spread", "field": "attribute:ecs.availability-zone"},
                            {"type": "spread", "field": "instanceId"}]
RUN_TASK_DEFAULT_STRATEGY = [{"type": "random"}]


def choose(views, req, constraints, strategy, group_name, taken=()):
    """The view of the instance to place one task on, or raises PlacementError.  `views` are
    the ACTIVE instances (see instances.view); `taken` the instances already chosen in this
    call (for distinctInstance)."""
    if not views:
        raise PlacementError(None, None, NO_INSTANCES)
    scored = [(v, _checks(v, req, constraints, group_name, taken)) for v in views]
    fits = [v for v, failed in scored if not failed]
    if not fits:
        closest, failed = min(scored, key=lambda s: (len(s[1]), s[0]["registeredAt"]))
        reason, text = REASONS[failed[0]]
        ci_id = closest["arn"].split("/")[-1]
        raise PlacementError(reason, closest["arn"],
                             f"The closest matching (container-instance {ci_id}) {text}")
    group_counts = {v["arn"]: v["group_counts"].get(group_name, 0) for v in views}
    order = list(strategy or [])
    fits.sort(key=lambda v: tuple(_strategy_key(s, v, views, group_counts) for s in order)
              + (v["registeredAt"],))
    return fits[0]


def dynamic_ports(view, req):
    """Host ports for the mappings of `req` on the instance of `view`: static ones as given, a
    free dynamic one (lowest first) for the rest."""
    used = {p: set(s) for p, s in view["all_ports"].items()}
    out = []
    for (name, cport, host, proto) in req["ports"]:
        if host is None:
            taken = used.setdefault(proto, set())
            host = next(p for p in range(DYNAMIC_PORTS[0], DYNAMIC_PORTS[1] + 1) if p not in taken)
            taken.add(host)
        out.append((name, cport, host, proto))
    return out
