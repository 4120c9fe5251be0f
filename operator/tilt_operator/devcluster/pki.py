"""Certificates and keys for the local control plane: a CA, serving and client certificates, SA keys.

The API server authenticates clients by certificate and authorises them with RBAC, as a real
cluster does, so what passes here passes on a real cluster too. Keys are ECDSA P-256 (cheap to
make), except the service-account signing key, which kube-apiserver wants as RSA or ECDSA PEM.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=365)
# The first address of the service range kube-apiserver is given: its in-cluster Service IP.
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
_API_SERVICE_IP = "10.0.0.1"
# The local node's pod network (tilt_operator.devcluster.node): a bridge whose address is the pods'
# gateway, where the API server (and a test's git server) listen when pods must reach them.
POD_CIDR = "10.200.0.0/24"
POD_GATEWAY = "10.200.0.1"
NODE_NAME = "tilt-dev-node"


@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """Where every file the control plane needs lies, under one directory."""

    directory: Path

    @property
    def ca(self) -> KeyPair:
        return self._pair("ca")

    @property
    def apiserver(self) -> KeyPair:
        return self._pair("apiserver")

    @property
    def admin(self) -> KeyPair:
        return self._pair("admin")

    @property
    def controller_manager(self) -> KeyPair:
        return self._pair("controller-manager")

    @property
    def kubelet(self) -> KeyPair:
        """The node's identity (system:node:<name>), which the Node authorizer scopes to its own pods."""
        return self._pair("kubelet")

    @property
    def kubelet_client(self) -> KeyPair:
        """The API server's identity towards the kubelet (logs, exec, port-forward)."""
        return self._pair("apiserver-kubelet-client")

    @property
    def kube_proxy(self) -> KeyPair:
        return self._pair("kube-proxy")

    @property
    def scheduler(self) -> KeyPair:
        return self._pair("kube-scheduler")

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def service_account_pub(self) -> Path:
        return self.directory / "sa.pub"

    def _pair(self, name: str) -> KeyPair:
        return KeyPair(self.directory / f"{name}.crt", self.directory / f"{name}.key")


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
    )


def _issue(
    pki: Pki,
    pair: KeyPair,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca.key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(pki.ca.cert.read_bytes())
    key = _new_key()
    builder = _builder(subject, ca_cert.subject, key.public_key()).add_extension(
        x509.ExtendedKeyUsage([usage]), critical=False
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key, pair.key)
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _issue_ca(pki: Pki) -> None:
    key = _new_key()
    subject = _name("tilt-operator-devcluster-ca")
    cert = (
        _builder(subject, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(key, pki.ca.key)
    pki.ca.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _server_names() -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [
        x509.DNSName(name) for name in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc")
    ]
    return names + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", _API_SERVICE_IP, POD_GATEWAY)]


def _serves_every_name(pair: KeyPair) -> bool:
    """Whether a serving certificate from an earlier version still names every address it is reached at."""
    if not pair.cert.is_file():
        return False
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return all(name in present for name in _server_names())


def ensure_pki(directory: Path) -> Pki:
    """Create the CA and every certificate once; a restarted dev cluster keeps its identity.

    A certificate this version needs and an older state directory lacks is issued by the same CA.
    """
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not pki.ca.cert.is_file():
        _issue_ca(pki)
    if not _serves_every_name(pki.apiserver):
        _issue(pki, pki.apiserver, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, _server_names())
    clients = {
        # system:masters is the bootstrap superuser group: the admin kubeconfig, the controller
        # manager (which runs the garbage collector over every resource) and the API server's calls
        # to the kubelet (authorised by the kubelet through the API server) all need it.
        pki.admin: _name("tilt-admin", "system:masters"),
        pki.controller_manager: _name("system:kube-controller-manager", "system:masters"),
        pki.kubelet_client: _name("kube-apiserver-kubelet-client", "system:masters"),
        # The identities Kubernetes' bootstrap RBAC (and the Node authorizer) already grant to.
        pki.kubelet: _name(f"system:node:{NODE_NAME}", "system:nodes"),
        pki.kube_proxy: _name("system:kube-proxy"),
        pki.scheduler: _name("system:kube-scheduler"),
    }
    for pair, subject in clients.items():
        if not pair.cert.is_file():
            _issue(pki, pair, subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    if not pki.service_account_pub.is_file():
        sa_key = _new_key()
        _write_key(sa_key, pki.service_account_key)
        pki.service_account_pub.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return pki
