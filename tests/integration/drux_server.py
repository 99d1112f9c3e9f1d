"""`drux serve` for the integration tests: one child process on a free loopback port, and raw
HTTP to it. A test file's server class writes its council, then calls launch():

    class Serve(DruxServer):
        def __init__(self, tmp, fake):
            cfg = tmp / "council.ini"
            cfg.write_text(...)
            self.launch(["--config", str(cfg), "--db", str(tmp / "drux.db")], serve_env(tmp))

    status, headers, body = srv.request("GET", "/")      # headers' names in lower case
    status, obj = srv.json("POST", "/api/v1/questions", {"question": "..."})
    events = srv.events(qid)                              # [(name, data), ...] to the end
    err = srv.stop()                                      # SIGTERM; stderr as text
    wait_for(lambda: srv.json("GET", "/api/v1/health")[1]["running"] == 0)
"""

import http.client
import json
import os
import signal
import subprocess
import time

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")


def serve_env(tmp, extra=None):
    """The environment of a server under tmp: no proxies, no DRUX_CONFIG, its own home and XDG
    config folders; extra adds or replaces variables."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop("DRUX_CONFIG", None)
    env["DRUX_HOME"] = str(tmp / "home")
    env["XDG_CONFIG_HOME"] = str(tmp / "xdg")
    env.update(extra or {})
    return env


def wait_for(pred, timeout=120, every=0.1):
    """pred()'s first true value, asked every `every` seconds; AssertionError after timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("timed out waiting")


class DruxServer:
    timeout = 60  # seconds a request may take

    def launch(self, args, env):
        """Starts `drux serve --port 0 ARGS` and reads the port from the address it prints (the
        whole line in self.banner)."""
        self.proc = subprocess.Popen([DRUX, "serve", "--port", "0"] + [str(a) for a in args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        assert "http://127.0.0.1:" in line, "no address printed: %r %s" % (line, self.proc.stderr.read())
        self.banner = line
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        self.base = "http://127.0.0.1:%d" % self.port
        self.out = ""

    def request(self, method, path, body=None, headers=None, timeout=None):
        """(status, headers with lower-case names, body bytes). A dict or list body is sent as
        JSON (Content-Type application/json unless headers name another)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method, path, body=None, headers=None):
        """(status, the reply's JSON or None when it has no body)."""
        status, _, data = self.request(method, path, body, headers)
        return status, (json.loads(data) if data else None)

    def events(self, qid, timeout=180):
        """Every SSE event of a question, as (name, data), until the stream ends."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        c.request("GET", "/api/v1/questions/%s/events" % qid)
        r = c.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Type").startswith("text/event-stream")
        out, name = [], None
        for raw in r:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
        c.close()
        return out

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Sends sig and waits (then kills); returns what the server wrote to stderr (again: "").
        What it wrote to stdout after its address is kept in self.out."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr.closed:
            return ""
        err = self.proc.stderr.read()
        self.out = self.proc.stdout.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err
