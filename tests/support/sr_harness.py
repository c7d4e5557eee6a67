"""What streamrec's python tests share: a redis-server and a daemon of their
own, bounded polling, and the way a test says it failed.

  Failure, check()   an expectation that did not hold, and the assertion raising it
  log()              a progress line stamped with the seconds since the test started
  wait_for()         bounded polling: nothing sleeps for a fixed time to be right
  die_with_parent()  preexec_fn for every child: it dies with the test
  free_port()        a loopback port nobody listens on now
  Redis              redis-server on a free loopback port, read through redis-cli
  Daemon             `streamrec run --embedded` with -X settings and a --ready-file

Used by tests/e2e/python_e2e.py, tests/e2e/status_page.py and
tests/deploy/validate_deploy.py, which put this directory on sys.path
relative to their own file. Standard library only: the tests run under
Debian's /usr/bin/python3 and this module adds nothing to what they need.

Cleanup contract: whoever constructs a Redis or a Daemon owns its process
and ends it in a `finally`, on failure too -- Redis.stop(), Daemon.stop()
(SIGTERM, as an operator would) or Daemon.kill(); each is a no-op once the
process is gone. A constructor that fails leaves nothing running. As a
backstop, every process started here gets SIGTERM when the test process
dies without cleaning up (a ctest timeout sends SIGKILL), so no server
outlives the test. Their files go to the caller's workdir, which the caller
creates and removes.
"""
import ctypes
import os
import signal
import socket
import subprocess
import time

WAIT_S = 60           # bound of every wait: one that runs out means broken, not slow
POLL_S = 0.1          # how often a wait asks again, unless the caller says otherwise
REDIS_LOG = "redis.log"  # redis-server's log, in the workdir (failure reports show it)

START = time.monotonic()


class Failure(Exception):
    """An expectation of the test that did not hold; the message says which."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(f"[{time.monotonic() - START:5.1f}s] {message}", flush=True)


def wait_for(what, probe, timeout_s=WAIT_S, interval_s=POLL_S):
    """Calls probe() until it returns something true; returns that. After
    timeout_s, raises Failure naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def die_with_parent():
    """For Popen's preexec_fn: the child gets SIGTERM when this process dies,
    however it dies (a ctest timeout kills us with SIGKILL)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port():
    """Free now; another process may take it before the caller binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _terminate(proc, timeout_s):
    """SIGTERM, then SIGKILL if proc is still running after timeout_s.
    Returns its exit status; None when it had to be killed."""
    if proc.poll() is not None:
        return proc.returncode
    proc.terminate()
    try:
        return proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


class Redis:
    """A private redis-server on a free loopback port, without persistence,
    logging to REDIS_LOG in workdir."""

    def __init__(self, workdir):
        self.proc = None
        for _ in range(5):
            self.port = free_port()  # another process may take it first: then retry
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", workdir,
                 "--logfile", os.path.join(workdir, REDIS_LOG)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
            deadline = time.monotonic() + 10
            while self.proc.poll() is None and time.monotonic() < deadline:
                if self.cli("PING") == "PONG":
                    return
                time.sleep(0.05)
            self.stop()
        raise Failure("redis-server did not start on a free port in 5 attempts")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def _cli_stdout(self, args):
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=10)
        return done.stdout if done.returncode == 0 else None

    def cli(self, *args):
        """redis-cli's output without its final newline; None when it failed."""
        out = self._cli_stdout(args)
        return out.rstrip("\n") if out is not None else None

    def cli_lines(self, *args):
        """redis-cli's output as a list of lines; None when it failed."""
        out = self._cli_stdout(args)
        return out.splitlines() if out is not None else None

    def stop(self):
        if self.proc:
            _terminate(self.proc, 10)


class Daemon:
    """`streamrec run --embedded` (Kafka is librdkafka's mock cluster) with
    settings as -X key=value, in their order; its --ready-file is
    workdir/ready, its stdout and stderr go to workdir/streamrec.stderr."""

    def __init__(self, binary, workdir, settings):
        self.ready_path = os.path.join(workdir, "ready")
        self.stderr_path = os.path.join(workdir, "streamrec.stderr")
        # A killed daemon before this one in the same workdir left its ready
        # file; waiting for it would read that daemon's addresses.
        if os.path.exists(self.ready_path):
            os.unlink(self.ready_path)
        command = [binary, "run", "--embedded", "--ready-file", self.ready_path]
        for key, value in settings.items():
            command += ["-X", f"{key}={value}"]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=err,
                                         stderr=err, preexec_fn=die_with_parent)

    def wait_ready(self, interval_s=POLL_S):
        """The ready file's key=value lines as a dict, once streamrec wrote it."""
        def probe():
            check(self.proc.poll() is None,
                  f"streamrec exited with {self.proc.returncode} before it was ready")
            if not os.path.exists(self.ready_path):
                return None
            with open(self.ready_path) as f:
                return dict(line.split("=", 1) for line in f.read().splitlines())
        return wait_for("streamrec's --ready-file", probe, interval_s=interval_s)

    def stderr(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self, timeout_s=WAIT_S):
        """SIGTERM, and the exit status; None when streamrec was still running
        after timeout_s and had to be killed."""
        return _terminate(self.proc, timeout_s)

    def kill(self):
        """For cleanup after a failure: nothing left to shut down gracefully."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
