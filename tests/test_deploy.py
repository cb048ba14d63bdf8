"""deploy/ and docs/operations.md: what can be checked without Docker or a cluster.

- Kubernetes manifests and the compose file parse and agree with each other
  (PyYAML is not a project dependency: the venv's ``yaml`` is used when present,
  else a system ``python3`` that has it, else these checks are skipped);
- ``nginx -t`` accepts deploy/nginx/hub.conf, and a real nginx with it proxies
  /healthz (keep-alive) and a WebSocket upgrade to a real hub (when nginx is
  installed);
- ``systemd-analyze verify`` accepts the unit (when systemd-analyze is there);
- the Dockerfile is read for what it must have (no Docker engine here);
- docs/operations.md names every HUB_* setting and every metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from hub.config import Settings
from tests.support.hubs import InProcessHub, free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"


# -- YAML ---------------------------------------------------------------------

_YAML_TO_JSON = (
    "import json, sys, yaml\n"
    "json.dump([list(yaml.safe_load_all(open(p, encoding='utf-8'))) for p in sys.argv[1:]],"
    " sys.stdout)\n"
)


def _system_python_with_yaml() -> str | None:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.access(candidate, os.X_OK) and Path(candidate).resolve() != Path(sys.executable):
            ok = subprocess.run(
                [candidate, "-c", "import yaml"], capture_output=True, timeout=30
            ).returncode
            if ok == 0:
                return candidate
    return None


def load_yaml(*paths: Path) -> list[list[Any]]:
    """Every document of every file, parsed with PyYAML wherever it can be found."""
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        python = _system_python_with_yaml()
        if python is None:
            pytest.skip(
                "PyYAML is not installed (it is not a project dependency) and no system "
                "python3 has it: the YAML of deploy/ was not parsed"
            )
        out = subprocess.run(
            [python, "-c", _YAML_TO_JSON, *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        parsed: list[list[Any]] = json.loads(out.stdout)
        return parsed
    result = []
    for p in paths:
        with open(p, encoding="utf-8") as fh:
            result.append(list(yaml.safe_load_all(fh)))
    return result


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict[str, Any]]:
    """The manifests by kind (one of each kind), plus 'files' → the file of each."""
    files = sorted(K8S.glob("*.yaml"))
    docs = load_yaml(*files)
    by_kind: dict[str, dict[str, Any]] = {}
    for path, file_docs in zip(files, docs, strict=True):
        assert file_docs, f"{path.name} is empty"
        for doc in file_docs:
            assert isinstance(doc, dict), path.name
            assert doc.get("apiVersion") and doc.get("kind"), path.name
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path.name
            assert doc["kind"] not in by_kind, f"two {doc['kind']}s"
            by_kind[doc["kind"]] = doc | {"_file": path.name}
    return by_kind


def test_k8s_manifests_agree(k8s: dict[str, dict[str, Any]]) -> None:
    kust = k8s["Kustomization"]
    listed = set(kust["resources"])
    assert all((K8S / r).exists() for r in listed), listed
    assert "secret.example.yaml" not in listed  # placeholder secrets are never applied
    for kind in ("Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"):
        assert k8s[kind]["_file"] in listed, kind

    dep = k8s["Deployment"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert k8s["Service"]["spec"]["selector"].items() <= labels.items()
    assert k8s["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert (
        k8s["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == (dep["metadata"]["name"])
    )

    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8080}
    assert k8s["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + 30
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    refs = {next(iter(r.values()))["name"] for r in container["envFrom"]}
    assert refs == {k8s["ConfigMap"]["metadata"]["name"], k8s["Secret"]["metadata"]["name"]}
    secret_keys = set(k8s["Secret"]["stringData"])
    assert {"HUB_TOKEN_SECRET", "HUB_API_KEY", "HUB_REDIS_URL", "HUB_DATABASE_URL"} <= secret_keys
    settings = {"HUB_" + f.name.upper() for f in dataclasses.fields(Settings)}
    assert set(k8s["ConfigMap"]["data"]) | secret_keys <= settings


def test_compose_file(tmp_path: Path) -> None:
    ((compose,),) = load_yaml(DEPLOY / "compose.yaml")
    services = compose["services"]
    assert {"redis", "postgres", "nginx"} <= set(services)
    hubs = {
        name: s
        for name, s in services.items()
        if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }
    assert len(hubs) >= 2
    for name, s in hubs.items():
        env = s["environment"]
        assert env["HUB_REDIS_URL"].startswith("redis://redis:")
        assert env["HUB_DATABASE_URL"].startswith("postgresql://")
        assert env["HUB_NODE_ID"] == name
        assert {"HUB_TOKEN_SECRET", "HUB_API_KEY"} <= set(env)
        assert s["stop_signal"] == "SIGTERM"
    mount = next(v for v in services["nginx"]["volumes"] if "hub.conf" in v)
    assert (DEPLOY / mount.split(":")[0]).resolve() == DEPLOY / "nginx" / "hub.conf"
    conf = (DEPLOY / "nginx" / "hub.conf").read_text()
    upstream_hosts = set(re.findall(r"^\s*server\s+([\w.-]+):8080", conf, re.M))
    assert upstream_hosts == set(hubs)


# -- nginx --------------------------------------------------------------------


def _nginx_conf(
    tmp: Path, upstream: str, listen: int, edit: Callable[[str], str] | None = None
) -> Path:
    conf = (DEPLOY / "nginx" / "hub.conf").read_text()
    if edit is not None:
        conf = edit(conf)
    conf = re.sub(r"server\s+hub\d+:8080", f"server {upstream}", conf)
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    conf = conf.replace("/var/log/nginx/", f"{tmp}/")
    (tmp / "hub.conf").write_text(conf)
    temp = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind}_temp;" for kind in ("client_body", "proxy")
    )
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n{temp}\n    include {tmp}/hub.conf;\n}}\n"
    )
    return main


needs_nginx = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (apt-get install nginx-light)",
)


def _nginx() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


@needs_nginx
def test_nginx_config_is_valid(tmp_path: Path) -> None:
    main = _nginx_conf(tmp_path, "127.0.0.1:8080", free_port())
    out = subprocess.run(
        [_nginx(), "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr


@contextlib.contextmanager
def running_nginx(
    conf_dir: Path, upstream: str, edit: Callable[[str], str] | None = None
) -> Iterator[tuple[int, Path]]:
    port = free_port()
    conf_dir.mkdir()
    main = _nginx_conf(conf_dir, upstream, port, edit)
    proc = subprocess.Popen(
        [_nginx(), "-p", str(conf_dir), "-c", str(main), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                _, err = proc.communicate()
                pytest.fail(f"nginx did not start: {err.decode(errors='replace')}")
            time.sleep(0.02)
    try:
        yield port, conf_dir / "tongzhi.access.log"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.fixture
def nginx_in_front(tmp_path: Path, hub: InProcessHub) -> Iterator[tuple[int, Path]]:
    with running_nginx(tmp_path / "nginx", f"127.0.0.1:{hub.port}") as got:
        yield got


@needs_nginx
async def test_nginx_proxies_api_and_websocket(
    hub: InProcessHub, nginx_in_front: tuple[int, Path]
) -> None:
    port, access_log = nginx_in_front
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as s:
        # Plain requests first, so nginx holds a keep-alive connection to the hub...
        for path in ("/healthz", "/readyz", "/healthz"):
            async with s.get(base + path) as r:
                assert r.status == 200, await r.text()
        async with s.get(base + "/metrics") as r:  # 127.0.0.1 is allowed
            assert r.status == 200 and "hub_connections" in await r.text()
    # ...and the upgrade must still reach the hub as the first request of a new one.
    token = hub.token("m1")
    for url, headers in (
        (f"ws://127.0.0.1:{port}/ws?token={token}", {}),
        (f"ws://127.0.0.1:{port}/ws", {"Authorization": f"Bearer {token}"}),
    ):
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"id": 1, "op": "ping"}))
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["push"] == "connect" and first["member"] == "m1"  # upgrade token
            reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert reply == {"id": 1, "ok": True}
    await wait_until(lambda: access_log.exists() and "/ws" in access_log.read_text(), 5)
    logged = access_log.read_text()
    assert 'GET /ws HTTP/1.1" 101' in logged
    assert token not in logged and "token=" not in logged


PLACEHOLDER = "/callbacks/CHANGE-ME-to-HUB_CALLBACK_PREFIX-secret"
SECRET_PREFIX = "/callbacks/Qm7-nginx-test-secret-0b5e"


@needs_nginx
async def test_nginx_exposes_callbacks_only_under_the_secret_prefix(tmp_path: Path) -> None:
    from channels.app import DomainExtension
    from tests.support.hubs import hub_settings, running_hub

    env = {
        "HUB_ALIYUN_SMS_ACCESS_KEY_ID": "LTAIexample",
        "HUB_ALIYUN_SMS_ACCESS_KEY_SECRET": "example-secret-value",
        "HUB_ALIYUN_SMS_SIGN_NAME": "通知测试",
        "HUB_ALIYUN_SMS_TEMPLATE_CODE": "SMS_100000001",
        "HUB_CALLBACK_PREFIX": SECRET_PREFIX,
        "HUB_CALLBACK_ALLOW": "127.0.0.1/32",
        "HUB_CALLBACK_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    ext = DomainExtension(hub_settings(tmp_path / "d"), adapters_env=env, escalation_poll=None)
    uplink = [{"phone_number": "13900000003", "content": "1", "send_time": ""}]

    def filled_in(conf: str) -> str:  # what the operator does with the placeholders
        conf = conf.replace(PLACEHOLDER, SECRET_PREFIX)
        return conf.replace("allow 192.0.2.0/24;", "allow 127.0.0.1;")

    async with running_hub(tmp_path / "d", extensions=[ext]) as hub:
        upstream = f"127.0.0.1:{hub.port}"
        with running_nginx(tmp_path / "filled", upstream, filled_in) as (port, log):
            base = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as s:
                async with s.post(f"{base}{SECRET_PREFIX}/aliyun-sms/uplink", json=uplink) as r:
                    assert r.status == 200 and (await r.json())["code"] == 0
                # the well-known path and a wrong secret stop at nginx (its own HTML 404)
                for path in ("/callbacks/aliyun-sms/uplink", "/callbacks/guess/aliyun-sms/uplink"):
                    async with s.post(base + path, json=uplink) as r:
                        assert r.status == 404 and r.content_type == "text/html", path
            await wait_until(lambda: log.exists() and "(callback)" in log.read_text(), 5)
            assert "/callbacks" not in log.read_text()  # the secret path is not logged
        # as shipped, the placeholder location admits only the placeholder networks
        with running_nginx(tmp_path / "shipped", upstream) as (port, _):
            url = f"http://127.0.0.1:{port}{PLACEHOLDER}/aliyun-sms/uplink"
            async with aiohttp.ClientSession() as s, s.post(url, json=uplink) as r:
                assert r.status == 403


# -- systemd --------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "tongzhi.service").read_text()
    for needed in (
        "KillSignal=SIGTERM",
        "TimeoutStopSec=",
        "Restart=on-failure",
        "EnvironmentFile=/etc/tongzhi/hub.env",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
    ):
        assert needed in unit, needed
    # verify checks that ExecStart exists: point it at this checkout's `hub`.
    hub_bin = Path(sys.executable).parent / "hub"
    if not hub_bin.exists():
        pytest.skip(f"{hub_bin} is missing: the project is not installed in this venv")
    assert "ExecStart=/opt/tongzhi/bin/hub serve" in unit
    (tmp_path / "tongzhi.service").write_text(unit.replace("/opt/tongzhi/bin/hub", str(hub_bin)))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "tongzhi.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "tongzhi.service" not in out.stderr, out.stderr  # no warning about our unit


# -- Dockerfile (read, not built: no Docker engine here) -------------------------------


def test_dockerfile_has_what_it_must() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert any(ln.startswith("FROM python:3.11-slim") for ln in lines)
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert "STOPSIGNAL SIGTERM" in lines
    assert any(ln.startswith("HEALTHCHECK") for ln in lines) and "/healthz" in text
    assert lines[-1] == 'CMD ["hub", "serve", "--host", "0.0.0.0"]'
    for ln in lines:
        if ln.startswith("COPY ") and "--from" not in ln:
            for src in ln.split()[1:-1]:
                assert (ROOT / src).exists(), src
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert "**" in ignore and "!pyproject.toml" in ignore and "!hub/**" in ignore


# -- system dependencies --------------------------------------------------------


def test_system_deps_install_a_cjk_font_with_chromium() -> None:
    """Chromium without a CJK font renders every Chinese character as a box."""
    script = (DEPLOY / "scripts" / "system-deps.sh").read_text()
    assert "chromium" in script
    assert "fonts-noto-cjk" in script and "fc-list :lang=zh" in script
    # the image renders nothing itself (no browser in it): it needs no font; if a
    # browser is ever added there, its font must come with it
    docker = (DEPLOY / "Dockerfile").read_text()
    if "chromium" in docker:
        assert "fonts-noto-cjk" in docker


def test_system_deps_script_leaves_a_cjk_font_installed() -> None:
    if shutil.which("fc-list") is None:
        pytest.fail("fc-list is missing: run `make system-deps` (installs fontconfig)")
    out = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip(), (
        "no CJK font: run `make system-deps` (installs fonts-noto-cjk)"
    )


# -- docs/operations.md ---------------------------------------------------------


def test_operations_doc_covers_settings_and_metrics() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    for f in dataclasses.fields(Settings):
        if not f.metadata.get("internal"):
            assert f"HUB_{f.name.upper()}" in doc, f.name
    api = (ROOT / "hub" / "server" / "api.py").read_text()
    for metric in set(re.findall(r'"(hub_[a-z_]+)"', api)):
        assert metric in doc, metric
    for endpoint in ("/healthz", "/readyz", "/metrics", "4012", "pg_dump", ".backup"):
        assert endpoint in doc, endpoint
