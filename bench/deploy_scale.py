#!/usr/bin/env python3
"""Deploy at scale (issue #13): N services (default 100) in ONE wharf deploy, on the local test bed
with its ECS request throttling at AWS's numbers (knob ecs_throttle_scale = 1) and tasks scripted
without containers (knob run_containers = 0; both knobs are restored afterwards).

  bench/deploy_scale.sh [N]     # sets up the environment, then runs this script

Two deploys: a create (first deploy, every service new) and an update (same services, new tag).
For each it measures:
  - wharf's wall time, exit code and peak memory (GNU time's maximum resident set size);
  - the emulator's own rollout (first deployment created -> last deployment COMPLETED, from the
    test bed's record GET /_testbed/deployments) and how long after its end wharf exited;
  - API calls from the test bed's request log ($WHARF_TESTBED_DIR/requests.log, one line per
    request, throttled ones included): total, per operation, and DescribeServices calls per poll
    (a poll = DescribeServices requests less than POLL_GAP apart);
  - throttled requests, from the test bed's stats endpoint (GET /_testbed/stats).
Prints a Markdown report on stdout.
"""
import os
import time
from collections import Counter

from benchlib import ENDPOINT, api, project as make_project, run

WHARF = os.environ["WHARF_BIN"]
AWS = os.environ.get("AWS_BIN", "aws")
REQUEST_LOG = os.path.join(os.environ["WHARF_TESTBED_DIR"], "requests.log")
N = int(os.environ.get("BENCH_SERVICES", "100"))
TIMEOUT = os.environ.get("BENCH_TIMEOUT", "15m")
# DescribeServices requests of one poll go out back to back; polls are >= 250 ms apart.
POLL_GAP = 0.15


def log_since(offset):
    """(timestamp, service, operation) of every request logged after byte `offset`."""
    with open(REQUEST_LOG, "rb") as fh:
        fh.seek(offset)
        lines = fh.read().decode("utf-8", "replace").splitlines()
    out = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 3:
            out.append((float(parts[0]), parts[1], parts[2]))
    return out


def polls(requests):
    """Sizes (DescribeServices requests) of the polls in `requests`."""
    sizes, last = [], None
    for ts, svc, op in requests:
        if svc != "ecs" or op != "DescribeServices":
            continue
        if last is None or ts - last > POLL_GAP:
            sizes.append(0)
        sizes[-1] += 1
        last = ts
    return sizes


def deploy(d, cluster, tag, label):
    api("/_testbed/stats", {}, "POST")  # clears the throttled counts and refills the buckets
    offset = os.path.getsize(REQUEST_LOG) if os.path.exists(REQUEST_LOG) else 0
    start = time.time()
    p = run(["/usr/bin/time", "-f", "%M", WHARF, "--file", f"{d}/wharf.toml", "deploy", "--env", "local",
             "--tag", tag, "--timeout", TIMEOUT], check=False)
    end = time.time()
    peak_kb = int(p.stderr.strip().splitlines()[-1])
    stats = api("/_testbed/stats")
    reqs = [r for r in log_since(offset) if r[0] <= end + 0.5]
    deps = [x for x in api("/_testbed/deployments")["deployments"].values()
            if x["cluster"] == cluster and (x.get("created") or 0) >= start - 1]
    done = [x for x in deps if x["status"] == "COMPLETED" and x["at"] is not None]
    first = min((x["created"] for x in deps), default=None)
    last = max((x["at"] for x in done), default=None)
    sizes = polls(reqs)
    ops = Counter(f"{s}:{o}" for _, s, o in reqs)
    return {
        "label": label, "rc": p.returncode, "wall": end - start, "peak_mb": peak_kb / 1024,
        "deployments": len(deps), "completed": len(done),
        "rollout": (last - first) if first is not None and last is not None else None,
        "exit_after": (end - last) if last is not None else None,
        "first_after_start": (first - start) if first is not None else None,
        "calls": len(reqs), "ops": ops, "polls": sizes,
        "throttled": stats["throttled_total"], "throttled_ops": stats["throttled"],
        "stderr_tail": "\n".join(p.stderr.strip().splitlines()[-6:-1]),
        "stdout_tail": "\n".join(p.stdout.strip().splitlines()[-3:]),
    }


def fmt(x, unit=" s", nd=2):
    return "n/a" if x is None else f"{x:.{nd}f}{unit}"


def main():
    before = api("/_testbed/config")
    stamp = str(int(time.time()))
    cluster = f"scale-{stamp}"
    run([AWS, "ecs", "create-cluster", "--cluster-name", cluster])
    d = make_project("scale", cluster, [f"s{i:03d}" for i in range(N)], f"scale-{cluster}")
    try:
        api("/_testbed/config", {"run_containers": False, "ecs_throttle_scale": 1.0})
        results = [deploy(d, cluster, "v1", "create (first deploy)"),
                   deploy(d, cluster, "v2", "update (new tag)")]
    finally:
        api("/_testbed/config", {k: before[k] for k in ("run_containers", "ecs_throttle_scale")})

    rep = ["## Deploy at scale", "",
           f"{N} Fargate services of one task each in ONE `wharf deploy` (`--timeout {TIMEOUT}`), test bed at "
           f"{ENDPOINT} with ECS throttling at AWS's bucket sizes and refill rates (`ecs_throttle_scale` = 1) "
           "and scripted tasks (`run_containers` = 0).", "",
           "| | " + " | ".join(r["label"] for r in results) + " |",
           "|---|" + "---|" * len(results)]

    def row(name, f):
        rep.append(f"| {name} | " + " | ".join(f(r) for r in results) + " |")

    row("wharf exit code", lambda r: str(r["rc"]))
    row("wharf wall time", lambda r: fmt(r["wall"]))
    row("deployments started / COMPLETED (test bed's record)", lambda r: f"{r['deployments']} / {r['completed']}")
    row("first deployment created, after wharf started", lambda r: fmt(r["first_after_start"]))
    row("emulator's rollout (first created → last COMPLETED)", lambda r: fmt(r["rollout"]))
    row("wharf exited after the last COMPLETED (target ≤ 1 s)", lambda r: fmt(r["exit_after"]))
    row("DescribeServices polls", lambda r: str(len(r["polls"])))
    row("DescribeServices calls per poll (target ~1 per 10 services)",
        lambda r: (f"max {max(r['polls'])}, median {sorted(r['polls'])[len(r['polls']) // 2]}" if r["polls"] else "n/a"))
    row("API calls in all (request log, throttled included)", lambda r: str(r["calls"]))
    row("throttled requests (stats endpoint; target 0)",
        lambda r: str(r["throttled"]) + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(r["throttled_ops"].items())) + ")"
                                         if r["throttled_ops"] else ""))
    row("wharf peak memory (max RSS; target < 50 MB)", lambda r: fmt(r["peak_mb"], " MB", 1))
    rep.append("")
    for r in results:
        rep.append(f"- {r['label']}, calls per operation: " + ", ".join(f"{k} {v}" for k, v in sorted(r["ops"].items())))
    for r in results:
        if r["rc"] != 0:
            rep += ["", f"{r['label']}: wharf exited {r['rc']}; last lines:", "```",
                    r["stdout_tail"], r["stderr_tail"], "```"]
    rep.append("")
    print("\n".join(rep))


if __name__ == "__main__":
    main()
