"""Alerts to flowing members: an escalation ladder through WeChat and SMS,
durable (due times stored, leases), with quiet hours, a daily SMS cap, and the
providers' reports and SMS replies recorded against the receipt."""

from __future__ import annotations

from channels.alerts.api import AlertsApi
from channels.alerts.callbacks import CallbackSink
from channels.alerts.delivery import Outbox
from channels.alerts.prefs import Quiet
from channels.alerts.scheduler import Escalator

__all__ = ["AlertsApi", "CallbackSink", "Escalator", "Outbox", "Quiet"]
