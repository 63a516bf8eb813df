"""TLS material for the listener: a local CA, a server certificate it signs, an SSL context.

Why: the Python SDK always opens the Live socket with TLS (spec section 0, rule 5), so
even a server on localhost needs a certificate its clients trust. We make a private CA
once; users trust ``ca.pem`` (``SSL_CERT_FILE`` for Python, ``NODE_EXTRA_CA_CERTS`` for
Node) and the server certificate can be re-issued (new host names, near expiry) without
them having to trust anything new.

Files in the TLS directory::

    ca.pem          the CA certificate (give this to clients)
    ca-key.pem      the CA private key (0600)
    server.pem      server certificate followed by the CA certificate
    server-key.pem  the server private key (0600)

Operators with their own certificate skip :func:`ensure_certificates` and pass their
files to :func:`server_ssl_context` directly.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openlive.errors import ConfigError

CA_NAME = "openlive local CA"
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity Apple platforms accept for a TLS server certificate
RENEW_BEFORE = dt.timedelta(days=30)
CLOCK_SKEW = dt.timedelta(hours=1)  # backdate not_valid_before for clients with a slow clock

CA_CERT, CA_KEY = "ca.pem", "ca-key.pem"
SERVER_CERT, SERVER_KEY = "server.pem", "server-key.pem"

_Name: TypeAlias = x509.DNSName | x509.IPAddress
_Pair: TypeAlias = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]  # certificate, its key


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where :func:`ensure_certificates` left the TLS material."""

    ca_cert: Path  # what clients must trust
    cert: Path  # server certificate chain (leaf + CA), for server_ssl_context
    key: Path  # server private key
    created: bool  # True when this call wrote anything (new CA or new server certificate)


def ensure_certificates(tls_dir: Path, hosts: Sequence[str] = ()) -> TlsFiles:
    """Make sure ``tls_dir`` holds a CA and a valid server certificate; return their paths.

    Call at start-up. The first call creates everything; later calls reuse the files and
    re-issue only the server certificate when it is missing, expires within 30 days, was
    not signed by the CA on disk, or lacks one of ``hosts`` (IP addresses or DNS names,
    added to localhost, 127.0.0.1, ::1 and this machine's hostname). A re-issued
    certificate keeps the names the old one had.
    """
    tls_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca, ca_created = _ensure_ca(tls_dir / CA_CERT, tls_dir / CA_KEY)
    files = TlsFiles(tls_dir / CA_CERT, tls_dir / SERVER_CERT, tls_dir / SERVER_KEY, ca_created)
    wanted = _default_names() | {_parse_name(host) for host in hosts}
    server = None if ca_created else _load_pair(files.cert, files.key)
    if server is not None and _still_good(server[0], ca[0], wanted):
        return files
    if server is not None:
        wanted |= _names_in(server[0])
    cert, key = _new_server_cert(ca, wanted)
    _write(files.key, _key_pem(key), mode=0o600)
    _write(files.cert, _cert_pem(cert) + _cert_pem(ca[0]), mode=0o644)
    return TlsFiles(files.ca_cert, files.cert, files.key, True)


def server_ssl_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or later, ALPN ``http/1.1``) for the listener.

    ``cert`` may hold a chain (leaf first). Raises :class:`ConfigError` when the files
    cannot be read or do not match.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load TLS certificate {cert} with key {key}: {exc}") from exc
    return context


# --- checks ----------------------------------------------------------------------------


def _ensure_ca(cert_path: Path, key_path: Path) -> tuple[_Pair, bool]:
    """The CA on disk, or a new one (and True) when it is missing, broken or expiring."""
    ca = _load_pair(cert_path, key_path)
    if ca is not None and not _expires_soon(ca[0]):
        return ca, False
    ca = _new_ca()
    _write(key_path, _key_pem(ca[1]), mode=0o600)
    _write(cert_path, _cert_pem(ca[0]), mode=0o644)
    return ca, True


def _load_pair(cert_path: Path, key_path: Path) -> _Pair | None:
    """The certificate and its private key, or None when missing, unreadable or mismatched."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        return None
    return cert, key


def _still_good(cert: x509.Certificate, ca: x509.Certificate, wanted: set[_Name]) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return not _expires_soon(cert) and wanted <= _names_in(cert)


def _expires_soon(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() < RENEW_BEFORE


def _names_in(cert: x509.Certificate) -> set[_Name]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {name for name in san if isinstance(name, x509.DNSName | x509.IPAddress)}


# --- names -----------------------------------------------------------------------------


def _default_names() -> set[_Name]:
    names: set[_Name] = {
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    }
    try:
        names.add(_parse_name(socket.gethostname()))
    except ConfigError:
        pass  # an empty or odd hostname is not worth failing start-up for
    return names


def _parse_name(host: str) -> _Name:
    """``host`` as a SAN entry: an IP address, else a DNS name (IDNA-encoded if needed)."""
    host = host.strip().strip("[]")  # "[::1]" as written in URLs
    if not host:
        raise ConfigError("empty host name for the TLS certificate")
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return x509.DNSName(host.lower() if host.isascii() else host.encode("idna").decode())
    except (UnicodeError, ValueError) as exc:
        raise ConfigError(
            f"not a host name or IP address for the TLS certificate: {host!r}"
        ) from exc


# --- issuing ---------------------------------------------------------------------------


def _new_ca() -> _Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "openlive"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        _builder(name, name, key.public_key(), CA_DAYS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server_cert(ca: _Pair, names: Iterable[_Name]) -> _Pair:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "openlive server")])
    cert = (
        _builder(subject, ca_cert.subject, key.public_key(), SERVER_DAYS)
        .add_extension(x509.SubjectAlternativeName(sorted(names, key=str)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + dt.timedelta(days=days))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- files -----------------------------------------------------------------------------


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` atomically; the file never exists with looser permissions than ``mode``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
