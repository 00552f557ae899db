"""A throw-away certificate authority for the APNs emulator.

Apple authenticates pass-update pushes with the Pass Type ID certificate as a
TLS client certificate, so the emulator needs a server certificate clients can
verify and client certificates it can verify in turn. Everything is signed by
one local CA generated here and written as PEM files to a work directory; none
of it is secret and none of it is valid anywhere but on loopback.

The client certificate copies the subject layout of Apple's Pass Type ID
certificates (UID = pass type id, CN = "Pass Type ID: <id>", OU = team id) so
that code reading the topic or the expiry from the certificate sees the same
fields it will see in production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_PASS_TYPE_ID = "pass.com.example.loyalty"
DEFAULT_TEAM_ID = "EMUL8TEAM1"

CertificateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class ClientCertificate:
    """Paths of a Pass Type ID certificate and its private key."""

    cert_file: Path
    key_file: Path
    pass_type_id: str
    not_after: dt.datetime


@dataclass(frozen=True)
class TestPki:
    """The files of a generated PKI: CA, server certificate and client certificate."""

    directory: Path
    ca_file: Path
    ca_key_file: Path
    server_cert_file: Path
    server_key_file: Path
    client: ClientCertificate

    def issue_client_certificate(
        self,
        pass_type_id: str = DEFAULT_PASS_TYPE_ID,
        *,
        expired: bool = False,
        name: str = "client",
    ) -> ClientCertificate:
        """Sign another Pass Type ID certificate with this CA (e.g. an expired one)."""
        ca_cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(
            self.ca_key_file.read_bytes(), password=None
        )
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise TypeError("the emulator CA key must be an EC key")
        return _write_client(
            self.directory, name, ca_cert, ca_key, pass_type_id, expired=expired
        )


def generate_pki(
    directory: Path,
    *,
    pass_type_id: str = DEFAULT_PASS_TYPE_ID,
    expired_client: bool = False,
    server_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1"),
) -> TestPki:
    """Create a CA, a server certificate and a client certificate under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_certificate(ca_key, now)
    ca_file = _write_cert(directory / "ca.pem", ca_cert)
    ca_key_file = _write_key(directory / "ca-key.pem", ca_key)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(server_key, ca_cert, ca_key, server_hosts, now)
    server_cert_file = _write_cert(directory / "server.pem", server_cert)
    server_key_file = _write_key(directory / "server-key.pem", server_key)

    client = _write_client(
        directory, "client", ca_cert, ca_key, pass_type_id, expired=expired_client
    )
    return TestPki(
        directory=directory,
        ca_file=ca_file,
        ca_key_file=ca_key_file,
        server_cert_file=server_cert_file,
        server_key_file=server_key_file,
        client=client,
    )


def pass_type_id_of(subject: x509.Name) -> str | None:
    """Read the pass type id the way Apple's certificates carry it: UID, else CN."""
    for attribute in subject.get_attributes_for_oid(NameOID.USER_ID):
        return str(attribute.value)
    for attribute in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        return _pass_type_id_from_common_name(str(attribute.value))
    return None


def _pass_type_id_from_common_name(common_name: str) -> str | None:
    prefix = "Pass Type ID: "
    return common_name[len(prefix) :] if common_name.startswith(prefix) else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wallet-sync emulators"),
            x509.NameAttribute(NameOID.COMMON_NAME, "wallet-sync emulator CA"),
        ]
    )
    return (
        _builder(name, name, key.public_key(), now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )


def _server_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: tuple[str, ...],
    now: dt.datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    return (
        _builder(subject, ca_cert.subject, key.public_key(), now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _write_client(
    directory: Path,
    name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    pass_type_id: str,
    *,
    expired: bool,
) -> ClientCertificate:
    """Issue a Pass Type ID certificate; an expired one ended a day ago."""
    now = _now()
    if expired:
        not_before, not_after = now - dt.timedelta(days=366), now - dt.timedelta(days=1)
    else:
        not_before, not_after = now - dt.timedelta(days=1), now + dt.timedelta(days=365)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        _builder(
            _pass_subject(pass_type_id), ca_cert.subject, key.public_key(), not_before
        )
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(_authority_key_id(ca_cert), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ClientCertificate(
        cert_file=_write_cert(directory / f"{name}.pem", cert),
        key_file=_write_key(directory / f"{name}-key.pem", key),
        pass_type_id=pass_type_id,
        not_after=not_after,
    )


def _pass_subject(pass_type_id: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, pass_type_id),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_id}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEFAULT_TEAM_ID),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Loyalty Inc."),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
) -> x509.CertificateBuilder:
    """Start a certificate with the fields every certificate here shares."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not cert_sign,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_id(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _san(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: CertificateKey) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600, exist_ok=True)
    path.write_bytes(pem)
    return path
