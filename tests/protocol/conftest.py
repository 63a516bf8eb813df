"""Hypothesis profiles for the protocol fuzz tests.

The default profile (Hypothesis' own, 100 examples a test) keeps ``tests/protocol`` fast.
``HYPOTHESIS_PROFILE=fuzz`` runs many more examples::

    HYPOTHESIS_PROFILE=fuzz PYTHONPATH=src:. python -m pytest tests/protocol/test_fuzz.py
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]

settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)
# A smoke run: the fuzz tests' code paths at a handful of examples each.
settings.register_profile(
    "quick", max_examples=10, deadline=None, phases=[Phase.explicit, Phase.generate]
)

if _profile := os.environ.get("HYPOTHESIS_PROFILE"):
    settings.load_profile(_profile)
