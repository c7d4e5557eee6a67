"""Checks that deploy/ is true to the daemon it deploys.

Docker, compose and a Kubernetes cluster are not available where the tests
run (no images can be pulled), so the compose file and the manifests are
validated structurally, against the same facts the daemon has:

  - every YAML document and JSON file under deploy/ parses;
  - compose: kafka (KRaft, broker+controller), redis, streamrec, a one-shot
    service creating every topic the properties name, streamrec waiting for it;
  - Kubernetes: StatefulSet probes on /healthz and /readyz at the http.listen
    port, a volumeClaimTemplate holding checkpoint.dir, the pod name wired to
    kafka.consumer.group.instance.id, the ConfigMap mounted where -c reads it,
    the Service and ServiceMonitor agreeing on the metrics port;
  - every properties file (deploy/*.properties and the ConfigMap's), with the
    arguments the deployments add, passes `streamrec run --check-config`;
  - the Dockerfile installs a runtime package for every library the binary
    links, exposes the http.listen port and checks /healthz;
  - `systemd-analyze verify` accepts the unit (skipped if it is missing);
  - a real daemon (`streamrec run --embedded`, a redis-server of ours, events
    from `streamrec gen`) serves every metric the Grafana dashboard queries,
    and the README's feed-service example reads the keys it wrote, in both
    redis.reco.format values.

usage: validate_deploy.py --streamrec BIN --source-dir DIR
"""
import argparse
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

# what the python tests share, found from this file: ctest runs it from the build directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from sr_harness import WAIT_S, Daemon, Failure, Redis, wait_for  # noqa: E402

try:
    import yaml
    import redis  # noqa: F401 -- the README's feed example needs it
except ImportError as e:
    print(f"validate_deploy: FAIL: {e}; scripts/install-deps.sh installs python3-yaml and "
          "python3-redis (for /usr/bin/python3)", file=sys.stderr)
    sys.exit(1)

GEN_EVENTS = 3000
LAG_WAIT_S = 15  # statistics.interval.ms is 1 s


class Failures:
    def __init__(self):
        self.items = []

    def check(self, condition, message):
        if not condition:
            self.items.append(message)
        return condition


def log(message):
    print(f"validate_deploy: {message}", flush=True)


# ---- files -----------------------------------------------------------------

def load_all(deploy, fail):
    """Every YAML document and JSON file under deploy/, by relative path."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(deploy, "**", "*"), recursive=True)):
        rel = os.path.relpath(path, deploy)
        try:
            if path.endswith((".yml", ".yaml")):
                with open(path) as f:
                    docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
                fail.check(docs[rel], f"{rel}: no YAML document")
            elif path.endswith(".json"):
                with open(path) as f:
                    docs[rel] = [json.load(f)]
        except (yaml.YAMLError, json.JSONDecodeError) as e:
            fail.check(False, f"{rel}: does not parse: {e}")
    return docs


def parse_properties(text):
    props = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            props[key.strip()] = value.strip()
    return props


def listen_port(props):
    return int(props["http.listen"].rsplit(":", 1)[1])


def check_config(streamrec, fail, what, path, extra_args=()):
    done = subprocess.run([streamrec, "run", "-c", path, *extra_args, "--check-config"],
                          capture_output=True, text=True, timeout=30)
    fail.check(done.returncode == 0,
               f"{what}: streamrec run --check-config refuses it: {done.stderr.strip()}")


def topics_of(props):
    group = props.get("input.group.id", "streamrec")
    inputs = props.get("input.topics", "clicks").split(",")
    return {
        "input": inputs,
        "reco": props.get("output.reco.topic", "reco.updates"),
        "churn": props.get("output.churn.topic", "churn.alerts"),
        "dlq": props.get("dlq.topic") or inputs[0] + ".dlq",
        "changelog": props.get("state.changelog.topic") or f"{group}-user-state",
    }


def validate_compose(compose, props, fail):
    services = compose.get("services", {})
    for name in ("kafka", "redis", "streamrec"):
        fail.check(name in services, f"docker-compose.yml: no '{name}' service")
    if not all(n in services for n in ("kafka", "redis", "streamrec")):
        return
    env = services["kafka"].get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    roles = set(str(env.get("KAFKA_PROCESS_ROLES", "")).split(","))
    fail.check(roles == {"broker", "controller"},
               f"docker-compose.yml: kafka is not a combined KRaft node (roles {sorted(roles)})")
    fail.check("KAFKA_CONTROLLER_QUORUM_VOTERS" in env and "KAFKA_CONTROLLER_LISTENER_NAMES" in env,
               "docker-compose.yml: kafka lacks the KRaft controller quorum settings")
    fail.check(not any("ZOOKEEPER" in k for k in env),
               "docker-compose.yml: kafka still names ZooKeeper")
    fail.check(f"{props['kafka.bootstrap.servers'].split(':')[0]}" == "kafka",
               "streamrec.properties: kafka.bootstrap.servers is not the compose service 'kafka'")
    fail.check(props.get("redis.url", "").startswith("redis://redis:"),
               "streamrec.properties: redis.url is not the compose service 'redis'")

    # the one-shot topic creator: every topic the daemon reads or writes
    creators = [n for n, s in services.items()
                if "kafka-topics" in json.dumps(s.get("command", "")) + json.dumps(s.get("entrypoint", ""))]
    fail.check(len(creators) == 1, f"docker-compose.yml: {len(creators)} topic-creating services, want 1")
    if creators:
        script = json.dumps(services[creators[0]].get("command", ""))
        t = topics_of(props)
        for topic in t["input"] + [t["reco"], t["churn"], t["dlq"], t["changelog"]]:
            fail.check(re.search(r"--topic " + re.escape(topic) + r"\b", script),
                       f"docker-compose.yml: {creators[0]} does not create topic {topic}")
        fail.check(re.search(r"--topic " + re.escape(t["changelog"]) + r" [^\\]*cleanup.policy=compact",
                             script),
                   f"docker-compose.yml: the changelog {t['changelog']} is not compacted")
        parts = {m.group(1): m.group(2)
                 for m in re.finditer(r"--topic (\S+) --partitions (\d+)", script)}
        fail.check(parts.get(t["input"][0]) == parts.get(t["changelog"]),
                   "docker-compose.yml: input and changelog partition counts differ")
        dep = services["streamrec"].get("depends_on", {})
        fail.check(isinstance(dep, dict) and
                   dep.get(creators[0], {}).get("condition") == "service_completed_successfully",
                   f"docker-compose.yml: streamrec does not wait for {creators[0]} to complete")
    sr = services["streamrec"]
    mounts = " ".join(sr.get("volumes", []))
    fail.check("./streamrec.properties:" in mounts,
               "docker-compose.yml: streamrec does not mount deploy/streamrec.properties")
    fail.check(any(str(listen_port(props)) in str(p) for p in sr.get("ports", [])),
               "docker-compose.yml: streamrec does not publish the http.listen port")
    fail.check("/healthz" in json.dumps(sr.get("healthcheck", {})),
               "docker-compose.yml: streamrec's healthcheck does not ask /healthz")


def by_kind(docs):
    out = {}
    for rel, ds in docs.items():
        if rel.startswith("k8s" + os.sep):
            for d in ds:
                if isinstance(d, dict) and "kind" in d:
                    out.setdefault(d["kind"], []).append((rel, d))
    return out


def validate_k8s(kinds, streamrec, workdir, fail):
    """Returns nothing; the ConfigMap's properties also go through --check-config."""
    for kind in ("StatefulSet", "ConfigMap", "Service", "ServiceMonitor"):
        fail.check(len(kinds.get(kind, [])) == 1, f"k8s: {len(kinds.get(kind, []))} {kind}s, want 1")
    if not all(len(kinds.get(k, [])) == 1 for k in ("StatefulSet", "ConfigMap", "Service", "ServiceMonitor")):
        return
    sts = kinds["StatefulSet"][0][1]
    cm = kinds["ConfigMap"][0][1]
    svc = kinds["Service"][0][1]
    smon = kinds["ServiceMonitor"][0][1]
    fail.check(sts.get("apiVersion") == "apps/v1", "k8s: StatefulSet is not apps/v1")
    fail.check(smon.get("apiVersion") == "monitoring.coreos.com/v1",
               "k8s: ServiceMonitor is not monitoring.coreos.com/v1")

    prop_files = {k: v for k, v in cm.get("data", {}).items() if k.endswith(".properties")}
    fail.check(len(prop_files) == 1, "k8s: the ConfigMap does not hold one .properties file")
    if len(prop_files) != 1:
        return
    (prop_name, prop_text), = prop_files.items()
    props = parse_properties(prop_text)
    fail.check("kafka.consumer.group.instance.id" not in props and "kafka.group.instance.id" not in props,
               "k8s: the ConfigMap sets one group.instance.id for every pod")

    pod = sts["spec"]["template"]["spec"]
    containers = pod.get("containers", [])
    fail.check(len(containers) == 1, "k8s: StatefulSet pod has not exactly one container")
    c = containers[0]
    args = [str(a) for a in c.get("command", [])[1:] + c.get("args", [])]

    # -c PATH must be where the ConfigMap is mounted
    conf_path = args[args.index("-c") + 1] if "-c" in args else None
    cm_volumes = {v["name"] for v in pod.get("volumes", [])
                  if v.get("configMap", {}).get("name") == cm["metadata"]["name"]}
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    fail.check(conf_path and any(conf_path == os.path.join(mounts.get(v, "?"), prop_name)
                                 for v in cm_volumes),
               f"k8s: -c {conf_path} is not the ConfigMap's {prop_name} as mounted")

    # group.instance.id from the pod name: kafka.* keys cannot come from the
    # environment (config.c), so it must be an -X argument expanding $(VAR),
    # VAR a fieldRef to metadata.name
    env = {e["name"]: e for e in c.get("env", [])}
    wired = False
    for i, a in enumerate(args):
        m = re.fullmatch(r"kafka\.(?:consumer\.)?group\.instance\.id=\$\((\w+)\)", a)
        if m and i > 0 and args[i - 1] == "-X":
            ref = env.get(m.group(1), {}).get("valueFrom", {}).get("fieldRef", {})
            wired = ref.get("fieldPath") == "metadata.name"
    fail.check(wired, "k8s: kafka.consumer.group.instance.id is not -X ...=$(VAR) with VAR "
                      "from fieldRef metadata.name")
    fail.check(not any(k.startswith("STREAMREC_KAFKA_") and k != "STREAMREC_KAFKA_BOOTSTRAP_SERVERS"
                       for k in env),
               "k8s: STREAMREC_KAFKA_* variables other than BOOTSTRAP_SERVERS are refused by the daemon")

    # probes on the http.listen port
    port = listen_port(props)
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    fail.check(port in ports.values(), f"k8s: container does not expose http.listen port {port}")
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):
        get = c.get(probe, {}).get("httpGet", {})
        p = get.get("port")
        p = ports.get(p, p)
        fail.check(get.get("path") == path and p == port,
                   f"k8s: {probe} is not GET {path} on port {port} (got {get})")
    fail.check("limits" in c.get("resources", {}) and "requests" in c.get("resources", {}),
               "k8s: container without resource requests and limits")

    # checkpoint.dir on a volumeClaimTemplate
    ckpt = props.get("checkpoint.dir", "")
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    fail.check(claims, "k8s: StatefulSet has no volumeClaimTemplates")
    fail.check(ckpt and any(n in claims and (ckpt + "/").startswith(mp.rstrip("/") + "/")
                            for n, mp in mounts.items()),
               f"k8s: checkpoint.dir {ckpt!r} is not on a volumeClaimTemplate's mount")
    fail.check(sts["spec"].get("serviceName") == svc["metadata"]["name"],
               "k8s: StatefulSet serviceName is not the Service")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    fail.check(grace >= 60, f"k8s: terminationGracePeriodSeconds {grace} leaves no time "
                            "for the final checkpoint")

    # Service and ServiceMonitor on the metrics port, selecting the pods
    labels = sts["spec"]["template"]["metadata"].get("labels", {})
    fail.check(all(labels.get(k) == v for k, v in svc["spec"].get("selector", {}).items()),
               "k8s: Service selector does not match the pod labels")
    svc_ports = {p.get("name"): p for p in svc["spec"].get("ports", [])}
    for ep in smon["spec"].get("endpoints", []):
        sp = svc_ports.get(ep.get("port"))
        fail.check(sp is not None, f"k8s: ServiceMonitor port {ep.get('port')} is not a Service port")
        if sp:
            tp = sp.get("targetPort", sp["port"])
            fail.check(ports.get(tp, tp) == port, "k8s: the Service's metrics port is not http.listen")
        fail.check(ep.get("path", "/metrics") == "/metrics", "k8s: ServiceMonitor path is not /metrics")
    svc_labels = svc["metadata"].get("labels", {})
    fail.check(all(svc_labels.get(k) == v
                   for k, v in smon["spec"].get("selector", {}).get("matchLabels", {}).items()),
               "k8s: ServiceMonitor selector does not match the Service labels")

    path = os.path.join(workdir, "configmap.properties")
    with open(path, "w") as f:
        f.write(prop_text)
    x_args = []
    for i, a in enumerate(args):
        if i > 0 and args[i - 1] == "-X":
            x_args += ["-X", re.sub(r"\$\(\w+\)", "streamrec-0", a)]
    check_config(streamrec, fail, "k8s ConfigMap with the StatefulSet's -X", path, x_args)


# ---- Dockerfile and systemd -----------------------------------------------

def runtime_packages(dockerfile):
    """Packages apt-get installs in the last stage."""
    last = dockerfile.split("\nFROM ")[-1]
    pkgs = set()
    for m in re.finditer(r"apt-get install([^&]*)", last.replace("\\\n", " ")):
        pkgs |= {w for w in m.group(1).split() if not w.startswith("-")}
    return pkgs


def validate_dockerfile(deploy, streamrec, props, fail):
    with open(os.path.join(deploy, "Dockerfile")) as f:
        text = f.read()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    fail.check(len(froms) >= 2 and all("bookworm" in f for f in froms),
               f"Dockerfile: not a multi-stage Debian bookworm build ({froms})")
    user = re.findall(r"^USER (\S+)", text, re.M)
    fail.check(user and not user[-1].startswith(("root", "0")), "Dockerfile: runs as root")
    fail.check(re.search(rf"^EXPOSE {listen_port(props)}\b", text, re.M),
               "Dockerfile: does not EXPOSE the http.listen port")
    fail.check(re.search(r"^HEALTHCHECK .*/healthz", text.replace("\\\n", " "), re.M),
               "Dockerfile: no HEALTHCHECK on /healthz")
    fail.check(re.search(r"^VOLUME .*/var/lib/streamrec", text, re.M) and
               props.get("checkpoint.dir", "").startswith("/var/lib/streamrec/"),
               "Dockerfile: checkpoint.dir is not on the image's VOLUME")
    # every library the binary needs directly, from a package the runtime stage installs
    pkgs = runtime_packages(text)
    needed = subprocess.run(["readelf", "-d", streamrec], capture_output=True, text=True).stdout
    for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", needed):
        if lib.startswith(("libc.so", "libm.so", "ld-linux", "libasan", "libubsan")):  # sanitizer builds
            continue
        ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"  # /sbin: not on every PATH
        cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True).stdout
        path = next((line.rsplit(" ", 1)[1] for line in cache.splitlines()
                     if line.strip().startswith(lib + " ")), "")
        owner = subprocess.run(["dpkg", "-S", os.path.realpath(path) if path else lib],
                               capture_output=True, text=True).stdout.split(":")[0]
        fail.check(owner in pkgs,
                   f"Dockerfile: runtime stage lacks {owner or '?'} (for {lib})")


def validate_systemd(deploy, streamrec, workdir, fail):
    if not shutil.which("systemd-analyze"):
        log("systemd-analyze not found: the unit is not verified")
        return
    with open(os.path.join(deploy, "streamrec.service")) as f:
        unit = f.read()
    for key, want in (("Restart", "on-failure"), ("KillSignal", "SIGTERM"),
                      ("ProtectSystem", "strict"), ("StateDirectory", "streamrec")):
        fail.check(re.search(rf"^{key}={want}$", unit, re.M), f"streamrec.service: {key} is not {want}")
    stop = re.search(r"^TimeoutStopSec=(\d+)", unit, re.M)
    fail.check(stop and int(stop.group(1)) >= 60, "streamrec.service: TimeoutStopSec below 60 s")
    fail.check(re.search(r"^ReadWritePaths=/var/lib/streamrec", unit, re.M),
               "streamrec.service: the state directory is not in ReadWritePaths")
    # The unit names the installed path; verify it against the binary just built.
    local = os.path.join(workdir, "streamrec.service")
    with open(local, "w") as f:
        f.write(unit.replace("/usr/local/bin/streamrec", os.path.abspath(streamrec)))
    done = subprocess.run(["systemd-analyze", "verify", local], capture_output=True, text=True,
                          timeout=60)
    noise = [l for l in (done.stdout + done.stderr).splitlines() if "streamrec.service" in l]
    fail.check(done.returncode == 0 and not noise,
               f"streamrec.service: systemd-analyze verify: rc {done.returncode}: {noise}")
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1).split()
    c = exec_start.index("-c") if "-c" in exec_start else -1
    fail.check(c > 0 and exec_start[c + 1] == "/etc/streamrec/streamrec.properties",
               "streamrec.service: ExecStart does not read /etc/streamrec/streamrec.properties")


# ---- the running daemon ------------------------------------------------------

class HttpDaemon(Daemon):
    """The daemon with HTTP on a free port, a checkpoint every second and
    lists in redis.reco.format fmt."""

    def __init__(self, streamrec, workdir, redis_url, fmt):
        super().__init__(streamrec, workdir, {
            "redis.url": redis_url,
            "http.listen": "127.0.0.1:0",
            "checkpoint.dir": os.path.join(workdir, "checkpoints-" + fmt),
            "checkpoint.interval.s": 1,
            "redis.reco.format": fmt,
        })

    def start(self):
        """Waits for the ready file; returns its addresses."""
        try:
            info = self.wait_ready()
        except Failure as e:  # the report lists messages only: streamrec's stderr goes in one
            raise Failure(f"{e}:\n{self.stderr()}") from None
        if "http_port" not in info:
            raise Failure(f"streamrec's --ready-file has no http_port line: {info}")
        self.http = f"http://127.0.0.1:{info['http_port']}"
        return info

    def get(self, path):
        try:
            with urllib.request.urlopen(self.http + path, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


def scrape(text):
    """Sample names and {family: type} of a Prometheus text page."""
    samples, types = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
    return samples, types


def dashboard_metrics(dashboard):
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "query", "definition") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(dashboard)
    return exprs, sorted({n for e in exprs for n in re.findall(r"\bstreamrec_[a-z0-9_]+\b", e)})


def missing_metrics(names, samples, types):
    """Names the page does not serve, each with why."""
    missing = []
    for name in names:
        if name in samples:
            continue
        if types.get(name) == "histogram":
            missing.append(f"{name} (a histogram: query {name}_bucket, _sum or _count)")
        else:
            missing.append(name)
    return missing


def readme_block(readme, marker):
    m = re.search(r"<!-- " + re.escape(marker) + r" -->\s*```\w*\n(.*?)```", readme, re.S)
    if not m:
        raise RuntimeError(f"README.md: no code block after <!-- {marker} -->")
    return m.group(1)


def run_feed_example(code, workdir, redis, fail, fmt):
    """The README's feed example on a user the daemon wrote in format fmt."""
    if fmt == "zset":
        keys = [k[:-len(":meta")] for k in redis.cli("--scan", "--pattern", "reco:*:meta").split()]
        keys = [k for k in keys if redis.cli("TYPE", k) == "zset"]
    else:
        keys = [k for k in redis.cli("--scan", "--pattern", "reco:*").split()
                if redis.cli("TYPE", k) == "string"]
    if not fail.check(keys, f"no reco key in {fmt} format in Redis"):
        return
    key = sorted(keys)[0]
    user = key[len("reco:{"):-1]
    if fmt == "zset":
        want_ts = redis.cli("HGET", key + ":meta", "event_ts_ms")
        want_top = redis.cli("ZREVRANGE", key, "0", "0").strip()
    else:
        doc = json.loads(redis.cli("GET", key))
        want_ts, want_top = str(doc["event_ts_ms"]), doc["items"][0]["item_id"]
    path = os.path.join(workdir, "feed_example.py")
    with open(path, "w") as f:
        f.write(code)
    done = subprocess.run(["/usr/bin/python3", path, redis.url, user], capture_output=True,
                          text=True, timeout=30)
    out = done.stdout
    fail.check(done.returncode == 0 and want_ts in out and f"'{want_top}'" in out,
               f"README feed example ({fmt}) for {user}: rc {done.returncode}, want event time "
               f"{want_ts} and top item {want_top} in its output; got {out!r} {done.stderr!r}")
    log(f"README feed example ({fmt}): {out.strip()}")


def run_daemon(streamrec, workdir, redis, dashboard, readme, fail, fmt):
    daemon = HttpDaemon(streamrec, workdir, redis.url, fmt)
    try:
        info = daemon.start()
        log(f"streamrec ({fmt}) ready: {info}, http at {daemon.http}")
        gen = subprocess.run([streamrec, "gen", "--topic", "clicks", "--rate", "0", "--count",
                              str(GEN_EVENTS), "-X", f"kafka.bootstrap.servers={info['bootstrap']}"],
                             capture_output=True, text=True, timeout=WAIT_S)
        fail.check(gen.returncode == 0, f"streamrec gen failed: {gen.stderr}")

        def applied():
            status, page = daemon.get("/metrics")
            n = sum(float(v) for v in re.findall(r"^streamrec_events_total\{[^}]*\} (\S+)$", page, re.M))
            ckpt = re.search(r"^streamrec_checkpoints_total (\d+)", page, re.M)
            acked = re.search(r"^streamrec_recommendations_total (\d+)", page, re.M)
            return (status == 200 and n >= GEN_EVENTS and ckpt and int(ckpt.group(1)) > 0 and
                    acked and int(acked.group(1)) > 0 and page)
        page = wait_for(f"{GEN_EVENTS} events applied and a checkpoint", applied)
        for path, want in (("/healthz", 200), ("/readyz", 200)):
            status, body = daemon.get(path)
            fail.check(status == want, f"GET {path}: {status} {body.strip()}, want {want}")
        if dashboard is not None:
            exprs, names = dashboard_metrics(dashboard)
            fail.check(len(names) >= 20, f"dashboard: only {len(names)} streamrec metrics used")
            # Some families have samples only once their source reported:
            # the lag comes from librdkafka's statistics, once a second.
            deadline = time.monotonic() + LAG_WAIT_S
            while True:
                samples, types = scrape(page)
                missing = missing_metrics(names, samples, types)
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
                page = daemon.get("/metrics")[1]
            log(f"dashboard: {len(exprs)} expressions, {len(names)} metric names; "
                f"/metrics: {len(samples)} sample names")
            fail.check(not missing, "dashboard queries metrics /metrics does not serve: " +
                       ", ".join(missing))
        run_feed_example(readme_block(readme, "example: feed-python"), workdir, redis, fail, fmt)
    finally:
        rc = daemon.stop()
    fail.check(rc == 0, f"streamrec ({fmt}) did not exit 0 on SIGTERM (rc {rc})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamrec", required=True)
    parser.add_argument("--source-dir", required=True)
    args = parser.parse_args()
    deploy = os.path.join(args.source_dir, "deploy")
    missing = [tool for tool in ("redis-server", "redis-cli", "readelf", "dpkg")
               if not shutil.which(tool)]
    if missing:
        print(f"validate_deploy: FAIL: missing {', '.join(missing)}; scripts/install-deps.sh "
              "installs them", file=sys.stderr)
        return 1
    fail = Failures()
    workdir = tempfile.mkdtemp(prefix="streamrec-deploy-")
    redis = None
    try:
        docs = load_all(deploy, fail)
        log(f"parsed {len(docs)} YAML/JSON files under deploy/")
        for path in sorted(glob.glob(os.path.join(deploy, "*.properties"))):
            check_config(args.streamrec, fail, os.path.relpath(path, args.source_dir), path)
        with open(os.path.join(deploy, "streamrec.properties")) as f:
            props = parse_properties(f.read())
        if "docker-compose.yml" in docs:
            validate_compose(docs["docker-compose.yml"][0], props, fail)
        else:
            fail.check(False, "deploy/docker-compose.yml is missing")
        validate_k8s(by_kind(docs), args.streamrec, workdir, fail)
        validate_dockerfile(deploy, args.streamrec, props, fail)
        validate_systemd(deploy, args.streamrec, workdir, fail)
        log(f"static checks done, {len(fail.items)} failures so far")

        dashboard = docs.get(os.path.join("grafana", "streamrec-dashboard.json"), [None])[0]
        fail.check(dashboard is not None, "deploy/grafana/streamrec-dashboard.json is missing")
        with open(os.path.join(args.source_dir, "README.md")) as f:
            readme = f.read()
        redis = Redis(workdir)
        run_daemon(args.streamrec, workdir, redis, dashboard, readme, fail, "json")
        run_daemon(args.streamrec, workdir, redis, None, readme, fail, "zset")
    except Exception as e:  # a broken setup is a failure, reported like the others
        fail.check(False, f"{type(e).__name__}: {e}")
    finally:
        if redis:
            redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if fail.items:
        print("validate_deploy: FAIL", file=sys.stderr)
        for item in fail.items:
            print(f"  - {item}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
