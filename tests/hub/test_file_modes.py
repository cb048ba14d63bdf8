"""What `hub serve` keeps on disk is private to its user: every directory under
HUB_DATA_DIR 0700, every file 0600 (the SQLite database, its -wal and -shm, the
development secrets, run locks), whatever the umask; a data directory an older
version left readable is restricted at start."""

from __future__ import annotations

import json
import os
import stat
import urllib.request
from pathlib import Path

from tests.support.hubs import HubProcess


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            found[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return found


def publish(p: HubProcess, api_key: str) -> None:
    req = urllib.request.Request(
        p.http_url + "/api/publish",
        data=json.dumps({"channel": "member:m1", "data": {"phone": "13800138000"}}).encode(),
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def assert_private(root: Path) -> dict[str, int]:
    found = modes(root)
    loose = {
        name: oct(mode)
        for name, mode in found.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not loose, loose
    return found


def test_data_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = os.umask(0o022)  # the usual umask: files 0644 unless the hub says otherwise
    try:
        # development mode: the dev secrets are files too
        p = HubProcess(data, env={"HUB_TOKEN_SECRET": "", "HUB_API_KEY": ""})
        p.start()
    finally:
        os.umask(old)
    try:
        publish(p, (data / "dev-api-key").read_text().strip())
        found = assert_private(data)
        for name in ("hub.db", "hub.db-wal", "hub.db-shm", "dev-api-key", "dev-token-secret"):
            assert name in found, sorted(found)
        assert any(name.endswith(".lock") for name in found), sorted(found)
    finally:
        assert p.stop() == 0, p.log()
    assert_private(data)


def test_a_readable_data_dir_of_an_older_version_is_restricted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = HubProcess(data)
    first.start()
    publish(first, first.api_key)
    assert first.stop() == 0
    # as an older version left it: everything readable by everyone
    for name in modes(data):
        path = data / name
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    second = HubProcess(data, secret=first.secret, api_key=first.api_key)
    second.start()
    try:
        publish(second, second.api_key)
        assert_private(data)
        assert "Traceback" not in second.log()
    finally:
        assert second.stop() == 0, second.log()
