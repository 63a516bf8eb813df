"""What the benchmark scripts share.

The scripts run as ``python bench/<name>.py``, so ``bench/`` is on ``sys.path`` and they
import this package as ``lib``: ``lib.live`` (a Live client speaking the wire protocol),
``lib.speech`` (spoken test utterances), ``lib.server`` (``openlive serve`` in a
subprocess), ``lib.machine`` (CPU, memory and load of the shared machine), ``lib.stats``,
``lib.tables`` (markdown), ``lib.trace`` (the server's per-stage latencies), and the
phases of the voice benchmarks: ``lib.sessions`` (conversations), ``lib.turn_taking``
(barge-in, cut-offs), ``lib.capacity`` with ``lib.probe``, ``lib.lower_bound``, and
``lib.voice_report``.
"""
