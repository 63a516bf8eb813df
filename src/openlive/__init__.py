"""openlive: a self-hosted server that speaks the Gemini Live API wire protocol."""

import os

# numpy's OpenBLAS threads spin after every small matrix op (audio features), stealing
# a core from the engines on small machines; the engines bring their own thread pools.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# llama.cpp's OpenMP threads spin-wait by default; on a small machine shared with speech
# recognition and synthesis that turned a 0.9 s prefill into 5 s (bench notes).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
