"""A self-signed certificate for trying ClassPulse over HTTPS on a school network.

Browsers give the camera only to pages on HTTPS (or on the computer itself), so students joining
from their own devices need the server on HTTPS. A school's own certificate, or a reverse proxy in
front, is the real answer (docs/join.md); for a trial, `classpulse cert --host NAME` makes one for
the server's name and addresses, valid for a term, and says what students must do to trust it.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 120  # a school term; browsers refuse server certificates valid for more than 398 days


class CertificateError(ValueError):
    """A name that cannot go in a certificate, or a file that cannot be written. One line."""


@dataclass(frozen=True)
class MadeCertificate:
    """Where the certificate and its key went, what they cover, and the fingerprint to compare."""

    cert_path: Path
    key_path: Path
    names: tuple[str, ...]
    sha256_fingerprint: str
    not_after: datetime


def _subject_names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() or c in "/:@" for c in host):
                raise CertificateError(f"{host!r} is not a host name or an IP address") from None
            names.append(x509.DNSName(host.lower()))
    return names


def make_self_signed(hosts: tuple[str, ...], folder: Path, now: datetime | None = None) -> MadeCertificate:
    """A P-256 key and a certificate for `hosts` (names and IP addresses) in `folder`, the key
    readable by its owner only; existing files are replaced."""
    if not hosts:
        raise CertificateError("name at least one host: the name students type, e.g. classpulse.school.lan")
    alternative_names = _subject_names(hosts)  # checks each before anything is made
    now = now or datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ClassPulse (self-signed)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path, key_path = folder / "classpulse-cert.pem", folder / "classpulse-key.pem"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        key_bytes = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key_bytes)
        key_path.chmod(0o600)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise CertificateError(f"cannot write the certificate in {folder}: {exc.strerror or exc}") from exc
    fingerprint = cert.fingerprint(hashes.SHA256()).hex(":").upper()
    return MadeCertificate(cert_path, key_path, tuple(hosts), fingerprint, now + timedelta(days=VALID_DAYS))


def trust_instructions(made: MadeCertificate, port: int = 8501) -> str:
    """What the teacher does next and what each student must do to trust the certificate."""
    host = made.names[0]
    return "\n".join([
        f"certificate: {made.cert_path}",
        f"key:         {made.key_path} (keep it private)",
        f"for:         {', '.join(made.names)}; valid until {made.not_after:%d %b %Y}",
        f"fingerprint: SHA-256 {made.sha256_fingerprint}",
        "",
        "Start the server with it:",
        f"  classpulse run --address 0.0.0.0 --host {host} --ssl-cert {made.cert_path} --ssl-key {made.key_path}",
        f"  (or: make run ADDRESS=0.0.0.0 HOSTS={host} SSL_CERT={made.cert_path} SSL_KEY={made.key_path})",
        "",
        "This certificate is self-signed: no browser trusts it by itself. Each student's browser warns",
        f"the first time they open https://{host}:{port}/join/...; it is safe to go on only if the",
        "fingerprint the browser shows (the padlock, certificate details) is the one above. For a whole",
        "school, install the certificate file on the devices (or use the school's own certificate or a",
        "reverse proxy, docs/join.md): then no student sees a warning.",
    ])
