"""Running task containers for real with docker or podman, or scripting them.

A Runner belongs to one ECS task.  It works in its own thread (never under the
backend lock) and publishes what happened in plain attributes that the ECS
extension's ticker reads under the lock:

  runner.pull_error      None or "CannotPullContainerError: ..." (task never starts)
  runner.start_error     None or "CannotStartContainerError: ..."
  runner.started         True once every container has been started
  runner.containers      {name: ContainerState}
  runner.finished        True once every container has ended after a stop request

Task volumes are engine volumes that live as long as the task (as a Fargate task's start empty);
mountPoints and volumesFrom mount them. Containers start in dependsOn order (START, COMPLETE,
SUCCESS, HEALTHY; volumesFrom implies START); a condition that can no longer be met stops the task
before the dependent container starts, with the reason in runner.start_error.

The containers of an awsvpc task with more than one real container share one network namespace,
as on ECS, so they reach each other on localhost: a holder container (a FROM-scratch image whose
only program is the static busybox, sleeping) owns it and every container joins it.
"""
import base64
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

LABEL = "wharf-testbed"


def instance_label():
    """Containers carry wharf-testbed=1 and wharf-testbed.dir=<state dir>, so that
    reset/down of one test bed leave another test bed's containers alone."""
    return f"{LABEL}.dir=" + os.environ.get("WHARF_TESTBED_DIR", os.path.expanduser("~/.cache/wharf-testbed"))


def registry():
    return os.environ.get("WHARF_TESTBED_REGISTRY", "127.0.0.1:5000")


def registry_creds():
    account = os.environ.get("WHARF_TESTBED_ACCOUNT_ID", "123456789012")
    return "AWS", f"{account}-auth-token"


def engine_name():
    """docker | podman | none (WHARF_TESTBED_ENGINE, else autodetect)."""
    eng = os.environ.get("WHARF_TESTBED_ENGINE")
    if eng:
        return eng
    for cand in ("docker", "podman"):
        try:
            if subprocess.run([cand, "info"], capture_output=True, timeout=20).returncode == 0:
                return cand
        except (OSError, subprocess.TimeoutExpired):
            pass
    return "none"


def split_image(image):
    """'127.0.0.1:5000/a/b:tag' -> ('127.0.0.1:5000', 'a/b', 'tag')."""
    host = ""
    rest = image
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        host, rest = image.split("/", 1)
    if "@" in rest:
        name, ref = rest.split("@", 1)
    elif ":" in rest.rsplit("/", 1)[-1]:
        name, ref = rest.rsplit(":", 1)
    else:
        name, ref = rest, "latest"
    return host, name, ref


def is_testbed_registry(host):
    reg = registry()
    port = reg.split(":")[-1]
    return host in (reg, f"localhost:{port}", f"127.0.0.1:{port}")


def registry_has_image(image):
    """Ask the test-bed registry whether it has the manifest (HTTP API)."""
    host, name, ref = split_image(image)
    user, pw = registry_creds()
    req = urllib.request.Request(
        f"http://{registry()}/v2/{name}/manifests/{ref}",
        method="HEAD",
        headers={
            "Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode(),
            "Accept": ", ".join([
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
            ]),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status == 200, ""
    except urllib.error.HTTPError as e:
        return False, f"manifest unknown: {e.code}"
    except OSError as e:
        return False, str(e)


def pull_error_message(image, detail):
    return (f"CannotPullContainerError: pull image manifest has been retried 1 time(s): "
            f"failed to resolve ref {image}: {detail}")


_PAUSE_LOCK = threading.Lock()
_PAUSE_IMAGES = {}
PAUSE_IMAGE = "wharf-testbed-pause:1"
PAUSE_DOCKERFILE = 'FROM scratch\nCOPY busybox /busybox\nENTRYPOINT ["/busybox", "sleep", "2147483647"]\n'


def pause_image(engine):
    """The holder image of shared network namespaces, built once per engine from
    /bin/busybox (Debian's busybox-static, which `scripts/testbed install` installs)."""
    with _PAUSE_LOCK:
        if engine not in _PAUSE_IMAGES:
            have = subprocess.run([engine, "image", "inspect", PAUSE_IMAGE], capture_output=True,
                                  timeout=60).returncode == 0
            if not have:
                with tempfile.TemporaryDirectory() as ctx:
                    shutil.copy("/bin/busybox", os.path.join(ctx, "busybox"))
                    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                        f.write(PAUSE_DOCKERFILE)
                    p = subprocess.run([engine, "build", "-q", "-t", PAUSE_IMAGE, ctx],
                                       capture_output=True, text=True, timeout=300)
                    if p.returncode != 0:
                        raise RuntimeError(f"cannot build {PAUSE_IMAGE}: {p.stderr.strip()[:300]}")
            _PAUSE_IMAGES[engine] = PAUSE_IMAGE
        return _PAUSE_IMAGES[engine]


class ContainerState:
    def __init__(self, name):
        self.name = name
        self.status = "PENDING"  # PENDING RUNNING STOPPED
        self.exit_code = None
        self.health = "UNKNOWN"
        self.container_id = None
        self.started_at = None
        self.finished_at = None
        self.log_thread = None


class Runner:
    """Base: the scripted runner.  spec = list of dicts (one per container):
    name, image, scripted(bool), env(dict), command(list|None), entrypoint(list|None),
    health(dict|None), essential(bool), stop_timeout, on_output(callable(line)),
    mounts([(volume, path, read_only)]), volumes_from([(container, read_only)]),
    depends_on([(container, condition)])."""

    def __init__(self, task_id, specs):
        self.task_id = task_id
        self.specs = specs
        self.pull_error = None
        self.start_error = None
        self.started = False
        self.finished = False
        self.stop_requested = False
        self.containers = {s["name"]: ContainerState(s["name"]) for s in specs}
        self.thread = threading.Thread(target=self._run, name=f"task-{task_id[:8]}", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_requested = True

    # scripted: only check that the image exists where we can know it
    def _run(self):
        for s in self.specs:
            host, _, _ = split_image(s["image"] or "")
            if is_testbed_registry(host):
                ok, detail = registry_has_image(s["image"])
                if not ok:
                    self.pull_error = pull_error_message(s["image"], detail or "not found")
                    self.finished = True
                    return
        self.started = True
        while not self.stop_requested:
            time.sleep(0.05)
        self.finished = True


class EngineRunner(Runner):
    """Really pulls and runs the containers with docker/podman."""

    def __init__(self, task_id, specs, engine, state_dir, volumes=(), shared_network=False):
        super().__init__(task_id, specs)
        self.shared_network = shared_network
        self.holder_id = None
        self.engine = engine
        self.config_dir = os.path.join(state_dir, "engine-config")
        self.log_threads = []
        self.volumes = {v: f"wharf-tb-{task_id[:12]}-{v}"[:120] for v in volumes}
        self.created_volumes = []

    def _cmd(self, *args, timeout=120, input=None):
        base = [self.engine]
        if self.engine == "docker":
            base += ["--config", self.config_dir]
        try:
            p = subprocess.run(base + list(args), capture_output=True, text=True,
                               timeout=timeout, input=input)
            return p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired:
            return 124, "", "timeout"

    def _login(self):
        user, pw = registry_creds()
        os.makedirs(self.config_dir, exist_ok=True)
        extra = ["--tls-verify=false"] if self.engine == "podman" else []
        self._cmd("login", *extra, "--username", user, "--password-stdin", registry(), input=pw, timeout=30)

    def _pull(self, image):
        host, _, _ = split_image(image)
        if is_testbed_registry(host):
            ok, detail = registry_has_image(image)
            if not ok:
                return pull_error_message(image, detail or "not found")
            self._login()
            extra = ["--tls-verify=false"] if self.engine == "podman" else []
            rc, out, err = self._cmd("pull", *extra, "-q", image, timeout=300)
            if rc != 0:
                return pull_error_message(image, err.strip() or out.strip())
            return None
        # another registry: only usable if the engine already has it
        rc, _, _ = self._cmd("image", "inspect", image, timeout=30)
        if rc == 0:
            return None
        rc, out, err = self._cmd("pull", "-q", image, timeout=60)
        if rc != 0:
            return pull_error_message(image, (err.strip() or out.strip()).splitlines()[-1:] and (err.strip() or out.strip()).splitlines()[-1])
        return None

    def _labels(self):
        """What marks this task's containers: this test bed's, this task's."""
        return ["--label", f"{LABEL}=1", "--label", instance_label(),
                "--label", f"{LABEL}.task={self.task_id}"]

    def _run_args(self, s):
        args = ["run", "-d", *self._labels(), "--name", f"wharf-tb-{self.task_id[:12]}-{s['name']}"[:120]]
        for k, v in s["env"].items():
            args += ["-e", f"{k}={v}"]
        if self.holder_id:
            args += ["--network", f"container:{self.holder_id}"]
        for volume, path, read_only in s.get("mounts") or []:
            if volume in self.volumes:
                args += ["-v", f"{self.volumes[volume]}:{path}" + (":ro" if read_only else "")]
        for source, read_only in s.get("volumes_from") or []:
            st = self.containers.get(source)
            if st and st.container_id:
                args += ["--volumes-from", st.container_id + (":ro" if read_only else "")]
        hc = s.get("health")
        if hc:
            cmd = hc.get("command") or []
            if cmd and cmd[0] == "CMD-SHELL":
                args += ["--health-cmd", " ".join(cmd[1:])]
            elif cmd and cmd[0] == "CMD":
                args += ["--health-cmd", " ".join(shlex.quote(c) for c in cmd[1:])]
            elif cmd:
                args += ["--health-cmd", " ".join(cmd)]
            args += ["--health-interval", f"{hc['interval']}s",
                     "--health-timeout", f"{hc['timeout']}s",
                     "--health-retries", str(hc["retries"])]
            if hc.get("startPeriod"):
                args += ["--health-start-period", f"{hc['startPeriod']}s"]
        ep = s.get("entrypoint") or []
        cmd = s.get("command")
        if ep:
            args += ["--entrypoint", ep[0]]
        args.append(s["image"])
        args += list(ep[1:]) + list(cmd or [])
        return args

    def _follow_logs(self, s, cid):
        base = [self.engine] + (["--config", self.config_dir] if self.engine == "docker" else [])
        try:
            p = subprocess.Popen(base + ["logs", "-f", cid], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace")
        except OSError:
            return
        for line in p.stdout:
            try:
                s["on_output"](line.rstrip("\n"))
            except Exception:  # noqa: BLE001 - never kill the follower
                pass
        p.wait()

    def _run(self):
        for s in self.specs:
            err = self._pull(s["image"] or "")
            if err:
                self.pull_error = err
                self.finished = True
                return
        for name, volume in self.volumes.items():
            rc, out, err = self._cmd("volume", "create", *self._labels(), volume, timeout=60)
            if rc != 0:
                self.start_error = f"CannotStartContainerError: volume {name}: " + (err.strip() or out.strip())[:400]
                self._cleanup()
                self.finished = True
                return
            self.created_volumes.append(volume)
        if self.shared_network and not self._start_holder():
            return
        self.waiting = list(self.specs)
        if not self._start_ready():
            return
        stop_sent = False
        while True:
            if self.waiting and not self.stop_requested and not self._start_ready():
                return
            running = [self.containers[s["name"]] for s in self.specs
                       if self.containers[s["name"]].status == "RUNNING"]
            if running:
                ids = [st.container_id for st in running]
                rc, out, err = self._cmd("inspect", "--format", "{{.Id}} {{json .State}}", *ids, timeout=60)
                states = {}
                for line in out.splitlines():
                    cid, _, js = line.partition(" ")
                    try:
                        states[cid] = json.loads(js)
                    except ValueError:
                        pass
                for st in running:
                    state = next((v for k, v in states.items() if k.startswith(st.container_id)), None)
                    if state is None:
                        if rc != 0 and "no such" in err.lower() and st.container_id in err:
                            st.status = "STOPPED"  # the container is gone
                            st.finished_at = time.time()
                        continue  # engine busy or slow: ask again
                    health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status")
                    if health:
                        st.health = {"healthy": "HEALTHY", "unhealthy": "UNHEALTHY"}.get(health, "UNKNOWN")
                    if not state.get("Running") and state.get("Status") in ("exited", "dead", "stopped"):
                        st.exit_code = state.get("ExitCode")
                        st.finished_at = time.time()
                        st.status = "STOPPED"
            if self.stop_requested:
                for s in self.waiting:  # never started, and now never will
                    self.containers[s["name"]].status = "STOPPED"
                self.waiting = []
            all_done = all(st.status == "STOPPED" for st in self.containers.values())
            # started once every container has started and been inspected at least once, so a
            # container that exits at once is seen exiting right after RUNNING
            self.started = not self.waiting
            if all_done:
                break
            if self.stop_requested and not stop_sent:
                stop_sent = True
                for s in self.specs:
                    st = self.containers[s["name"]]
                    if st.status != "STOPPED":
                        threading.Thread(
                            target=self._cmd,
                            args=("stop", "-t", str(s.get("stop_timeout", 2)), st.container_id),
                            daemon=True).start()
            time.sleep(0.4)
        for t in self.log_threads:
            t.join(timeout=5)
        self._cleanup()
        self.finished = True

    def _start_holder(self):
        """The container that owns the task's network namespace; False (start_error set,
        everything removed) if it cannot run."""
        try:
            image = pause_image(self.engine)
            rc, out, err = self._cmd("run", "-d", *self._labels(),
                                     "--name", f"wharf-tb-{self.task_id[:12]}-network", image, timeout=120)
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            rc, out, err = 1, "", str(e)
        if rc != 0 or not out.strip():
            self.start_error = "CannotStartContainerError: task network: " + (err.strip() or out.strip())[:400]
            self._cleanup()
            self.finished = True
            return False
        self.holder_id = out.strip().splitlines()[-1]
        return True

    def _start(self, s):
        """Start one container; False (with start_error set, everything removed) if it fails."""
        rc, out, err = self._cmd(*self._run_args(s), timeout=120)
        cid = out.strip().splitlines()[-1] if out.strip() else None
        if rc != 0 or not cid:
            self.start_error = "CannotStartContainerError: " + (err.strip() or out.strip())[:400]
            if cid:
                self._cmd("rm", "-f", cid)
            return False
        st = self.containers[s["name"]]
        st.container_id = cid
        st.status = "RUNNING"
        st.started_at = time.time()
        st.log_thread = threading.Thread(target=self._follow_logs, args=(s, cid), daemon=True)
        st.log_thread.start()
        self.log_threads.append(st.log_thread)
        return True

    def _blocked(self, s):
        """None when s may start now, "wait" while a dependency is on its way, or why it never will."""
        needs = list(s.get("depends_on") or []) + [(c, "START") for c, _ in s.get("volumes_from") or []]
        for dep, condition in needs:
            st = self.containers.get(dep)
            if st is None:
                continue  # scripted, or not in this task: nothing to wait for
            if condition == "START":
                ok = st.status != "PENDING"
            elif condition == "COMPLETE":
                ok = st.status == "STOPPED"
            elif condition == "SUCCESS":
                if st.status == "STOPPED" and st.exit_code != 0:
                    return (f"dependency {dep} of container {s['name']} exited with code {st.exit_code}, "
                            "and the condition is SUCCESS")
                ok = st.status == "STOPPED"
            elif condition == "HEALTHY":
                if not next((d.get("health") for d in self.specs if d["name"] == dep), None):
                    return (f"dependency {dep} of container {s['name']} has no health check, "
                            "and the condition is HEALTHY")
                if st.health == "UNHEALTHY" or st.status == "STOPPED":
                    return (f"dependency {dep} of container {s['name']} did not become healthy, "
                            "and the condition is HEALTHY")
                ok = st.health == "HEALTHY"
            else:
                ok = True
            if not ok:
                return "wait"
        return None

    def _start_ready(self):
        """Start every waiting container whose dependencies are met (in task definition order,
        again after each start). False when the task cannot start: start_error is set, every
        container and volume is removed and the runner is finished."""
        progress = True
        while progress:
            progress = False
            for s in list(self.waiting):
                why = self._blocked(s)
                if why == "wait":
                    continue
                if why is None and self._start(s):
                    self.waiting.remove(s)
                    progress = True
                    continue
                if why is not None:
                    self.start_error = "CannotStartContainerError: " + why
                for st in self.containers.values():
                    if st.status == "STOPPED" and st.log_thread:
                        st.log_thread.join(timeout=5)  # what a failed dependency printed is kept
                    elif st.container_id:
                        st.status = "STOPPED"
                self._cleanup()
                self.finished = True
                return False
        return True

    def _cleanup(self):
        ids = [st.container_id for st in self.containers.values() if st.container_id]
        if ids:
            self._cmd("rm", "-f", *ids, timeout=60)
        if self.holder_id:
            self._cmd("rm", "-f", self.holder_id, timeout=60)
            self.holder_id = None
        if self.created_volumes:
            self._cmd("volume", "rm", "-f", *self.created_volumes, timeout=60)
            self.created_volumes = []


def remove_all_containers(engine):
    if engine in (None, "none"):
        return
    try:
        out = subprocess.run([engine, "ps", "-aq", "--filter", f"label={LABEL}=1",
                              "--filter", f"label={instance_label()}"],
                             capture_output=True, text=True, timeout=60).stdout.split()
        if out:
            subprocess.run([engine, "rm", "-f"] + out, capture_output=True, timeout=120)
        volumes = subprocess.run([engine, "volume", "ls", "-q", "--filter", f"label={LABEL}=1",
                                  "--filter", f"label={instance_label()}"],
                                 capture_output=True, text=True, timeout=60).stdout.split()
        if volumes:
            subprocess.run([engine, "volume", "rm", "-f"] + volumes, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass
