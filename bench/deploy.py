#!/usr/bin/env python3
"""Deploy benchmarks (issue 4): wharf vs fabfuel/ecs-deploy vs the seed's aws-CLI script, on the
same local test bed, in the same run.

  bench/deploy.sh            # sets up the environment, then runs this script

Measures:
  1. one service, no wait: wall time of each tool (median of REPS runs);
  2. ten services with waiting: wall time of each tool, against the emulator's own rollout time
     (first deployment created -> last deployment COMPLETED, from the test bed's record);
  3. how long after the emulator reached steady state wharf exited;
  4. API calls per 10-service wharf deploy (from the test bed's request log), and wharf's peak
     memory (GNU time's maximum resident set size).
Prints a Markdown report on stdout.
"""
import json
import os
import statistics
import time

from benchlib import ENDPOINT, IMAGE, TD, api, project as make_project, run

WHARF = os.environ["WHARF_BIN"]
ECS_DEPLOY = os.environ["ECS_DEPLOY_BIN"]
AWS = os.environ.get("AWS_BIN", "aws")
REPS = int(os.environ.get("BENCH_REPS", "5"))
N = 10


def timed(cmd, cwd=None):
    t = time.time()
    run(cmd, cwd=cwd)
    return time.time() - t


def wharf(d, *args):
    return [WHARF, "--file", f"{d}/wharf.toml", *args]


def script_deploy(cluster, svc, tag):
    """The seed's flow: register-task-definition, then update-service (two AWS CLI calls)."""
    td = TD % {"family": f"bench-{cluster}", "svc": svc, "image": IMAGE, "tag": tag}
    out = run([AWS, "ecs", "register-task-definition", "--cli-input-json", td, "--output", "json"]).stdout
    arn = json.loads(out)["taskDefinition"]["taskDefinitionArn"]
    run([AWS, "ecs", "update-service", "--cluster", cluster, "--service", svc, "--task-definition", arn,
         "--output", "json"])


def rollout_window(cluster, since):
    """Emulator's own rollout: first deployment created after `since` -> last one finished."""
    deps = [d for d in api("/_testbed/deployments")["deployments"].values()
            if d["cluster"] == cluster and d["created"] >= since]
    if not deps or any(d["at"] is None for d in deps):
        return None, None, deps
    return min(d["created"] for d in deps), max(d["at"] for d in deps), deps


def main():
    stamp = str(int(time.time()))
    clusters = {k: f"bench-{k}-{stamp}" for k in ("wharf", "ecsdeploy", "script")}
    dirs = {}
    for k, c in clusters.items():
        run([AWS, "ecs", "create-cluster", "--cluster-name", c])
        dirs[k] = make_project("bench", c, [f"s{i}" for i in range(N)], f"bench-{c}")
        # Every tool starts from the same state: N steady services created by wharf.
        run(wharf(dirs[k], "deploy", "--env", "local", "--tag", "init", "--timeout", "5m"))

    report = ["## Deploy benchmarks", "",
              f"Test bed: moto + ECS lifecycle extension at {ENDPOINT} (containers really run with docker);",
              f"{N} Fargate services of one task each; {REPS} repetitions for single-service runs.", ""]

    # 1. one service, no wait.
    times = {"wharf": [], "ecs-deploy": [], "aws CLI script": []}
    for i in range(REPS):
        tag = f"one{i}"
        times["wharf"].append(timed(wharf(dirs["wharf"], "deploy", "--env", "local", "--tag", tag, "--no-wait", "s0")))
        times["ecs-deploy"].append(timed([ECS_DEPLOY, "deploy", clusters["ecsdeploy"], "s0", "-e", "main", "TAG", tag,
                                          "--timeout", "-1", "--no-deregister"]))
        t = time.time()
        script_deploy(clusters["script"], "s0", tag)
        times["aws CLI script"].append(time.time() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    report += ["### One service, no wait (median wall time)", "", "| tool | median | runs |", "|---|---|---|"]
    for k, v in times.items():
        report.append(f"| {k} | {med[k]*1000:.0f} ms | {', '.join(f'{x*1000:.0f}' for x in v)} |")
    report += ["", f"wharf is {med['ecs-deploy']/med['wharf']:.1f}× faster than ecs-deploy and "
               f"{med['aws CLI script']/med['wharf']:.1f}× faster than the aws-CLI script.", ""]
    # Let those rollouts finish before the next measurement.
    for k in ("wharf",):
        run(wharf(dirs[k], "wait", "--env", "local", "--timeout", "5m"))
    time.sleep(3)

    # 2-4. ten services with waiting.
    tag = "ten"
    before = api("/_testbed/requests")["counts"]
    start = time.time()
    p = run(["/usr/bin/time", "-f", "%M", *wharf(dirs["wharf"], "deploy", "--env", "local", "--tag", tag, "--timeout", "5m")])
    wharf_end = time.time()
    peak_kb = int(p.stderr.strip().splitlines()[-1])
    after = api("/_testbed/requests")["counts"]
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
    first, last, _ = rollout_window(clusters["wharf"], start)
    wharf_total = wharf_end - start

    start = time.time()
    for i in range(N):
        run([ECS_DEPLOY, "deploy", clusters["ecsdeploy"], f"s{i}", "-e", "main", "TAG", tag, "--timeout", "300",
             "--no-deregister"])
    ecsdeploy_total = time.time() - start

    start = time.time()
    for i in range(N):
        script_deploy(clusters["script"], f"s{i}", tag)
    run([AWS, "ecs", "wait", "services-stable", "--cluster", clusters["script"], "--services",
         *[f"s{i}" for i in range(N)]])
    script_total = time.time() - start

    emulator = last - first
    report += ["### Ten services, waiting for steady state", "",
               "| tool | wall time |", "|---|---|",
               f"| wharf (all {N} at once) | {wharf_total:.2f} s |",
               f"| ecs-deploy, one service after another | {ecsdeploy_total:.2f} s |",
               f"| aws-CLI script + `aws ecs wait services-stable` | {script_total:.2f} s |",
               f"| emulator's own rollout time (wharf's run: first deployment created → last COMPLETED) | {emulator:.2f} s |",
               "",
               f"- wharf took {wharf_total - emulator:.2f} s more than the emulator's rollout itself "
               f"(target: within 1 s); {ecsdeploy_total/wharf_total:.1f}× faster than ecs-deploy per service and "
               f"{script_total/wharf_total:.1f}× faster than the script with the AWS waiter (target: ≥5×).",
               f"- wharf exited {wharf_end - last:.2f} s after the last service reached steady state (target: ≤1 s).",
               f"- wharf's peak memory: {peak_kb/1024:.1f} MB (target: < 50 MB).",
               f"- API calls for the {N}-service deploy, from the test bed's request log "
               f"({sum(calls.values())} in all): " + ", ".join(f"{k} {v}" for k, v in sorted(calls.items())),
               ""]
    print("\n".join(report))


if __name__ == "__main__":
    main()
