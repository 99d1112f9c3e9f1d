"""drux bench: the figures it prints hang together, and the memory it reports is the model's.

Runs on the tiny stories260K fixture (under a second); skips when ../shared is absent."""

import json
import os
import re
import subprocess

import pytest

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STORIES = os.path.join(ROOT, "..", "shared", "fixtures", "models", "stories260K.gguf")

needs_fixture = pytest.mark.skipif(not os.path.exists(STORIES), reason="../shared/fixtures absent")


def bench(*args):
    p = subprocess.run([DRUX, "bench", "-r", "1", "-t", "2", *args], capture_output=True, text=True,
                       timeout=120)
    return p


@needs_fixture
def test_json_has_every_figure_and_they_are_consistent():
    p = bench("-m", STORIES, "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert set(r) == {"model", "threads", "pp64", "pp512", "tg64", "ttft_ms", "peak_rss_mb",
                      "mem_bw_gbs", "decode_ceiling_tps"}
    assert r["threads"] == 2
    for k in ("pp64", "pp512", "tg64", "ttft_ms", "peak_rss_mb"):
        assert r[k] > 0, k
    # the probe runs on every Linux machine CI uses; when it cannot, both are null, never 0
    assert r["mem_bw_gbs"] > 0.5 and r["decode_ceiling_tps"] > 0


@needs_fixture
def test_text_ceiling_is_bandwidth_over_weight_bytes():
    p = bench("-m", STORIES)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    mib = float(re.search(r"([\d.]+) MiB of weights read per token", out).group(1))
    bw = float(re.search(r"memory bw\s+([\d.]+) GB/s", out).group(1))
    ceil = float(re.search(r"decode ceil\s+([\d.]+) tok/s", out).group(1))
    tg = float(re.search(r"tg64\s+([\d.]+) tok/s", out).group(1))
    pct = float(re.search(r"tg64 is (\d+)% of it", out).group(1))
    # MiB is printed to one decimal, so allow its rounding
    assert ceil == pytest.approx(bw * 1e9 / (mib * 2**20), rel=0.06)
    assert pct == pytest.approx(100 * tg / ceil, abs=1.0)


@needs_fixture
def test_peak_rss_is_the_models_not_the_bandwidth_probes():
    # the probe streams over at least 256 MiB; stories260K needs a few MB. The probe runs in a
    # child process, so the reported peak stays small.
    r = json.loads(bench("-m", STORIES, "--json").stdout)
    assert r["peak_rss_mb"] < 100


def test_missing_model_is_a_clear_error(tmp_path):
    p = bench("-m", str(tmp_path / "nope.gguf"))
    assert p.returncode != 0
    assert "nope" in p.stderr and len(p.stderr.strip().splitlines()) <= 2
    assert p.stdout == ""
