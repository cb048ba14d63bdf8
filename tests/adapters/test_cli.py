"""``adapters check`` / ``adapters send``: sandbox, environment, config file, exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from adapters.cli import add_commands, main


def test_check_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--sandbox"]) == 0
    out = capsys.readouterr().out
    for name in ("aliyun-sms", "tencent-sms", "wecom", "wecom-bot", "wechat"):
        assert f"{name:<12} OK" in out


def test_send_sandbox_prints_the_message_id(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["send", "sms", "--to", "13800000000", "--text", "x", "--param", "code=1234", "--sandbox"]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "accepted by aliyun-sms: message id " in out
    assert '"Code":"OK"' in out


def test_send_refused_prints_typed_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["send", "tencent-sms", "--to", "123", "--text", "x", "--sandbox"])
    out = capsys.readouterr().out
    assert code == 1
    assert "refused: ValidationError provider=tencent-sms code=invalid_phone_number" in out


def test_check_without_configuration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    assert main(["check"]) == 1
    assert "no provider is configured" in capsys.readouterr().out


def test_config_errors_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("HUB_WECOM_CORP_ID", "ww1")
    assert main(["check"]) == 2
    assert "missing HUB_WECOM_CORP_SECRET" in capsys.readouterr().out
    monkeypatch.delenv("HUB_WECOM_CORP_ID")
    bad = tmp_path / "bad.toml"
    bad.write_text("wecom_corp_id = ")
    assert main(["check", "--config", str(bad)]) == 2
    assert "not valid TOML" in capsys.readouterr().out
    assert main(["send", "wecom", "--to", "a", "--text", "x"]) == 2
    assert "wecom is not configured" in capsys.readouterr().out


def test_check_reports_unreachable_provider_from_config_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    config = tmp_path / "hub.toml"
    config.write_text(
        'wecom_corp_id = "ww1"\nwecom_corp_secret = "s"\nwecom_agent_id = 1\n'
        'wecom_endpoint = "http://127.0.0.1:9"\n'
    )
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "wecom        FAILED  gettoken failed: TransportError" in out
    assert "aliyun-sms   not configured" in out


def test_add_commands_plugs_into_a_parent_cli() -> None:
    parser = argparse.ArgumentParser(prog="hub")
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["adapters", "send", "wecom", "--to", "u", "--text", "t", "--param", "a=b", "--sandbox"]
    )
    assert callable(args.func) and args.param == ["a=b"] and args.sandbox
    args = parser.parse_args(["adapters", "check", "--config", "x.toml"])
    assert args.func.__name__ == "run_check"
