"""Throw-away X.509 material for the registry test harness.

The harness needs three kinds of certificates and must not depend on any
pre-generated files or on the network:

* a CA plus a server certificate for 127.0.0.1/localhost, so the TLS
  registry variant can be verified by clients given only the CA bundle;
* a second CA plus a client certificate, so the mTLS variant can demand a
  client certificate (``http.tls.clientcas``) and clients can present one;
* a self-signed certificate wrapping the token server's signing key,
  because distribution's ``auth.token.rootcertbundle`` only accepts
  certificates, not bare public keys.

It also computes the libtrust key ID, which distribution 2.8 uses to
find the verification key named by a JWT's ``kid`` header.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Certificates are backdated so that small clock differences between the
# Python process and Go's verifier can never make them "not yet valid".
_BACKDATE = dt.timedelta(hours=1)
_LIFETIME = dt.timedelta(days=2)


def libtrust_key_id(public_key: PublicKeyTypes) -> str:
    """Return the libtrust fingerprint that distribution expects in ``kid``.

    libtrust hashes the DER SubjectPublicKeyInfo with SHA-256, keeps the
    first 240 bits (30 bytes, so base32 needs no padding) and prints the
    48 base32 characters as 12 colon-separated groups of four.
    """
    der = public_key.public_bytes(
        serialization.Encoding.DER,
        serialization.PublicFormat.SubjectPublicKeyInfo,
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode("ascii")
    encoded = encoded.rstrip("=")
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def new_rsa_key() -> rsa.RSAPrivateKey:
    """RSA because RS256 is what the token server signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """P-256 keys are cheap to generate, which keeps TLS setup fast."""
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: CertificatePublicKeyTypes,
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _LIFETIME)
    )


def self_signed_cert(key: CertificateIssuerPrivateKeyTypes, common_name: str) -> x509.Certificate:
    """Certificate whose only job is to carry ``key``'s public half."""
    public = key.public_key()
    return (
        _builder(_name(common_name), _name(common_name), public)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class ServerTLS:
    """Paths of the PEM files a TLS registry variant needs."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Certificate signing for a CA; digital signatures (the TLS handshake) for a leaf."""
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _new_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign leaf certificates only (path length 0)."""
    key = new_ec_key()
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf_builder(
    common_name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    leaf_key: ec.EllipticCurvePrivateKey,
    usage: x509.ObjectIdentifier,
) -> x509.CertificateBuilder:
    """An end-entity certificate for ``usage`` (server or client auth), signed by the CA."""
    return (
        _builder(_name(common_name), ca_cert.subject, leaf_key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )


def _write_pem(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: CertificateIssuerPrivateKeyTypes) -> None:
    path.write_bytes(private_key_pem(key))
    path.chmod(0o600)


def write_server_tls(directory: Path) -> ServerTLS:
    """Create a fresh CA and a 127.0.0.1/localhost server cert in ``directory``.

    The extensions (SKI/AKI, key usages, IP SAN) are the ones strict
    verifiers such as OpenSSL 3 in X509_STRICT mode insist on, so the
    same files keep working if the tests later run on a stricter Python.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _new_ca("ocistore test CA")
    server_key = new_ec_key()
    server_cert = (
        _leaf_builder("127.0.0.1", ca_key, ca_cert, server_key, ExtendedKeyUsageOID.SERVER_AUTH)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    paths = ServerTLS(
        ca_file=directory / "ca.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )
    _write_pem(paths.ca_file, ca_cert)
    _write_pem(paths.cert_file, server_cert)
    _write_key(paths.key_file, server_key)
    return paths


@dataclass(frozen=True)
class ClientTLS:
    """A client CA and one client certificate it issued, as PEM files.

    ``ca_file`` goes into the registry's ``http.tls.clientcas``; ``cert_file``
    and ``key_file`` are what a client presents (requests' ``cert=(cert, key)``).
    ``combined_file`` holds the certificate and the key in one PEM, the other
    form requests (and ``HostConfig.client_cert`` alone) accept.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    combined_file: Path


def write_client_tls(directory: Path, common_name: str = "ocistore test client") -> ClientTLS:
    """Create a fresh client CA, separate from any server CA, and a client cert it signed.

    A CA of its own proves the registry checks client certificates against
    ``clientcas`` rather than against the CA that happens to sign its own
    certificate. Call it twice for a certificate the registry must refuse.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _new_ca(f"{common_name} CA")
    client_key = new_ec_key()
    client_cert = _leaf_builder(
        common_name, ca_key, ca_cert, client_key, ExtendedKeyUsageOID.CLIENT_AUTH
    ).sign(ca_key, hashes.SHA256())
    paths = ClientTLS(
        ca_file=directory / "client-ca.pem",
        cert_file=directory / "client.pem",
        key_file=directory / "client-key.pem",
        combined_file=directory / "client-combined.pem",
    )
    _write_pem(paths.ca_file, ca_cert)
    _write_pem(paths.cert_file, client_cert)
    _write_key(paths.key_file, client_key)
    paths.combined_file.write_bytes(paths.cert_file.read_bytes() + paths.key_file.read_bytes())
    paths.combined_file.chmod(0o600)
    return paths


def private_key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 PEM, the format both Go and pyjwt load directly."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
