"""Install the Smart Turn v3.2 model into the openlive cache (run at install time).

Usage::

    python -m openlive.engines.turn.install [--cache-dir DIR] [--wheel FILE] [--force]

The model ships only inside the ``pipecat-ai`` wheel. This downloads that one wheel
with pip, without its dependencies (``pip download --no-deps pipecat-ai==1.14.0``),
takes out the ONNX file and the BSD-2-Clause licence, and writes them to
``<cache>/models/`` — ``$OPENLIVE_CACHE_DIR`` or ``~/.cache/openlive``. The file is
written under a temporary name, renamed only once its SHA-256 matches the committed
digest, and left alone when it is already there and intact, so running this again is
cheap. ``--wheel`` takes a wheel you downloaded yourself (air-gapped machines).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tqdm import tqdm

from openlive.engines.turn.smart_turn import (
    LICENSE_FILE,
    MODEL_SHA256,
    WHEEL_LICENSE_MEMBER,
    WHEEL_MEMBER,
    WHEEL_REQUIREMENT,
    model_path,
    sha256_of,
)
from openlive.errors import EngineError

_CHUNK = 1 << 20
_LICENSE_HEADER = (
    "Smart Turn v3.2 (smart-turn-v3.2-cpu.onnx) by Daily, taken unchanged from the\n"
    f"{WHEEL_REQUIREMENT} wheel ({WHEEL_MEMBER}).\n"
    "It is distributed under the following licence.\n\n"
)


def install(
    cache_dir: str | Path | None = None,
    *,
    wheel: str | Path | None = None,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Make sure the verified model is in the cache; return its path."""
    target = model_path(cache_dir)
    if not force and target.is_file() and sha256_of(target) == MODEL_SHA256:
        return target
    if wheel is not None:
        extract(Path(wheel), target, progress=progress)
        return target
    with tempfile.TemporaryDirectory(prefix="openlive-smart-turn-") as tmp:
        extract(download_wheel(Path(tmp), quiet=not progress), target, progress=progress)
    return target


def download_wheel(directory: Path, *, quiet: bool = False) -> Path:
    """``pip download --no-deps`` the pipecat-ai wheel into ``directory``; return it."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--dest", str(directory), WHEEL_REQUIREMENT,
    ]
    if quiet:
        command.append("--quiet")
    result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise EngineError(
            f"pip could not download {WHEEL_REQUIREMENT} (exit {result.returncode}); "
            "download the wheel elsewhere and pass it with --wheel"
        )
    wheels = sorted(directory.glob("pipecat_ai-*.whl"))
    if not wheels:
        raise EngineError(f"pip download left no pipecat_ai wheel in {directory}")
    return wheels[0]


def extract(
    wheel: Path,
    target: Path,
    *,
    sha256: str = MODEL_SHA256,
    member: str = WHEEL_MEMBER,
    license_member: str = WHEEL_LICENSE_MEMBER,
    progress: bool = True,
) -> None:
    """Copy ``member`` of ``wheel`` to ``target`` if its digest is ``sha256``, with the licence.

    Raises EngineError when the wheel lacks the file or the digest differs; then
    nothing is left under ``target``'s name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            _copy_verified(archive, member, target, sha256, progress)
            licence = archive.read(license_member).decode("utf-8")
    except (KeyError, zipfile.BadZipFile) as exc:
        raise EngineError(f"{wheel.name} is not the expected wheel: {exc}") from exc
    (target.parent / LICENSE_FILE).write_text(_LICENSE_HEADER + licence, encoding="utf-8")


def _copy_verified(
    archive: zipfile.ZipFile, member: str, target: Path, sha256: str, progress: bool
) -> None:
    info = archive.getinfo(member)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, archive.open(info) as src, tqdm(
            total=info.file_size, unit="B", unit_scale=True, desc=target.name,
            disable=not progress,
        ) as bar:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                bar.update(len(chunk))
        if digest.hexdigest() != sha256:
            raise EngineError(
                f"{member} has SHA-256 {digest.hexdigest()}, expected {sha256}; not installed"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openlive.engines.turn.install",
        description="Install the Smart Turn v3.2 end-of-turn model into the openlive cache.",
    )
    parser.add_argument("--cache-dir", help="cache root (default: $OPENLIVE_CACHE_DIR "
                        "or ~/.cache/openlive); the model goes to <root>/models/")
    parser.add_argument("--wheel", help=f"a {WHEEL_REQUIREMENT} wheel already downloaded")
    parser.add_argument("--force", action="store_true", help="reinstall even if present")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    try:
        path = install(args.cache_dir, wheel=args.wheel, force=args.force,
                       progress=not args.quiet)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"Smart Turn v3.2 installed: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
