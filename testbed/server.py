"""moto server with the wharf test-bed extensions.

    python -m testbed.server --host 127.0.0.1 --port 4566

Adds, in front of moto's WSGI app:
  * a request log (one line per AWS API request) in $WHARF_TESTBED_DIR/requests.log
  * ECS request throttling with AWS's token buckets (testbed/throttle.py)
  * fault injection (POST /_testbed/faults)
  * control endpoints under /_testbed/ (health, config, requests, stats, deployments, faults, hooks)
and installs the ECS lifecycle extension, the ECR registry patches and the CloudWatch Logs
read paths (logs_ext).
"""
import argparse
import io
import json
import os
import random
import re
import socket
import sys
import threading
import time
from collections import Counter
from urllib.parse import parse_qs

from . import config, ecr_ext, ecs_ext, engine, exec_ext, logs_ext, strategies, throttle

STATE_DIR = os.environ.get("WHARF_TESTBED_DIR", os.path.expanduser("~/.cache/wharf-testbed"))
REQUEST_LOG = os.path.join(STATE_DIR, "requests.log")

_req_lock = threading.Lock()
_counts = Counter()
_faults = []  # list of dicts
_fault_lock = threading.Lock()

_CRED_RE = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/")


def identify(environ, body):
    """(service, operation) of an AWS API request."""
    service = ""
    m = _CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if m:
        service = m.group(2)
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        op = target.rsplit(".", 1)[-1]
        return service or target.split("_")[0].lower(), op
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    action = qs.get("Action", [None])[0]
    if not action and body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        try:
            action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
        except Exception:  # noqa: BLE001
            action = None
    if action:
        return service, action
    return service, f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


def _json(start_response, obj, status="200 OK"):
    data = json.dumps(obj, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _match_fault(service, op):
    with _fault_lock:
        for f in _faults:
            ops = f.get("operations") or ["*"]
            if not any(o in ("*", op, f"{service}:{op}") for o in ops):
                continue
            if f.get("count") is not None:
                if f["count"] <= 0:
                    continue
                f["count"] -= 1
                f["injected"] = f.get("injected", 0) + 1
                return f
            if random.random() < float(f.get("rate", 1.0)):
                f["injected"] = f.get("injected", 0) + 1
                return f
    return None


def control(environ, start_response, path, body):
    method = environ["REQUEST_METHOD"]
    payload = {}
    if body:
        try:
            payload = json.loads(body)
        except ValueError:
            return _json(start_response, {"error": "invalid JSON"}, "400 Bad Request")
    if path == "/_testbed/health":
        return _json(start_response, {"status": "ok", "engine": ecs_ext.ENGINE,
                                      "registry": engine.registry()})
    if path == "/_testbed/config":
        if method == "POST":
            try:
                config.update(payload)
            except (KeyError, ValueError) as e:
                return _json(start_response, {"error": f"bad knob: {e}"}, "400 Bad Request")
        elif method == "DELETE":
            config.load_from_env()
        return _json(start_response, config.snapshot())
    if path == "/_testbed/requests":
        with _req_lock:
            if method in ("DELETE", "POST"):
                _counts.clear()
                return _json(start_response, {"cleared": True})
            counts = dict(_counts)
        return _json(start_response, {"total": sum(counts.values()), "counts": counts})
    if path == "/_testbed/stats":
        if method in ("DELETE", "POST"):
            throttle.clear()
        return _json(start_response, throttle.stats())
    if path == "/_testbed/deployments":
        with ecs_ext.LOCK:
            if method == "DELETE":
                ecs_ext.DEPLOYMENT_RECORD.clear()
            rec = {k: dict(v) for k, v in ecs_ext.DEPLOYMENT_RECORD.items()}
        return _json(start_response, {"deployments": rec})
    if path == "/_testbed/faults":
        with _fault_lock:
            if method == "POST":
                items = payload if isinstance(payload, list) else [payload]
                for f in items:
                    kind = str(f.get("error", "throttle"))
                    if kind not in ("throttle", "500", "503", "drop", "drop_after"):
                        return _json(start_response, {"error": f"unknown error kind {kind}"}, "400 Bad Request")
                    ops = f.get("operations") or f.get("operation") or ["*"]
                    if isinstance(ops, str):
                        ops = [ops]
                    _faults.append({"operations": ops, "error": kind, "count": f.get("count"),
                                    "rate": f.get("rate", 1.0), "injected": 0})
            elif method == "DELETE":
                _faults.clear()
            return _json(start_response, {"faults": list(_faults)})
    if path == "/_testbed/hooks":
        status, obj = strategies.hooks_endpoint(method, payload)
        return _json(start_response, obj, status)
    if path == "/_testbed/reset":
        return None  # handled by caller
    return _json(start_response, {"error": "not found"}, "404 Not Found")


class Middleware:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        body = b""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length:
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/_testbed/") and path != "/_testbed/reset":
            return control(environ, start_response, path, body)
        if path in ("/moto-api/reset", "/_testbed/reset"):
            if environ["REQUEST_METHOD"] != "POST":
                return _json(start_response, {"error": "POST only"}, "405 Method Not Allowed")
            with ecs_ext.LOCK:
                from moto.backends import get_backend  # noqa: F401 - make sure backends load
                from moto.core.base_backend import BackendDict  # noqa: F401
                from moto.moto_api import _internal  # noqa: F401
                environ["PATH_INFO"] = "/moto-api/reset"
                result = list(self.app(environ, start_response))
                ecs_ext.reset()
                strategies.reset()
            throttle.refill_all()
            return result
        if path.startswith("/moto-api"):
            with ecs_ext.LOCK:
                return list(self.app(environ, start_response))
        service, op = identify(environ, body)
        ts = time.time()
        with _req_lock:
            _counts[f"{service}:{op}"] += 1
            try:
                with open(REQUEST_LOG, "a") as fh:
                    fh.write(f"{ts:.6f}\t{service}\t{op}\n")
            except OSError:
                pass
        if not throttle.allow(environ, service, op):
            return _json(start_response, {"__type": "ThrottlingException", "message": "Rate exceeded"},
                         "400 Bad Request")
        fault = _match_fault(service, op)
        if fault:
            kind = fault["error"]
            if kind == "throttle":
                return _json(start_response, {"__type": "ThrottlingException", "message": "Rate exceeded"},
                             "400 Bad Request")
            if kind == "500":
                return _json(start_response, {"__type": "InternalFailure", "message": "Internal failure (injected)"},
                             "500 Internal Server Error")
            if kind == "503":
                return _json(start_response, {"__type": "ServiceUnavailableException",
                                              "message": "Service unavailable (injected)"},
                             "503 Service Unavailable")
            if kind == "drop_after":
                # The request is carried out, then the answer is lost: what a client sees when a
                # connection drops after AWS acted (the case that makes blind retries duplicate).
                with ecs_ext.LOCK:
                    list(self.app(environ, start_response))
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
                except OSError:
                    pass
            raise ConnectionAbortedError("injected connection drop")
        with ecs_ext.LOCK:
            return list(self.app(environ, start_response))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4566)
    args = p.parse_args(argv)
    os.makedirs(STATE_DIR, exist_ok=True)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    eng = engine.engine_name()
    os.environ["WHARF_TESTBED_ENGINE"] = eng

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, run_simple

    ecr_ext.install()
    ecr_ext.install_image_sync()
    ecs_ext.install(eng)
    strategies.install()
    exec_ext.install()
    logs_ext.install()
    app = Middleware(DomainDispatcherApplication(create_backend_app))

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *a, **k):
            if os.environ.get("TESTBED_ACCESS_LOG"):
                super().log_request(*a, **k)

    print(f"testbed: moto + ECS extension on http://{args.host}:{args.port} engine={eng} "
          f"registry={engine.registry()} config={config.snapshot()}", file=sys.stderr, flush=True)
    run_simple(args.host, args.port, app, threaded=True, request_handler=QuietHandler)


if __name__ == "__main__":
    main()
