"""Issue 8.8: Dask's network surface.

The embedded cluster (``dask.cluster: local``, the default) listens on loopback only; reaching
another scheduler is an explicit ``dask.cluster: address`` with, for TLS, the ``dask.security``
files, mapped onto ``distributed.security.Security(..., require_encryption=True)``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from urllib.parse import urlparse

import psutil
import pytest

from mfsim.config.validate import load_config
from mfsim.execute.clusters import cluster_client
from mfsim.execute.clusters import security as _security
from tests.helpers import tiny

LOOPBACK = {"127.0.0.1", "::1"}


def listening_sockets(pids: set[int]) -> list:
    return [
        conn
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids
    ]


def cluster_pids() -> set[int]:
    me = psutil.Process()
    return {me.pid, *(child.pid for child in me.children(recursive=True))}


def test_remote_scheduler_is_an_explicit_choice():
    assert load_config(tiny(), results_root=None)["dask"]["cluster"] == "local"


@pytest.mark.slow
@pytest.mark.parametrize("dashboard", [False, True], ids=["no-dashboard", "dashboard"])
def test_embedded_cluster_listens_on_loopback_only(dashboard):
    before = {(conn.pid, conn.laddr) for conn in listening_sockets(cluster_pids())}
    with cluster_client({"cluster": "local", "dashboard": dashboard}, 2) as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        workers = client.scheduler_info()["workers"]
        assert len(workers) == 2
        for address in workers:
            assert address.startswith("tcp://127.0.0.1:"), address
        if dashboard:
            assert urlparse(client.dashboard_link).hostname == "127.0.0.1"
        worker_pids = set(client.run(os.getpid).values())
        pids = cluster_pids()
        assert worker_pids <= pids
        sockets = [conn for conn in listening_sockets(pids) if (conn.pid, conn.laddr) not in before]
        # the scheduler (comm + HTTP), every nanny and every worker (comm + HTTP) listen
        assert {conn.pid for conn in sockets} >= worker_pids | {os.getpid()}
        exposed = [conn for conn in sockets if conn.laddr.ip not in LOOPBACK]
        assert exposed == [], exposed
        for conn in sockets:
            assert ipaddress.ip_address(conn.laddr.ip).is_loopback


# --------------------------------------------------------------------------------------------
# TLS for a remote scheduler


def write_certificates(directory) -> dict:
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it (PEM files)."""
    from cryptography import x509  # a test dependency (pyproject extra "test")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def build(subject, issuer, public_key, signing_key, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return builder.sign(signing_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build(name("mfsim test CA"), name("mfsim test CA"), ca_key.public_key(), ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(name("127.0.0.1"), ca_cert.subject, key.public_key(), ca_key, False)
    files = {
        "tls_ca_file": directory / "ca.pem",
        "tls_client_cert": directory / "cert.pem",
        "tls_client_key": directory / "key.pem",
    }
    files["tls_ca_file"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files["tls_client_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["tls_client_key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {role: str(path) for role, path in files.items()}


def test_security_section_builds_a_tls_only_security(tmp_path):
    files = write_certificates(tmp_path)
    dask_config = load_config(
        tiny(dask={"cluster": "address", "address": "tls://127.0.0.1:8786", "security": files}),
        results_root=None,
    )["dask"]
    security = _security(dask_config)
    assert security.require_encryption is True
    assert security.tls_ca_file == files["tls_ca_file"]
    assert security.tls_client_cert == files["tls_client_cert"]
    assert security.tls_client_key == files["tls_client_key"]
    # the files are really loaded into the client's TLS context
    context = security.get_connection_args("client")["ssl_context"]
    assert context is not None and context.verify_mode.name == "CERT_REQUIRED"
    # no security section: no Security object (plain tcp, for loopback or trusted networks)
    assert _security({"cluster": "address", "address": "tcp://127.0.0.1:8786"}) is None


@pytest.mark.slow
def test_client_reaches_a_tls_scheduler_with_the_security_files(tmp_path):
    from distributed import LocalCluster
    from distributed.security import Security

    files = write_certificates(tmp_path)
    server = Security(
        tls_ca_file=files["tls_ca_file"],
        tls_scheduler_cert=files["tls_client_cert"],
        tls_scheduler_key=files["tls_client_key"],
        tls_worker_cert=files["tls_client_cert"],
        tls_worker_key=files["tls_client_key"],
        tls_client_cert=files["tls_client_cert"],
        tls_client_key=files["tls_client_key"],
        require_encryption=True,
    )
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tls://",
        host="127.0.0.1",
        security=server,
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        dask_config = {"cluster": "address", "address": address, "security": files}
        with cluster_client(dask_config) as client:
            assert client.scheduler.address.startswith("tls://")
            assert client.submit(sum, [1, 2, 3]).result(timeout=30) == 6
