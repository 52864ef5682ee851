"""docs/production.md and deploy/ stay true to the code: the alert rules load and name real
metrics (and pass promtool where it is installed), the systemd units run real commands with
the stop behaviour the guide describes, the example environment names real settings, and
the guide documents every metric and every log event the code has."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

import backbeat
from backbeat.cli import app
from backbeat.config import Settings

ROOT = Path(backbeat.__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "production.md"
RULES = ROOT / "deploy" / "prometheus" / "backbeat-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "backbeat-alerts.test.yml"
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = UNITS / "backbeat.env.example"

METRIC_SOURCES = [
    ROOT / "backbeat" / "ops" / "metrics.py",
    ROOT / "backbeat" / "api" / "routes" / "metrics.py",
]
EXTERNAL_METRICS = {"up", "probe_success"}  # Prometheus's own, and the blackbox exporter's
SEVERITIES = {"warning", "critical"}
DURATION = re.compile(r"^\d+[smhd]$")
SETTING = re.compile(r"\bBACKBEAT_[A-Z0-9_]*[A-Z0-9]\b")
COMMANDS: dict[str, Any] = typer.main.get_command(app).commands  # type: ignore[attr-defined]


def _metric_names() -> set[str]:
    """Every metric the code exports, by the name queries use."""
    names: set[str] = set()
    for source in METRIC_SOURCES:
        names |= set(re.findall(r'"(backbeat_[a-z_]+)"', source.read_text()))
    assert "backbeat_runs_created_total" in names
    assert "backbeat_runs_queued" in names
    return names


def _queried(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (a histogram through its series)."""
    found = set(re.findall(r"\bbackbeat_[a-z_]+\b", expr))
    found |= set(re.findall(r"\b(up|probe_success)\s*\{", expr))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in found}


def _settings() -> set[str]:
    """Every BACKBEAT_* variable: the settings, and the CLI's own (BACKBEAT_SERVE_SCHEDULER)."""
    names = {f"BACKBEAT_{name.upper()}" for name in Settings.model_fields}
    for command in COMMANDS.values():
        for param in command.params:
            envvars = [param.envvar] if isinstance(param.envvar, str) else param.envvar or []
            names |= {name for name in envvars if name.startswith("BACKBEAT_")}
    return names


def _balanced(text: str) -> bool:
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"[^"]*"', '""', text):  # label values may hold anything
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


# --- Alert rules -----------------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert isinstance(document, dict)
    assert list(document) == ["groups"]
    rules: list[dict[str, Any]] = []
    for group in document["groups"]:
        assert set(group) == {"name", "rules"}
        rules.extend(group["rules"])
    return rules


def test_the_alert_rules_load_and_read_real_metrics() -> None:
    rules = _rules()
    known = _metric_names() | EXTERNAL_METRICS
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"].startswith("Backbeat"), rule["alert"]
        expr = rule["expr"]
        assert isinstance(expr, str), rule
        assert expr.strip(), rule
        assert _balanced(expr), f"{rule['alert']}: unbalanced brackets in {expr}"
        queried = _queried(expr)
        assert queried, f"{rule['alert']} reads no metric"
        assert queried <= known, f"{rule['alert']} reads unknown metrics {queried - known}"
        for window in re.findall(r"\[([^\]]+)\]", expr):
            assert DURATION.match(window), f"{rule['alert']}: range [{window}]"
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]
        # Counters are only ever read through rate() or increase().
        for name in queried:
            if name.endswith("_total") or name == "backbeat_fire_lag_seconds":
                assert re.search(rf"(rate|increase)\(\s*{name}", expr), (rule["alert"], name)
        # The queue gauges are the same on every host: max(), never sum().
        if "backbeat_runs_" in expr and "_total" not in expr:
            assert "sum(" not in expr, rule["alert"]


def test_the_alerts_the_guide_promises_exist() -> None:
    names = {rule["alert"] for rule in _rules()}
    guide = GUIDE.read_text()
    for name in names:
        assert f"`{name}`" in guide, f"docs/production.md does not describe {name}"
    required = {
        "BackbeatFireLagHigh": "backbeat_fire_lag_seconds",
        "BackbeatQueuedRunWaiting": "backbeat_runs_oldest_queued_age_seconds",
        "BackbeatRunFailureRateHigh": "backbeat_runs_finished_total",
        "BackbeatSchedulerStopped": "backbeat_scheduler_ticks_total",
        "BackbeatLeaseTakeoversSpiking": "backbeat_lease_takeovers_total",
        "BackbeatNotReady": "probe_success",
    }
    by_name = {rule["alert"]: rule for rule in _rules()}
    for alert, metric in required.items():
        assert metric in by_name[alert]["expr"], alert


def test_promtool_accepts_the_rules_and_their_tests_when_installed() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())
    assert tests["rule_files"] == [RULES.name]
    tested = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"]}
    assert tested <= {rule["alert"] for rule in _rules()}
    promtool = shutil.which("promtool")
    if promtool is None:
        return  # CI has no Prometheus; the checks above still ran
    for args in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run(
            [promtool, *args], capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


# --- systemd units ----------------------------------------------------------------------------


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and keys (a key may repeat, as systemd allows)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{name}: {line!r} outside a section"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", value)
    assert match, value
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


@pytest.mark.parametrize(
    ("unit", "command"),
    [
        ("backbeat-api@.service", "serve --no-scheduler --no-worker --port %i"),
        ("backbeat-scheduler@.service", "scheduler"),
        ("backbeat-worker@.service", "worker"),
    ],
)
def test_the_process_units(unit: str, command: str) -> None:
    sections = _unit(unit)
    service = sections["Service"]
    [exec_start] = service["ExecStart"]
    assert exec_start == f"/opt/backbeat/current/.venv/bin/backbeat {command}"
    assert command.split()[0] in COMMANDS
    assert service["EnvironmentFile"] == ["/etc/backbeat/backbeat.env"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["User"] == ["backbeat"]
    assert service["RuntimeDirectory"] == ["backbeat"]  # holds BACKBEAT_METRICS_DIR
    assert service["RuntimeDirectoryPreserve"] == ["yes"]
    stop = _seconds(service["TimeoutStopSec"][0])
    grace = Settings.model_fields["shutdown_grace_seconds"].default
    if command == "worker":  # the drain, then handing runs back, before systemd's SIGKILL
        assert stop >= grace + 30, f"TimeoutStopSec {stop} too close to the grace {grace}"
    else:
        assert stop > 0
    assert "backbeat-migrate.service" in " ".join(sections["Unit"]["After"])
    assert "Wants" not in sections["Unit"] or "migrate" not in " ".join(sections["Unit"]["Wants"])
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_the_migrate_unit() -> None:
    service = _unit("backbeat-migrate.service")["Service"]
    assert service["Type"] == ["oneshot"]
    assert service["ExecStart"] == ["/opt/backbeat/current/.venv/bin/backbeat migrate"]
    assert "migrate" in COMMANDS
    assert service["EnvironmentFile"] == ["/etc/backbeat/backbeat.env"]
    assert "Restart" not in service


def test_the_example_environment_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values: dict[str, str] = {}
    for raw in ENV_EXAMPLE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        assert key in _settings(), f"{key} is not a setting"
        values[key] = value
    commented = set(SETTING.findall(ENV_EXAMPLE.read_text()))
    assert commented <= _settings(), commented - _settings()
    for key in list(os.environ):
        if key.startswith("BACKBEAT_"):
            monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert not settings.is_sqlite
    assert settings.log_format == "json"
    assert str(settings.metrics_dir) == "/run/backbeat/metrics"


# --- The guide ---------------------------------------------------------------------------------


def test_the_guide_documents_every_metric() -> None:
    guide = GUIDE.read_text()
    table = guide[guide.index("### Reference") : guide.index("## Alerts")]
    documented = set(re.findall(r"^\| `(backbeat_[a-z_]+)`", table, re.MULTILINE))
    assert documented == _metric_names()
    mentioned = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for name in re.findall(r"\bbackbeat_[a-z_]+\b", guide)
    }
    assert mentioned <= _metric_names(), mentioned - _metric_names()


def test_the_guide_documents_every_log_event() -> None:
    guide = GUIDE.read_text()
    table = guide[guide.index("| event | level | meaning |") : guide.index("Lines from libraries")]
    documented = set(re.findall(r"`([a-z_]+\.[a-z_.]+)`", table))
    events: set[str] = set()
    for source in (ROOT / "backbeat").rglob("*.py"):
        events |= set(re.findall(r'"event":\s*"([a-z_.]+)"', source.read_text()))
    worker = (ROOT / "backbeat" / "services" / "worker.py").read_text()
    events |= set(re.findall(r'RunStatus\.[A-Z_]+:\s*"(run\.[a-z_]+)"', worker))
    events.add("http.access")
    assert events, "no events found"
    assert events <= documented, f"not in docs/production.md: {sorted(events - documented)}"
    assert documented <= events, f"documented but never logged: {sorted(documented - events)}"


def test_the_guide_names_real_settings_and_files() -> None:
    guide = GUIDE.read_text()
    named = set(SETTING.findall(guide))
    assert named <= _settings(), f"not settings: {sorted(named - _settings())}"
    for link in re.findall(r"\]\(\.\./([^)#]+)\)", guide):
        assert (ROOT / link).exists(), link
    readme = (ROOT / "README.md").read_text()
    assert "](docs/production.md)" in readme
