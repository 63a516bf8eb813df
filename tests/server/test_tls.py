"""TLS material: a CA made once, a server certificate re-issued only when it must be."""

from __future__ import annotations

import datetime as dt
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openlive.errors import ConfigError
from openlive.server import tls
from openlive.server.tls import TlsFiles, ensure_certificates, server_ssl_context


def load_chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def san(cert: x509.Certificate) -> set[str]:
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


def client_context(ca: Path) -> ssl.SSLContext:
    """What a strict client does (Python 3.13 turns on VERIFY_X509_STRICT by default)."""
    context = ssl.create_default_context(cafile=ca)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.set_alpn_protocols(["http/1.1"])
    return context


def handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> str | None:
    """Run a TLS handshake in memory; return the ALPN protocol the client ended up with."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_side=False, server_hostname=hostname)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {c: False, s: False}
    for _ in range(10):
        for obj in (c, s):
            if not done[obj]:
                try:
                    obj.do_handshake()
                    done[obj] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return c.selected_alpn_protocol()
    raise AssertionError("handshake did not finish")


def test_first_call_creates_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")

    assert files == TlsFiles(
        tmp_path / "tls" / "ca.pem",
        tmp_path / "tls" / "server.pem",
        tmp_path / "tls" / "server-key.pem",
        created=True,
    )
    [ca] = load_chain(files.ca_cert)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "openlive local CA"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.not_valid_after_utc - ca.not_valid_before_utc > dt.timedelta(days=3650)

    leaf, chained_ca = load_chain(files.cert)
    assert chained_ca == ca
    leaf.verify_directly_issued_by(ca)
    assert {"localhost", "127.0.0.1", "::1"} <= san(leaf)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = leaf.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=824) < lifetime <= dt.timedelta(days=825)


def test_private_keys_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    for key in (files.key, tmp_path / "ca-key.pem"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ca-key.pem",
        "ca.pem",
        "server-key.pem",
        "server.pem",
    ]  # no temporary files left behind


def test_second_call_reuses_everything(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path, ["example.test"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    second = ensure_certificates(tmp_path, ["example.test"])

    assert second.created is False
    assert (second.ca_cert, second.cert, second.key) == (first.ca_cert, first.cert, first.key)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_new_host_reissues_the_server_certificate_only(tmp_path: Path) -> None:
    ensure_certificates(tmp_path, ["first.test"])
    ca_before = (tmp_path / "ca.pem").read_bytes()

    files = ensure_certificates(tmp_path, ["10.1.2.3", "second.test"])

    assert files.created is True
    assert (tmp_path / "ca.pem").read_bytes() == ca_before
    names = san(load_chain(files.cert)[0])
    assert {"first.test", "second.test", "10.1.2.3", "localhost"} <= names
    assert ensure_certificates(tmp_path, ["second.test"]).created is False


def test_host_spellings(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path, ["[fd00::7]", "Büro.example", "MixedCase.Test"])

    names = san(load_chain(files.cert)[0])
    assert {"fd00::7", "xn--bro-hoa.example", "mixedcase.test"} <= names
    with pytest.raises(ConfigError):
        ensure_certificates(tmp_path, [""])


def test_expiring_server_certificate_is_renewed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(tls, "SERVER_DAYS", 20)
        ensure_certificates(tmp_path)

    files = ensure_certificates(tmp_path)

    assert files.created is True
    leaf = load_chain(files.cert)[0]
    assert leaf.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=800)


@pytest.mark.parametrize("damage", ["delete cert", "delete key", "swap key", "garbage cert"])
def test_missing_or_broken_server_files_are_replaced(tmp_path: Path, damage: str) -> None:
    files = ensure_certificates(tmp_path)
    ca_before = files.ca_cert.read_bytes()
    match damage:
        case "delete cert":
            files.cert.unlink()
        case "delete key":
            files.key.unlink()
        case "swap key":
            files.key.write_bytes((tmp_path / "ca-key.pem").read_bytes())
        case "garbage cert":
            files.cert.write_text("not a certificate")

    again = ensure_certificates(tmp_path)

    assert again.created is True
    assert files.ca_cert.read_bytes() == ca_before
    server_ssl_context(again.cert, again.key)  # cert and key match again


def test_a_new_ca_brings_a_new_server_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    old_ca = files.ca_cert.read_bytes()
    (tmp_path / "ca-key.pem").unlink()

    again = ensure_certificates(tmp_path)

    assert again.created is True
    assert again.ca_cert.read_bytes() != old_ca
    [ca] = load_chain(again.ca_cert)
    load_chain(again.cert)[0].verify_directly_issued_by(ca)


def test_strict_clients_accept_the_server_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    server = server_ssl_context(files.cert, files.key)

    for hostname in ("localhost", "127.0.0.1", "::1"):
        assert handshake(server, client_context(files.ca_cert), hostname) == "http/1.1"


def test_a_client_without_the_ca_rejects_the_certificate(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    stranger = ensure_certificates(tmp_path / "other")

    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(
            server_ssl_context(files.cert, files.key),
            client_context(stranger.ca_cert),
            "localhost",
        )


def test_server_context_settings(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    context = server_ssl_context(files.cert, files.key)

    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def test_server_context_reports_unusable_files(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)

    with pytest.raises(ConfigError):
        server_ssl_context(tmp_path / "missing.pem", files.key)
    with pytest.raises(ConfigError):
        server_ssl_context(files.cert, tmp_path / "ca-key.pem")  # key of another certificate
