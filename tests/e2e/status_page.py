"""The status page in a real browser: headless Chromium against a real daemon.

`streamrec run --embedded` (librdkafka's mock cluster) on a redis-server of
our own, with the HTTP endpoint on a free port and lists in the zset format.
`streamrec gen` produces a fixed synthetic stream (60 days of event time, so
churn alerts fire -- the thresholds are lowered to make sure of it); once
the daemon has applied all of it and /metrics stops moving, Chromium loads
/?user=U with --dump-dom and the numbers the page shows (its data-value
attributes, filled by the page's own script from /status.json) must equal
/metrics scraped before and after; U's list on the page must equal
`redis-cli ZREVRANGE reco:{U} 0 -1 WITHSCORES`; a user id with markup in it
must come out as text. Then a screenshot into the output directory.

Run by tests/e2e/status_page.sh, which skips when Chromium is missing.
"""
import argparse
import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

# what the python tests share, found from this file: ctest runs it from the build directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from sr_harness import (WAIT_S, Daemon, Failure, Redis, check, die_with_parent, log,  # noqa: E402
                        wait_for)

EVENTS_ARGS = ["--users", "200", "--items", "200", "--days", "60", "--churn-fraction", "0.5",
               "--sessions-per-day", "0.3", "--seed", "2"]
DAEMON_SETTINGS = {
    "redis.reco.format": "zset",
    "http.listen": "127.0.0.1:0",
    "churn.enter.threshold": "0.3",
    "churn.exit.threshold": "0.2",
    "churn.level.medium": "0.4",
    "churn.level.high": "0.5",
}
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--hide-scrollbars", "--no-first-run"]

def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def parse_metrics(text):
    """{series: value}, the series as written ('name{labels}')."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            samples[series] = float(value)
    return samples


def total(samples, name):
    """Sum over every labelled series of a family; None when it has none."""
    values = [v for s, v in samples.items() if s == name or s.startswith(name + "{")]
    return sum(values) if values else None


def figures(samples):
    """What the page must show, from /metrics."""
    return {
        "events-total": total(samples, "streamrec_events_total"),
        "records-in": samples["streamrec_input_records_total"],
        "dead-letters": total(samples, "streamrec_dlq_records_total"),
        "lag-offsets": total(samples, "streamrec_consumer_lag_offsets"),
        "partitions": samples["streamrec_assigned_partitions"],
        "fresh-count": samples["streamrec_freshness_seconds_count"],
        "users": samples["streamrec_users"],
        "items": samples["streamrec_items"],
        "recos-total": samples["streamrec_recommendations_total"],
        "alerts-firing": samples['streamrec_churn_alerts_total{state="firing"}'],
        "alerts-resolved": samples['streamrec_churn_alerts_total{state="resolved"}'],
    }


def freshness_bucket(samples, q):
    """(lower, upper] in ms of the /metrics bucket holding the q-quantile."""
    count = samples["streamrec_freshness_seconds_count"]
    buckets = sorted((float(m.group(1)), v) for s, v in samples.items()
                     if (m := re.fullmatch(r'streamrec_freshness_seconds_bucket\{le="([^"]+)"\}', s)))
    lower = 0.0
    for le, cumulative in buckets:
        if cumulative >= q * count:
            return lower * 1000, le * 1000
        lower = le
    raise Failure("freshness histogram without a +Inf bucket")


class Dom(html.parser.HTMLParser):
    """The attributes of elements with an id, and rows by class."""

    def __init__(self, text):
        super().__init__()
        self.by_id, self.rows, self.body, self.scripts = {}, {}, {}, 0
        self._text_of, self.texts = None, {}
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        if tag == "script":
            self.scripts += 1
        if "id" in a:
            self.by_id[a["id"]] = a
            self._text_of = a["id"]
            self.texts[a["id"]] = ""
        if tag == "tr" and "class" in a:
            self.rows.setdefault(a["class"], []).append(a)

    def handle_data(self, data):
        if self._text_of:
            self.texts[self._text_of] += data

    def handle_endtag(self, tag):
        self._text_of = None


def chromium(binary, workdir, *args):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=workdir)
    done = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, preexec_fn=die_with_parent)
    check(done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def load_page(browser, workdir, port, query):
    # virtual time: the page's 1 s polls run within the budget without
    # waiting for real seconds; network loads are waited for
    return Dom(chromium(browser, workdir, "--virtual-time-budget=4000", "--dump-dom",
                        f"http://127.0.0.1:{port}/{query}"))


def page_figures(dom):
    out = {}
    for key in ("events-total", "records-in", "dead-letters", "lag-offsets", "partitions",
                "fresh-count", "users", "items", "recos-total", "alerts-firing",
                "alerts-resolved"):
        value = dom.by_id.get(key, {}).get("data-value", "")
        out[key] = float(value) if value != "" else None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--streamrec", required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--out", required=True, help="directory for the screenshot")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="streamrec-status-page-")
    redis = daemon = None
    ok = False
    try:
        redis = Redis(workdir)
        daemon = Daemon(args.streamrec, workdir, {"redis.url": redis.url, **DAEMON_SETTINGS})
        addresses = daemon.wait_ready()
        port = int(addresses["http_port"])
        log(f"daemon ready, http on {port}")

        def gen(*extra):
            run = subprocess.run([args.streamrec, "gen", "--topic", "clicks", *EVENTS_ARGS, *extra,
                                  "-X", f"kafka.bootstrap.servers={addresses['bootstrap']}"],
                                 capture_output=True, text=True, timeout=120)
            check(run.returncode == 0, f"streamrec gen failed: {run.stderr}")
            return int(re.search(r"(\d+) events produced", run.stderr).group(1))

        def settled(records):
            def done():
                m = parse_metrics(http_get(port, "/metrics"))
                return m if (m["streamrec_input_records_total"] == records and
                             m["streamrec_freshness_seconds_count"] == records) else None
            return done

        # The stream must meet a consumer that is already fetching, and
        # arrive paced (not --rate 0). Read from a full topic, the partitions
        # came one after another, days of event time apart, in a batch or two,
        # the other partitions' events late against the watermark, and no
        # alert was published. The first fetch can come seconds after the
        # assignment, so one event first (another seed: not the stream's
        # first), applied and acknowledged, then the stream.
        produced = gen("--count", "1", "--seed", "3")
        wait_for("the first event applied and acknowledged", settled(produced))
        produced += gen("--rate", "20000")
        log(f"{produced} events produced")
        wait_for("every event applied and acknowledged", settled(produced))

        # the numbers are stable once input stopped; lag comes from librdkafka's
        # statistics (every second) and the commit interval, so a page load is
        # accepted only between two equal scrapes
        for attempt in range(5):
            before = parse_metrics(http_get(port, "/metrics"))
            user_lists = [k[len("reco:{"):-1]
                          for k in redis.cli_lines("--scan", "--pattern", "reco:{*}")
                          if not k.endswith(":meta")]
            user = sorted(user_lists)[0]
            dom = load_page(args.chromium, workdir, port, f"?user={user}")
            after = parse_metrics(http_get(port, "/metrics"))
            if figures(before) == figures(after):
                break
            log(f"metrics moved during the page load (attempt {attempt + 1}), again")
            time.sleep(1)
        else:
            raise Failure("/metrics never held still across a page load")

        check(int(dom.body.get("data-status-loaded", "0")) >= 1,
              "the page never loaded /status.json")
        expected, shown = figures(after), page_figures(dom)
        log(f"page shows {shown}")
        for key, value in expected.items():
            check(shown[key] == value, f"{key}: the page shows {shown[key]}, /metrics says {value}")
        check(shown["events-total"] == produced, "not every event is on the page")
        firing, resolved = expected["alerts-firing"], expected["alerts-resolved"]
        check(firing > 0 and resolved > 0, "the stream should have fired and resolved alerts")
        alerts = dom.rows.get("alert", [])
        check(len(alerts) == min(20, firing + resolved),
              f"{len(alerts)} alert rows for {firing + resolved} alerts")

        # freshness: the page's percentiles (~3% precise) sit in the /metrics bucket
        for key, q in (("fresh-p50", 0.5), ("fresh-p99", 0.99), ("fresh-p999", 0.999)):
            value = float(dom.by_id[key]["data-value"])
            lower, upper = freshness_bucket(after, q)
            check(lower < value <= upper * (1 + 1 / 32),
                  f"{key} {value} ms is outside the /metrics bucket ({lower}, {upper}] ms")
        rate = float(dom.by_id["events-per-s"]["data-value"])
        check(rate >= 0, f"throughput {rate}")

        trending = dom.rows.get("trend", [])
        check(len(trending) == min(10, expected["items"]), f"{len(trending)} trending rows")
        scores = [float(t["data-score"]) for t in trending]
        check(scores == sorted(scores, reverse=True), f"trending not best first: {scores}")

        # the typed user's list is Redis's list, in order, with its scores
        check(dom.body.get("data-reco-loaded") == "1", "the page never looked the user up")
        flat = redis.cli_lines("ZREVRANGE", f"reco:{{{user}}}", "0", "-1", "WITHSCORES")
        in_redis = [(flat[k], float(flat[k + 1])) for k in range(0, len(flat), 2)]
        on_page = [(r["data-item"], float(r["data-score"])) for r in dom.rows.get("reco", [])]
        check(len(in_redis) > 0, f"reco:{{{user}}} is empty")
        check([i for i, _ in on_page] == [i for i, _ in in_redis],
              f"{user}: page {on_page} != redis {in_redis}")
        for (_, a), (_, b) in zip(on_page, in_redis):
            check(abs(a - b) <= 1e-6 * max(1.0, abs(b)), f"{user}: score {a} != {b}")
        log(f"{user}: {len(on_page)} recommendations match redis")

        # an unknown id full of markup: an empty list with a message, as text
        evil = "<img src=x onerror=alert(1)>nobody"
        dom2 = load_page(args.chromium, workdir, port,
                         "?user=" + urllib.request.quote(evil, safe=""))
        message = dom2.texts.get("reco-message", "")
        check("no recommendations for this user" in message, f"unknown user: {message!r}")
        check(evil in message, f"the id is not shown as text: {message!r}")
        check(not dom2.rows.get("reco"), "an unknown user got rows")
        check(dom2.scripts == dom.scripts, "the id added elements to the page")

        os.makedirs(args.out, exist_ok=True)
        shot = os.path.join(args.out, "status-page.png")
        if os.path.exists(shot):
            os.unlink(shot)
        chromium(args.chromium, workdir, "--virtual-time-budget=4000", f"--screenshot={shot}",
                 "--window-size=1280,900", f"http://127.0.0.1:{port}/?user={user}")
        with open(shot, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", f"{shot} is not a PNG")
        log(f"screenshot {shot} ({os.path.getsize(shot)} bytes)")

        rc = daemon.stop()
        check(rc is not None, f"streamrec still running {WAIT_S} s after SIGTERM")
        check(rc == 0, f"streamrec exited {rc} on SIGTERM")
        ok = True
    except Failure as e:
        print(f"status page test: FAIL: {e}", file=sys.stderr)
    finally:
        if daemon:
            daemon.kill()
        if redis:
            redis.stop()
        if not ok and daemon:
            sys.stderr.write("--- streamrec stderr (tail) ---\n" + daemon.stderr()[-4000:])
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
