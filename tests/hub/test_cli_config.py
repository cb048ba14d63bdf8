"""The `hub` command and its settings: flags, environment, TOML file, dev secrets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jwt
import pytest

from hub.auth import TokenVerifier, dev_secret
from hub.config import ConfigError, Settings, load_settings


def hub(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    full = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "channels.cli", *args],
        capture_output=True, text=True, timeout=60, env=full, cwd=cwd, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_serve_help_documents_every_setting() -> None:
    out = hub("serve", "--help").stdout
    import dataclasses

    for f in dataclasses.fields(Settings):
        if f.metadata.get("internal"):
            continue
        assert "--" + f.name.replace("_", "-") in out, f.name
        assert "HUB_" + f.name.upper() in out, f.name


def test_precedence_default_file_env_flag(tmp_path: Path) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text('port = 9001\nhost = "0.0.0.0"\nhistory_size = 50\nwecom_corp_id = "x"\n')
    env = {"HUB_CONFIG": str(cfg), "HUB_PORT": "9002"}
    s = load_settings(None, env)
    assert (s.port, s.host, s.history_size) == (9002, "0.0.0.0", 50)  # env beats file
    assert s.file_values["wecom_corp_id"] == "x"  # other layers read their keys from it
    import argparse

    s = load_settings(argparse.Namespace(port="9003", config=None), env)
    assert s.port == 9003  # the flag beats both
    assert load_settings(None, {}).port == 8080


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HUB_PORT": "eighty"}, "HUB_PORT"),
        ({"HUB_PORT": "70000"}, "HUB_PORT"),
        ({"HUB_PORT": "８０８０"}, "HUB_PORT"),  # full-width digits: int() takes them
        ({"HUB_PORT": "8_080"}, "HUB_PORT"),
        ({"HUB_HISTORY_SIZE": "١٠٠"}, "HUB_HISTORY_SIZE"),  # Arabic-Indic digits
        ({"HUB_PING_INTERVAL": "２５"}, "HUB_PING_INTERVAL"),
        ({"HUB_PING_INTERVAL": "nan"}, "HUB_PING_INTERVAL"),
        ({"HUB_RATE_LIMIT": "0"}, "HUB_RATE_LIMIT"),
        ({"HUB_JOIN_LEAVE": "perhaps"}, "HUB_JOIN_LEAVE"),
        ({"HUB_DATABASE_URL": "mysql://x"}, "HUB_DATABASE_URL"),
        ({"HUB_LOG_LEVEL": "LOUD"}, "HUB_LOG_LEVEL"),
        ({"HUB_CONFIG": "/nonexistent/hub.toml"}, "config file"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, env)


def test_bad_setting_exits_2_with_a_message(tmp_path: Path) -> None:
    r = hub("serve", "--port", "eighty", env={"HUB_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2
    assert "configuration error: HUB_PORT" in r.stderr and "Traceback" not in r.stderr


def test_ascii_numbers_are_still_read() -> None:
    s = load_settings(
        None, {"HUB_PORT": " 9004 ", "HUB_PING_INTERVAL": "2.5", "HUB_RATE_BURST": "3"}
    )
    assert (s.port, s.ping_interval, s.rate_burst) == (9004, 2.5, 3)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--port", "８０８０"], {}, "configuration error: HUB_PORT"),
        ([], {"HUB_REDIS_URL": "redis://127.0.0.1:６３７９"}, "HUB_REDIS_URL: port"),
        ([], {"HUB_REDIS_URL": "redis://127.0.0.1:6379/x"}, "HUB_REDIS_URL: db"),
    ],
)
def test_non_ascii_numbers_exit_2_through_the_hub_script(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    import os

    script = Path(sys.executable).parent / "hub"
    full = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    full.update({"HUB_DATA_DIR": str(tmp_path), "HUB_PORT": "0", "HUB_WORKERS": "1", **env})
    r = subprocess.run(
        [str(script), "serve", *args],
        capture_output=True, text=True, timeout=60, env=full, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_token_command_uses_the_dev_secret(tmp_path: Path) -> None:
    r = hub("token", "m-1", "--grant-publish", "chat:x", "--ttl", "60",
            env={"HUB_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    secret, created = dev_secret(str(tmp_path), "dev-token-secret")
    assert not created  # the command made it; the server will read the same one
    identity = TokenVerifier(secret).verify(r.stdout.strip())
    assert identity.member == "m-1" and identity.grants == {"chat:x": True}
    claims = jwt.decode(r.stdout.strip(), secret, algorithms=["HS256"])
    assert 0 < claims["exp"] - __import__("time").time() <= 60
    r = hub("token", "bad id", env={"HUB_DATA_DIR": str(tmp_path)})
    assert r.returncode == 2 and "not a valid member id" in r.stderr
    assert "Traceback" not in r.stderr


def test_redacted_settings_hide_secrets() -> None:
    s = load_settings(None, {"HUB_TOKEN_SECRET": "s" * 40, "HUB_API_KEY": "k" * 20})
    red = s.redacted()
    assert red["token_secret"] == "***" and red["api_key"] == "***" and red["port"] == 8080


HUB_BIN = Path(sys.executable).parent / "hub"


@pytest.mark.parametrize(
    ("command", "namespaces", "named"),
    [
        ([str(HUB_BIN)], "member", "'member'"),
        ([str(HUB_BIN)], "chat,notice", "'notice'"),
        ([str(HUB_BIN)], "group, unit", "'group'"),
        ([sys.executable, "-m", "hub.cli"], "member", "'member'"),  # the engine alone
        ([str(HUB_BIN)], "Chat", "'Chat'"),  # not a namespace at all
    ],
)
def test_serve_refuses_reserved_or_bad_namespaces(
    tmp_path: Path, command: list[str], namespaces: str, named: str
) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update({"HUB_NAMESPACES": namespaces, "HUB_DATA_DIR": str(tmp_path / "d"), "HUB_PORT": "0"})
    r = subprocess.run(
        [*command, "serve"],
        capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "hub ready" not in r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("hub: configuration error")]
    assert len(errors) == 1 and "HUB_NAMESPACES" in errors[0] and named in errors[0], r.stderr
