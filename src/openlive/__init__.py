"""openlive: a self-hosted server that speaks the Gemini Live API wire protocol."""

import os

# numpy's OpenBLAS threads spin after every small matrix op (audio features), stealing
# a core from the engines on small machines; the engines bring their own thread pools.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
