"""ECS-native deployment strategies (BLUE_GREEN, LINEAR, CANARY) with lifecycle hooks, on top of
the lifecycle in ecs_ext and the service deployments in service_deployments.

AWS (ECS API reference: DeploymentConfiguration, LinearConfiguration, CanaryConfiguration,
DeploymentLifecycleHook, DeploymentLifecycleHookTimeoutConfiguration, AdvancedConfiguration,
LoadBalancer, ServiceDeployment, DeploymentLifecycleHookDetail, ServiceRevisionSummary,
ContinueServiceDeployment, StopServiceDeployment; developer guide "Amazon ECS blue/green
deployments", "... workflow", "linear deployments", "canary deployments", "Lifecycle hooks for
Amazon ECS service deployments", "Lambda hooks ...", "Pause hooks ...", "Continuing service
deployments", "Application Load Balancer resources for blue/green, linear, and canary deployments"):

* CreateService/UpdateService validate `deploymentConfiguration.strategy` and its settings and, for
  BLUE_GREEN/LINEAR/CANARY, every load balancer's `advancedConfiguration` against the ELBv2 state.
* A deployment of such a service runs its lifecycle stages in order on the ticker:
  [RECONCILE_SERVICE] PRE_SCALE_UP SCALE_UP POST_SCALE_UP TEST_TRAFFIC_SHIFT POST_TEST_TRAFFIC_SHIFT
  PRODUCTION_TRAFFIC_SHIFT POST_PRODUCTION_TRAFFIC_SHIFT BAKE_TIME CLEAN_UP.  The green tasks start
  next to the blue ones (registered in the green target group), the ELBv2 listener rules' forward
  weights move (test rule at TEST_TRAFFIC_SHIFT; production rule all at once, in linear steps or
  canary then the rest), blue is drained at CLEAN_UP; then the rolling code of ecs_ext finds the
  service steady and the deployment SUCCESSFUL.
* Lifecycle hooks: Lambda hooks are not run: their answers come from the test bed's hook answer
  table (POST /_testbed/hooks) and every invocation is recorded (GET /_testbed/hooks).  PAUSE hooks
  wait for ContinueServiceDeployment.  A failed hook, a paused hook answered ROLLBACK, a hook that
  times out with action ROLLBACK, the circuit breaker (with rollback) and StopServiceDeployment
  (ROLLBACK) return all traffic to blue, stop green and end ROLLBACK_SUCCESSFUL.
* Minutes (bake times, step/canary bake times, hook timeouts) last `strategy_minute_seconds`
  seconds (knob, default 60).

Everything runs under ecs_ext.LOCK.
"""
import base64
import copy
import math
import os
import re

from moto.core.responses import ActionResult
from moto.ecs.exceptions import InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse

from . import config, ecs_ext
from . import service_deployments as sdx

STRATEGIES = ("ROLLING", "BLUE_GREEN", "LINEAR", "CANARY")
SHIFTING = ("BLUE_GREEN", "LINEAR", "CANARY")
HOOK_STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
               "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT",
               "POST_PRODUCTION_TRAFFIC_SHIFT")
NO_PAUSE_STAGES = ("TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT")
HOOK_STATUSES = ("SUCCEEDED", "FAILED", "IN_PROGRESS")
DEFAULT_CALLBACK_SECONDS = 30.0
LINEAR_DEFAULTS = {"stepPercent": 10.0, "stepBakeTimeInMinutes": 6}
CANARY_DEFAULTS = {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 10}
HOOK_TIMEOUT_DEFAULT = {"timeoutInMinutes": 1440, "action": "ROLLBACK"}

REASON_HOOK_ROLLBACK = "Service deployment rolled back because a lifecycle hook failed."
REASON_HOOK_TIMEOUT = "Service deployment rolled back because a lifecycle hook timed out."
REASON_PAUSE_ROLLBACK = "Service deployment rolled back by ContinueServiceDeployment."
REASON_NO_ROLLBACK_TARGET = ("Service deployment stopped: a lifecycle hook failed and there is no successful "
                             "service revision to roll back to.")
ROLLBACK_BY_HOOK = "The lifecycle hook {hook} at {stage} initiated the rollback operation: {why}."
ROLLBACK_BY_PAUSE = "ContinueServiceDeployment (action ROLLBACK) initiated the rollback operation."

_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}"
                         r"(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")

# the hook answer table and the invocation record (test-bed state, cleared by the reset)
ANSWERS = {}      # (hookTargetArn, lifecycleStage or None) -> {"answers": [...], "used": n}
INVOCATIONS = []  # dicts, oldest first


def _bad(msg):
    raise InvalidParameterException(msg)


def minutes(m):
    return float(m) * float(config.get("strategy_minute_seconds"))


def _hook_id(kind):
    return f"ecs-{kind}-" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


# --------------------------------------------------------------------------- validation
def _int_in(value, lo, hi, name):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _bad(f"{name} must be an integer from {lo} to {hi}.")
    return value


def _tenths_in(value, lo, hi, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi \
            or abs(value * 10 - round(value * 10)) > 1e-6:
        _bad(f"{name} must be a multiple of 0.1 from {lo} to {hi}.")
    return float(value)


def _validate_hooks(hooks):
    if not isinstance(hooks, list):
        _bad("lifecycleHooks must be a list.")
    for i, h in enumerate(hooks):
        where = f"lifecycleHooks[{i}]"
        if not isinstance(h, dict):
            _bad(f"{where} must be an object.")
        kind = h.get("targetType", "AWS_LAMBDA")
        if kind not in ("AWS_LAMBDA", "PAUSE"):
            _bad(f"{where}.targetType {kind!r} is invalid: valid values are AWS_LAMBDA, PAUSE.")
        stages = h.get("lifecycleStages")
        if not isinstance(stages, list) or not stages:
            _bad(f"{where}.lifecycleStages must be provided for a deployment lifecycle hook.")
        for s in stages:
            if s not in HOOK_STAGES:
                _bad(f"{where}.lifecycleStages: invalid stage {s!r}: valid values are {', '.join(HOOK_STAGES)}.")
        if len(set(stages)) != len(stages):
            _bad(f"{where}.lifecycleStages must not repeat a stage.")
        if kind == "AWS_LAMBDA":
            arn = h.get("hookTargetArn")
            if not arn:
                _bad(f"{where}.hookTargetArn must be provided for an AWS_LAMBDA lifecycle hook.")
            if not isinstance(arn, str) or not _LAMBDA_ARN.match(arn):
                _bad(f"{where}.hookTargetArn {arn!r} is not a Lambda function ARN.")
            role = h.get("roleArn")
            if not role:
                _bad(f"{where}.roleArn must be provided for an AWS_LAMBDA lifecycle hook: Amazon ECS needs a "
                     "role to invoke the Lambda function.")
            if not isinstance(role, str) or not _ROLE_ARN.match(role):
                _bad(f"{where}.roleArn {role!r} is not an IAM role ARN.")
        else:
            if h.get("hookTargetArn") is not None:
                _bad(f"{where}.hookTargetArn is not applicable for PAUSE hooks.")
            bad = [s for s in stages if s in NO_PAUSE_STAGES]
            if bad:
                _bad(f"{where}: PAUSE hooks cannot be configured at {bad[0]}: only AWS_LAMBDA hooks are valid "
                     "at TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT.")
        if "hookDetails" in h and h["hookDetails"] is not None and not isinstance(h["hookDetails"], dict):
            _bad(f"{where}.hookDetails must be a JSON object.")
        to = h.get("timeoutConfiguration")
        if to is not None:
            if not isinstance(to, dict):
                _bad(f"{where}.timeoutConfiguration must be an object.")
            if to.get("timeoutInMinutes") is not None:
                _int_in(to["timeoutInMinutes"], 1, 20160, f"{where}.timeoutConfiguration.timeoutInMinutes")
            if to.get("action") is not None and to["action"] not in ("ROLLBACK", "CONTINUE"):
                _bad(f"{where}.timeoutConfiguration.action {to['action']!r} is invalid: valid values are "
                     "ROLLBACK, CONTINUE.")


def _elb(backend):
    from moto.elbv2.models import elbv2_backends
    return elbv2_backends[backend.account_id][backend.region_name]


def _find_rule(elb, arn):
    """(listener, rule) for a listener rule ARN (an ALB rule, the default rule included), or
    (listener, None) for a listener ARN (NLB: the listener's default actions); None if unknown."""
    for lb in elb.load_balancers.values():
        for listener in lb.listeners.values():
            if listener.arn == arn:
                return listener, None
            for rule in listener.rules.values():
                if rule.arn == arn:
                    return listener, rule
    return None


def _actions(found):
    listener, rule = found
    return rule.actions if rule is not None else listener.default_actions


def _forward_weights(found):
    """{target group arn: weight} of the forward action, or None if there is none."""
    for a in _actions(found):
        data = a.data
        if data.get("Type") != "forward":
            continue
        fc = data.get("ForwardConfig") or {}
        if fc.get("TargetGroups"):
            return {t["TargetGroupArn"]: int(t.get("Weight", 1)) for t in fc["TargetGroups"]}
        if data.get("TargetGroupArn"):
            return {data["TargetGroupArn"]: 1}
    return None


def _validate_load_balancers(backend, strategy, lbs):
    if strategy in ("LINEAR", "CANARY") and not lbs:
        _bad(f"The {strategy} deployment strategy requires a load balancer: production traffic is shifted "
             "between the target groups of an Application or Network Load Balancer.")
    elb = _elb(backend)
    for i, lb in enumerate(lbs or []):
        where = f"loadBalancers[{i}]"
        tg = lb.get("targetGroupArn")
        if not tg:
            _bad(f"{where}: the {strategy} deployment strategy requires a target group (targetGroupArn); "
                 "Classic Load Balancers are not supported.")
        adv = lb.get("advancedConfiguration")
        if not isinstance(adv, dict):
            _bad(f"{where}.advancedConfiguration is required with the {strategy} deployment strategy.")
        for k in ("alternateTargetGroupArn", "productionListenerRule", "roleArn"):
            if not adv.get(k):
                _bad(f"{where}.advancedConfiguration.{k} is required with the {strategy} deployment strategy.")
        if not _ROLE_ARN.match(adv["roleArn"]):
            _bad(f"{where}.advancedConfiguration.roleArn {adv['roleArn']!r} is not an IAM role ARN.")
        alt = adv["alternateTargetGroupArn"]
        for arn in (tg, alt):
            if arn not in elb.target_groups:
                _bad(f"{where}: target group {arn} does not exist.")
        if alt == tg:
            _bad(f"{where}.advancedConfiguration.alternateTargetGroupArn must differ from targetGroupArn.")
        for k in ("productionListenerRule", "testListenerRule"):
            arn = adv.get(k)
            if arn is None:
                continue
            found = _find_rule(elb, arn)
            if found is None:
                _bad(f"{where}.advancedConfiguration.{k}: listener rule {arn} does not exist.")
            weights = _forward_weights(found)
            if weights is None:
                _bad(f"{where}.advancedConfiguration.{k}: listener rule {arn} has no forward action.")
            others = [a for a in weights if a not in (tg, alt)]
            if others or not (set(weights) & {tg, alt}):
                _bad(f"{where}.advancedConfiguration.{k}: listener rule {arn} must forward only to the "
                     f"target group {tg} and/or the alternate target group {alt}.")


def validate(backend, dconf, lbs, controller, request_dconf):
    dconf = dconf or {}
    req = request_dconf or {}
    strategy = dconf.get("strategy", "ROLLING")
    if strategy not in STRATEGIES:
        _bad(f"Invalid deployment strategy {strategy!r}: valid values are {', '.join(STRATEGIES)}.")
    if strategy != "ROLLING" and controller != "ECS":
        _bad(f"The {strategy} deployment strategy is only valid with the ECS deployment controller.")
    if dconf.get("bakeTimeInMinutes") is not None:
        _int_in(dconf["bakeTimeInMinutes"], 0, 1440, "bakeTimeInMinutes")
    elif strategy == "BLUE_GREEN":
        _bad("bakeTimeInMinutes must be provided with the BLUE_GREEN deployment strategy.")
    if req.get("linearConfiguration") is not None and strategy != "LINEAR":
        _bad("linearConfiguration is only valid with the LINEAR deployment strategy.")
    if req.get("canaryConfiguration") is not None and strategy != "CANARY":
        _bad("canaryConfiguration is only valid with the CANARY deployment strategy.")
    lc = dconf.get("linearConfiguration")
    if strategy == "LINEAR" and lc is not None:
        if not isinstance(lc, dict):
            _bad("linearConfiguration must be an object.")
        if lc.get("stepPercent") is not None:
            _tenths_in(lc["stepPercent"], 3.0, 100.0, "linearConfiguration.stepPercent")
        if lc.get("stepBakeTimeInMinutes") is not None:
            _int_in(lc["stepBakeTimeInMinutes"], 0, 1440, "linearConfiguration.stepBakeTimeInMinutes")
    cc = dconf.get("canaryConfiguration")
    if strategy == "CANARY" and cc is not None:
        if not isinstance(cc, dict):
            _bad("canaryConfiguration must be an object.")
        if cc.get("canaryPercent") is not None:
            _tenths_in(cc["canaryPercent"], 0.1, 100.0, "canaryConfiguration.canaryPercent")
        if cc.get("canaryBakeTimeInMinutes") is not None:
            _int_in(cc["canaryBakeTimeInMinutes"], 0, 1440, "canaryConfiguration.canaryBakeTimeInMinutes")
    hooks = dconf.get("lifecycleHooks")
    if hooks:
        if strategy == "ROLLING":
            _bad("lifecycleHooks are only valid with the BLUE_GREEN, LINEAR and CANARY deployment strategies.")
        _validate_hooks(hooks)
    if strategy in SHIFTING:
        _validate_load_balancers(backend, strategy, lbs)


def normalize(dconf):
    """The defaults AWS documents, filled in (what DescribeServices shows back)."""
    strategy = dconf.get("strategy")
    if strategy == "LINEAR":
        dconf["linearConfiguration"] = {**LINEAR_DEFAULTS, **(dconf.get("linearConfiguration") or {})}
        dconf["linearConfiguration"]["stepPercent"] = float(dconf["linearConfiguration"]["stepPercent"])
    if strategy == "CANARY":
        dconf["canaryConfiguration"] = {**CANARY_DEFAULTS, **(dconf.get("canaryConfiguration") or {})}
        dconf["canaryConfiguration"]["canaryPercent"] = float(dconf["canaryConfiguration"]["canaryPercent"])
    for h in dconf.get("lifecycleHooks") or []:
        h.setdefault("targetType", "AWS_LAMBDA")
    return dconf


def _wrap_create():
    orig = EC2ContainerServiceResponse.create_service

    def create_service(self):
        dconf = self._get_param("deploymentConfiguration") or {}
        controller = (self._get_param("deploymentController") or {}).get("type", "ECS")
        validate(self.ecs_backend, dconf, self._get_param("loadBalancers") or [], controller, dconf)
        result = orig(self)
        service = result.result.get("service")
        if service is not None:
            normalize(service.deployment_configuration)
        return result
    EC2ContainerServiceResponse.create_service = create_service


def _wrap_update():
    orig = EC2ContainerServiceResponse.update_service

    def update_service(self):
        backend = self.ecs_backend
        dconf = self._get_param("deploymentConfiguration")
        lbs = self._get_param("loadBalancers")
        if dconf is not None or lbs is not None:
            try:
                service = backend._get_service(self._get_param("cluster") or "default",
                                               (self._get_param("service") or "").split("/")[-1])
            except Exception:  # noqa: BLE001 - moto's own UpdateService answers the error
                service = None
            if service is not None:
                merged = dict(getattr(service, "deployment_configuration", {}) or {})
                merged.update(dconf or {})
                controller = (service.deployment_controller or {}).get("type", "ECS")
                validate(backend, merged, lbs if lbs is not None else (service.load_balancers or []),
                         controller, dconf)
        result = orig(self)
        service = result.result.get("service")
        if service is not None:
            normalize(service.deployment_configuration)
        return result
    EC2ContainerServiceResponse.update_service = update_service


# --------------------------------------------------------------------------- ELBv2 weights
def _set_weights(elb, rule_arn, weights):
    """Point the rule's (or NLB listener's) forward action at `weights` {tg arn: percent}."""
    from moto.elbv2.models import FakeAction
    found = _find_rule(elb, rule_arn)
    if found is None:
        return
    listener, rule = found
    old = _actions(found)
    new = []
    for a in old:
        data = copy.deepcopy(a.data)
        if data.get("Type") == "forward":
            fc = data.get("ForwardConfig") or {}
            if all(float(p).is_integer() for p in weights.values()):
                tgs = [{"TargetGroupArn": arn, "Weight": int(p)} for arn, p in weights.items()]
            else:  # ELBv2 weights are integers 0-999: tenths of a percent
                tgs = [{"TargetGroupArn": arn, "Weight": int(round(p * 10))} for arn, p in weights.items()]
            data.pop("TargetGroupArn", None)
            data["ForwardConfig"] = {"TargetGroups": tgs,
                                     "TargetGroupStickinessConfig": fc.get("TargetGroupStickinessConfig")
                                     or {"Enabled": False}}
        new.append(FakeAction(data))
    if rule is not None:
        rule.actions = new
        if getattr(rule, "is_default", False):
            listener.default_actions = new
    else:
        listener.default_actions = new
        for r in listener.rules.values():
            if getattr(r, "is_default", False):
                r.actions = new


def _green_share(found, blue, green):
    w = _forward_weights(found) or {}
    total = sum(w.values())
    return 100.0 * w.get(green, 0) / total if total else 0.0


# --------------------------------------------------------------------------- hooks
def set_answers(items):
    for item in items:
        arn = item.get("hookTargetArn")
        if not isinstance(arn, str) or not arn:
            raise ValueError("hookTargetArn is required")
        stage = item.get("lifecycleStage")
        if stage is not None and stage not in HOOK_STAGES:
            raise ValueError(f"invalid lifecycleStage {stage!r}: valid values are {', '.join(HOOK_STAGES)}")
        answers = item.get("answers")
        if answers is None:
            answers = [{k: item[k] for k in ("hookStatus", "callBackDelay", "hookDetails") if k in item}]
        if not isinstance(answers, list) or not answers:
            raise ValueError("answers must be a non-empty list")
        for a in answers:
            if not isinstance(a, dict) or "hookStatus" not in a:
                raise ValueError("every answer needs a hookStatus")
            if a.get("callBackDelay") is not None and (isinstance(a["callBackDelay"], bool) or
                                                       not isinstance(a["callBackDelay"], (int, float)) or
                                                       a["callBackDelay"] < 0):
                raise ValueError("callBackDelay must be a number of seconds >= 0")
        ANSWERS[(arn, stage)] = {"answers": copy.deepcopy(answers), "used": 0}


def _next_answer(arn, stage):
    entry = ANSWERS.get((arn, stage)) or ANSWERS.get((arn, None))
    if entry is None:
        return None
    a = entry["answers"][min(entry["used"], len(entry["answers"]) - 1)]
    entry["used"] += 1
    return copy.deepcopy(a)


def hooks_endpoint(method, payload):
    """/_testbed/hooks: POST sets answers, GET lists answers and invocations, DELETE clears both."""
    with ecs_ext.LOCK:
        if method == "POST":
            try:
                set_answers(payload if isinstance(payload, list) else [payload])
            except (ValueError, AttributeError, TypeError) as e:
                return "400 Bad Request", {"error": str(e)}
        elif method == "DELETE":
            ANSWERS.clear()
            del INVOCATIONS[:]
        return "200 OK", {
            "answers": [{"hookTargetArn": k[0], "lifecycleStage": k[1], "answers": v["answers"], "used": v["used"]}
                        for k, v in ANSWERS.items()],
            "invocations": copy.deepcopy(INVOCATIONS)}


def reset():
    ANSWERS.clear()
    del INVOCATIONS[:]


class HookRun:
    """One hook at one stage (one entry of lifecycleHookDetails)."""

    def __init__(self, hook, stage, t):
        self.hook = hook
        self.stage = stage
        self.kind = hook.get("targetType", "AWS_LAMBDA")
        self.hook_id = _hook_id("pause" if self.kind == "PAUSE" else "lambda")
        to = {**HOOK_TIMEOUT_DEFAULT, **(hook.get("timeoutConfiguration") or {})}
        self.timeout_action = to["action"]
        self.expires = t + minutes(to["timeoutInMinutes"])
        self.status = "AWAITING_ACTION" if self.kind == "PAUSE" else "IN_PROGRESS"
        self.next_at = t
        self.details = copy.deepcopy(hook.get("hookDetails"))
        self.why = None

    def detail(self):
        out = {"hookId": self.hook_id, "targetType": self.kind, "status": self.status,
               "expiresAt": ecs_ext.dt(self.expires), "timeoutAction": self.timeout_action}
        if self.kind == "AWS_LAMBDA":
            out["targetArn"] = self.hook["hookTargetArn"]
        return out


# --------------------------------------------------------------------------- the run of one deployment
class Rollback(Exception):
    def __init__(self, status_reason, rollback_reason, breaker=False):
        super().__init__(status_reason)
        self.status_reason = status_reason
        self.rollback_reason = rollback_reason
        self.breaker = breaker


class Run:
    def __init__(self, backend, service, sd, legacy):
        self.backend = backend
        self.key = sd.service_key
        self.sd = sd
        self.green = legacy["id"]
        self.dconf = copy.deepcopy(sd.dconf)
        self.strategy = self.dconf["strategy"]
        self.hooks = self.dconf.get("lifecycleHooks") or []
        self.stage = None
        self.hook_runs = []
        self.done = False
        self.rolling_back = False
        self.hook_rollback = None      # set by ContinueServiceDeployment ROLLBACK
        self.blue = {d["id"] for d in service.deployments if d is not legacy}
        self.lbs = []
        elb = _elb(backend)
        for lb in service.load_balancers or []:
            adv = lb.get("advancedConfiguration") or {}
            primary, alt = lb.get("targetGroupArn"), adv.get("alternateTargetGroupArn")
            if not primary or not alt:
                continue
            prod = adv.get("productionListenerRule")
            found = _find_rule(elb, prod) if prod else None
            w = (_forward_weights(found) if found else None) or {primary: 1}
            blue_tg = primary if w.get(primary, 0) >= w.get(alt, 0) else alt
            green_tg = alt if blue_tg == primary else primary
            self.lbs.append({"blue": blue_tg, "green": green_tg, "prod": prod, "test": adv.get("testListenerRule"),
                             "port": lb.get("containerPort"), "container": lb.get("containerName")})
        self.has_blue = bool(self._blue_tasks(service))
        if not self.has_blue:
            for lb in self.lbs:  # nothing to shift from: the tasks go where production traffic is
                lb["green"] = lb["blue"]
        self.script = self._script()

    # ---- helpers
    def service(self):
        return self.backend.services.get(self.key)

    def _tasks(self, service, ids):
        return [t for t in ecs_ext._service_tasks(self.backend, service)
                if t.started_by in ids and t.desired_status == "RUNNING"]

    def _blue_tasks(self, service):
        return self._tasks(service, self.blue)

    def _green_dep(self, service):
        return ecs_ext._find_deployment(service, self.green)

    def weights(self, which):
        """{revision arn: percent} of production or test traffic, as the hook payloads show it."""
        green_rev = self.sd.target_rev
        blue_rev = self.sd.sources[0] if self.sd.sources else None
        elb = _elb(self.backend)
        shares = []
        for lb in self.lbs:
            arn = lb[which]
            found = _find_rule(elb, arn) if arn else None
            if found is not None:
                shares.append(100.0 if lb["blue"] == lb["green"] else _green_share(found, lb["blue"], lb["green"]))
        if not shares:
            return {}
        g = round(sum(shares) / len(shares), 1)
        out = {green_rev: g}
        if blue_rev and blue_rev != green_rev:
            out[blue_rev] = round(100.0 - g, 1)
        elif g < 100.0:
            out[green_rev] = 100.0
        return out

    def shift(self, which, green_pct):
        elb = _elb(self.backend)
        for lb in self.lbs:
            if lb[which] and lb["blue"] != lb["green"]:
                _set_weights(elb, lb[which], {lb["blue"]: round(100.0 - green_pct, 1), lb["green"]: green_pct})

    def _register(self, tasks, tg_key, register=True):
        elb = _elb(self.backend)
        for lb in self.lbs:
            tg = elb.target_groups.get(lb[tg_key])
            if tg is None:
                continue
            for task in tasks:
                ip = None
                for a in task.attachments or []:
                    for d in a.get("details", []):
                        if d.get("name") == "privateIPv4Address":
                            ip = d.get("value")
                if not ip:
                    continue
                if register:
                    tg.targets.setdefault(ip, {"Id": ip, "Port": lb["port"] or tg.port})
                    tg.deregistered_targets.pop(ip, None)
                elif ip in tg.targets:
                    tg.deregistered_targets[ip] = tg.targets.pop(ip)

    def set_stage(self, stage):
        self.stage = stage
        self.hook_runs = []
        self.sd.lifecycle_stage = stage
        self.sd.updated = ecs_ext.now()

    # ---- the stages
    def _script(self):
        if len(self.sd.sources) > 1:
            self.set_stage("RECONCILE_SERVICE")
            yield from self._hooks("RECONCILE_SERVICE")
        self.set_stage("PRE_SCALE_UP")
        yield from self._hooks("PRE_SCALE_UP")
        self.set_stage("SCALE_UP")
        yield from self._scale_up()
        self.set_stage("POST_SCALE_UP")
        yield from self._hooks("POST_SCALE_UP")
        self.set_stage("TEST_TRAFFIC_SHIFT")
        self.shift("test", 100.0)
        yield from self._hooks("TEST_TRAFFIC_SHIFT")
        self.set_stage("POST_TEST_TRAFFIC_SHIFT")
        yield from self._hooks("POST_TEST_TRAFFIC_SHIFT")
        self.set_stage("PRODUCTION_TRAFFIC_SHIFT")
        for pct, bake in self._steps():
            yield from self._hooks("PRE_PRODUCTION_TRAFFIC_SHIFT")
            self.shift("prod", pct)
            self.sd.updated = ecs_ext.now()
            yield from self._hooks("PRODUCTION_TRAFFIC_SHIFT")
            if bake:
                yield from self._wait(minutes(bake))
        self.set_stage("POST_PRODUCTION_TRAFFIC_SHIFT")
        yield from self._hooks("POST_PRODUCTION_TRAFFIC_SHIFT")
        self.set_stage("BAKE_TIME")
        yield from self._wait(minutes(self.dconf.get("bakeTimeInMinutes") or 0))
        self.set_stage("CLEAN_UP")
        yield from self._clean_up()

    def _steps(self):
        """[(green percent, bake minutes after the step)]."""
        if self.strategy == "LINEAR":
            lc = self.dconf.get("linearConfiguration") or LINEAR_DEFAULTS
            step = float(lc.get("stepPercent", LINEAR_DEFAULTS["stepPercent"]))
            bake = lc.get("stepBakeTimeInMinutes", LINEAR_DEFAULTS["stepBakeTimeInMinutes"])
            n = math.ceil(round(100.0 / step, 6))
            out = [(min(100.0, round(step * (i + 1), 1)), bake) for i in range(n)]
            out[-1] = (100.0, 0)  # no bake after reaching 100 percent
            return out
        if self.strategy == "CANARY":
            cc = self.dconf.get("canaryConfiguration") or CANARY_DEFAULTS
            pct = float(cc.get("canaryPercent", CANARY_DEFAULTS["canaryPercent"]))
            bake = cc.get("canaryBakeTimeInMinutes", CANARY_DEFAULTS["canaryBakeTimeInMinutes"])
            return [(pct, bake), (100.0, 0)] if pct < 100.0 else [(100.0, 0)]
        return [(100.0, 0)]

    def _wait(self, seconds):
        until = ecs_ext.now() + seconds
        while ecs_ext.now() < until:
            yield

    def _scale_up(self):
        backend = self.backend
        while True:
            service = self.service()
            dep = self._green_dep(service)
            srt = ecs_ext._svc_rt(service)
            desired = service.desired_count or 0
            t = ecs_ext.now()
            cb = ecs_ext._deployment_config(service)["deploymentCircuitBreaker"]
            if cb["enable"] and dep.get("failedTasks", 0) >= ecs_ext.breaker_threshold(desired):
                raise Rollback(sdx.REASON_BREAKER_ROLLBACK if cb["rollback"] else sdx.REASON_BREAKER_STOP,
                               sdx.ROLLBACK_BY_BREAKER if cb["rollback"] else None, breaker=True)
            live = self._tasks(service, {self.green})
            if len(live) < desired and t >= srt.next_launch_at:
                started = []
                for _ in range(desired - len(live)):
                    try:
                        started.append(ecs_ext._launch_service_task(backend, service, self.key, dep))
                    except Exception as e:  # noqa: BLE001
                        ecs_ext._svc_event(service, ecs_ext.instances.service_event(service, e))
                        srt.next_launch_at = t + config.get("launch_backoff_max")
                        break
                if started:
                    ids = " ".join(f"(task {x.id})" for x in started)
                    ecs_ext._svc_event(service, f"(service {service.name}) has started {len(started)} tasks: {ids}.")
            running = [x for x in live if x.last_status == "RUNNING"]
            self._register(running, "green")
            if len(live) == desired and all(ecs_ext._task_healthy_running(x) for x in live):
                return
            yield

    def _clean_up(self):
        service = self.service()
        blue = self._blue_tasks(service)
        self._register(blue, "blue", register=False)
        reason = f"Scaling activity initiated by (deployment {self.green})"
        for x in blue:
            ecs_ext.request_stop(x, "ServiceSchedulerInitiated", reason)
        if blue:
            ecs_ext._stop_tasks_event(service, blue)
        while any(x.last_status != "STOPPED" for x in blue):
            yield

    def _hooks(self, stage):
        hooks = [h for h in self.hooks if stage in (h.get("lifecycleStages") or [])]
        if not hooks:
            return
        t = ecs_ext.now()
        runs = [HookRun(h, stage, t) for h in hooks]
        self.hook_runs = runs
        while True:
            t = ecs_ext.now()
            for r in runs:
                if r.kind == "AWS_LAMBDA" and r.status == "IN_PROGRESS" and t >= r.next_at:
                    self._invoke(r, t)
                if r.status in ("IN_PROGRESS", "AWAITING_ACTION") and t >= r.expires:
                    r.status = "TIMED_OUT"
                    r.why = "timed out"
            if self.hook_rollback is not None:
                self.hook_rollback = None
                raise Rollback(REASON_PAUSE_ROLLBACK, ROLLBACK_BY_PAUSE)
            for r in runs:
                if r.status == "FAILED" or (r.status == "TIMED_OUT" and r.timeout_action == "ROLLBACK"):
                    name = r.hook.get("hookTargetArn") or r.hook_id
                    raise Rollback(REASON_HOOK_TIMEOUT if r.status == "TIMED_OUT" else REASON_HOOK_ROLLBACK,
                                   ROLLBACK_BY_HOOK.format(hook=name, stage=stage, why=r.why))
            if all(r.status == "SUCCEEDED" or (r.status == "TIMED_OUT" and r.timeout_action == "CONTINUE")
                   for r in runs):
                return
            yield

    def _invoke(self, r, t):
        service = self.service()
        payload = {"serviceArn": service.arn, "targetServiceRevisionArn": self.sd.target_rev,
                   "testTrafficWeights": self.weights("test"), "productionTrafficWeights": self.weights("prod")}
        if r.details is not None:
            payload["hookDetails"] = copy.deepcopy(r.details)
        answer = _next_answer(r.hook["hookTargetArn"], r.stage)
        INVOCATIONS.append({"at": t, "hookTargetArn": r.hook["hookTargetArn"], "roleArn": r.hook.get("roleArn"),
                            "lifecycleStage": r.stage, "serviceDeploymentArn": self.sd.arn, "hookId": r.hook_id,
                            "payload": payload, "answer": copy.deepcopy(answer)})
        if answer is None:
            r.status, r.why = "FAILED", "the function failed: no answer is set for it in the test bed"
            return
        status = answer.get("hookStatus")
        if status == "SUCCEEDED":
            r.status = "SUCCEEDED"
        elif status == "IN_PROGRESS":
            delay = answer.get("callBackDelay")
            if delay is None:
                delay = DEFAULT_CALLBACK_SECONDS * float(config.get("strategy_minute_seconds")) / 60.0
            r.next_at = t + float(delay)
            if answer.get("hookDetails") is not None:
                r.details = copy.deepcopy(answer["hookDetails"])
        elif status == "FAILED":
            r.status, r.why = "FAILED", "it answered hookStatus FAILED"
        else:
            r.status, r.why = "FAILED", f"it returned no valid hookStatus ({status!r})"

    # ---- rollback
    def start_rollback(self, rb, requested=False):
        """Traffic back to blue, blue the PRIMARY deployment again, green stopped."""
        backend, service = self.backend, self.service()
        srt = sdx._runtime(service)
        ecs_srt = ecs_ext._svc_rt(service)
        self.rolling_back = True
        green = self._green_dep(service)
        t = ecs_ext.now()
        if green is not None:
            green["rolloutState"] = "FAILED"
            green["rolloutStateReason"] = ("ECS deployment circuit breaker: tasks failed to start." if rb.breaker
                                           else f"ECS deployment {self.green} rolled back.")
            green["updatedAt"] = ecs_ext.dt(t)
            rec = ecs_ext.DEPLOYMENT_RECORD.setdefault(self.green, {"service": service.name,
                                                                    "cluster": service.cluster_name, "created": None})
            rec.update(status="FAILED", at=t)
            srt.failed_of[self.green] = green.get("failedTasks", 0)
        if rb.breaker:
            self.sd.breaker_triggered = True
            ecs_ext._svc_event(service, f"(service {service.name}) (deployment {self.green}) deployment failed: "
                                        "tasks failed to start.")
        blue_dep = None
        if ecs_srt.last_completed and ecs_srt.last_completed[0] in self.blue:
            blue_dep = ecs_ext._find_deployment(service, ecs_srt.last_completed[0])
        if blue_dep is not None and self._blue_tasks(service):
            for d in service.deployments:
                if d["status"] == "PRIMARY":
                    d["status"] = "ACTIVE"
            blue_dep["status"] = "PRIMARY"
            blue_dep["updatedAt"] = ecs_ext.dt(t)
            service.deployments.remove(blue_dep)
            service.deployments.insert(0, blue_dep)
            service.task_definition = blue_dep["taskDefinition"]
        else:
            blue_dep = None
        self.shift("prod", 0.0)
        self.shift("test", 0.0)
        green_tasks = self._tasks(service, {self.green})
        self._register(green_tasks, "green", register=False)
        for x in green_tasks:
            ecs_ext.request_stop(x, "ServiceSchedulerInitiated", f"Scaling activity initiated by "
                                 f"(deployment {blue_dep['id'] if blue_dep else self.green})")
        if green_tasks:
            ecs_ext._stop_tasks_event(service, green_tasks)
        if blue_dep is None or rb.rollback_reason is None:
            # nothing to roll back to, or the breaker without rollback: the deployment stops
            if blue_dep is not None:
                reason = rb.status_reason
            else:
                reason = sdx.REASON_BREAKER_STOP if rb.breaker else REASON_NO_ROLLBACK_TARGET
            self.sd.set_status("STOP_REQUESTED", reason)
            self.script = self._stopped()
            return
        rev = srt.rev_of.get(blue_dep["id"])
        self.sd.rollback_legacy = blue_dep["id"]
        self.sd.rollback = {"reason": rb.rollback_reason, "startedAt": t, "serviceRevisionArn": rev}
        ecs_ext._svc_event(service, f"(service {service.name}) rolling back to deployment {blue_dep['id']}.")
        if not requested:
            self.sd.set_status("ROLLBACK_IN_PROGRESS", rb.status_reason)
        self.script = self._rolled_back(green_tasks)

    def _stopped(self):
        self.done = True
        return
        yield

    def _rolled_back(self, green_tasks):
        while any(x.last_status != "STOPPED" for x in green_tasks) or self.sd.status == "ROLLBACK_REQUESTED":
            yield
        service = self.service()
        self.sd.freeze(self.backend, service)
        self.sd.set_status("ROLLBACK_SUCCESSFUL")
        self.done = True

    def abort(self):
        """A newer deployment superseded this one: traffic back to blue, green stopped."""
        service = self.service()
        if service is None or self.done:
            self.done = True
            return
        if not self.rolling_back:
            self.shift("prod", 0.0)
            self.shift("test", 0.0)
            green_tasks = self._tasks(service, {self.green})
            self._register(green_tasks, "green", register=False)
            for x in green_tasks:
                ecs_ext.request_stop(x, "ServiceSchedulerInitiated", "Service deployment stopped because a new "
                                     "service deployment started.")
        self.done = True

    # ---- per tick
    def step(self):
        if self.done:
            return
        try:
            next(self.script)
        except StopIteration:
            self.done = True
        except Rollback as rb:
            if self.rolling_back:
                raise
            self.start_rollback(rb)


def _runs(backend):
    runs = getattr(backend, "_tb_strategy_runs", None)
    if runs is None:
        runs = backend._tb_strategy_runs = {}  # service deployment arn -> Run
    return runs


def _active_run(backend, service):
    key = f"{service.cluster_name}:{service.name}"
    for run in _runs(backend).values():
        if run.key == key and not run.done:
            return run
    return None


# --------------------------------------------------------------------------- hooks into the other modules
def on_new_deployment(backend, service, legacy, sd):
    """sdx.on_new_deployment created `sd` for the legacy deployment `legacy`."""
    normalize(ecs_ext._deployment_config(service))
    sd.dconf = copy.deepcopy(ecs_ext._deployment_config(service))
    old = _active_run(backend, service)
    if old is not None:
        old.abort()
    if sd.dconf.get("strategy", "ROLLING") in SHIFTING:
        run = _runs(backend)[sd.arn] = Run(backend, service, sd, legacy)
        sd._tb_run = run


def step_service(backend, key, service):
    """Called by ecs_ext.step_service: True while a strategy run drives the service."""
    run = _active_run(backend, service)
    if run is None:
        return False
    run.step()
    tasks = ecs_ext._service_tasks(backend, service)
    ecs_ext._update_counts(service, tasks)
    sdx.tick(backend, service)
    return True


def describe_extra(sd, out):
    """Adds lifecycleStage, lifecycleHookDetails and the traffic weights to a ServiceDeployment."""
    stage = getattr(sd, "lifecycle_stage", None)
    if stage is None:
        return out
    out["lifecycleStage"] = stage
    run = getattr(sd, "_tb_run", None)
    if run is not None:
        details = [r.detail() for r in run.hook_runs]
        if details:
            out["lifecycleHookDetails"] = details
        weights = {"requestedProductionTrafficWeight": run.weights("prod"),
                   "requestedTestTrafficWeight": run.weights("test")}
        for summ in [out.get("targetServiceRevision")] + list(out.get("sourceServiceRevisions") or []):
            if not summ:
                continue
            for field, w in weights.items():
                if summ["arn"] in w:
                    summ[field] = w[summ["arn"]]
                elif w:
                    summ[field] = 0.0
    return out


def stop(backend, sd):
    """StopServiceDeployment (ROLLBACK) on a strategy deployment: True if handled here."""
    run = _runs(backend).get(sd.arn)
    if run is None or run.done:
        return False
    if run.stage == "CLEAN_UP":
        return False  # blue is going: ECS rolls back by deploying the last successful revision again
    if run.rolling_back:
        return True
    run.start_rollback(Rollback(sdx.REASON_USER_ROLLBACK, sdx.ROLLBACK_BY_USER), requested=True)
    if sd.status in ("STOP_REQUESTED", "STOPPED"):
        return True  # nothing of blue left to return to: the deployment stopped
    sd.set_status("ROLLBACK_REQUESTED", sdx.REASON_USER_ROLLBACK)
    return True


def release(backend, sd):
    """The generic StopServiceDeployment took over (CLEAN_UP): the run ends."""
    run = _runs(backend).get(sd.arn)
    if run is not None:
        run.done = True


# --------------------------------------------------------------------------- ContinueServiceDeployment
def continue_service_deployment(self):
    backend = self.ecs_backend
    arn = self._get_param("serviceDeploymentArn")
    hook_id = self._get_param("hookId")
    action = self._get_param("action") or "CONTINUE"
    if not arn or not isinstance(arn, str):
        _bad("serviceDeploymentArn cannot be empty.")
    if not hook_id or not isinstance(hook_id, str):
        _bad("hookId cannot be empty.")
    if action not in ("CONTINUE", "ROLLBACK"):
        _bad(f"Invalid action {action!r}: valid values are ROLLBACK, CONTINUE.")
    sd = sdx.store(backend).deployments.get(arn)
    if sd is None:
        raise sdx.ServiceDeploymentNotFoundException(f"Service deployment {arn} not found.")
    if sd.status != "IN_PROGRESS":
        _bad(f"The service deployment {arn} is {sd.status}: only an IN_PROGRESS deployment can be continued.")
    run = _runs(backend).get(sd.arn)
    hook = None
    if run is not None and not run.done:
        hook = next((r for r in run.hook_runs if r.hook_id == hook_id), None)
    if hook is None or hook.kind != "PAUSE":
        _bad(f"The service deployment {arn} has no pause hook {hook_id}.")
    if hook.status != "AWAITING_ACTION":
        _bad(f"The pause hook {hook_id} is {hook.status}, not AWAITING_ACTION.")
    if action == "CONTINUE":
        hook.status = "SUCCEEDED"
    else:
        hook.status = "FAILED"
        hook.why = "ContinueServiceDeployment answered ROLLBACK"
        run.hook_rollback = hook
    sd.updated = ecs_ext.now()
    return ActionResult({"serviceDeploymentArn": arn})


def install():
    _wrap_create()
    _wrap_update()
    EC2ContainerServiceResponse.continue_service_deployment = continue_service_deployment
