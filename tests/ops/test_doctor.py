"""`backbeat doctor` against a healthy setup (PostgreSQL migrated, a secret, the fake model
server for every provider, an SMTP relay with a login), then against each broken dependency
in turn: every time, the line that names what to fix, and the exit status.

In-process through Typer's runner, and once as a real `backbeat` process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backbeat.cli import app
from backbeat.config import Settings
from backbeat.ops import doctor as checkup
from backbeat.store.engine import make_engine
from backbeat.store.migrate import upgrade
from backbeat.testing.fake_models import ErrorReply, FakeModelServer, Reply
from tests.conftest import SECRET
from tests.databases import postgres_database
from tests.processes import clean_env, free_port
from tests.tools.helpers import LocalSmtpServer, authenticator

# The test relay wants AUTH over plain TCP, which aiosmtpd (rightly) warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

SMTP_USER = "backbeat-relay"
SMTP_PASSWORD = "Sm7p-pa55word-never-shown"
ANTHROPIC_KEY = "sk-ant-doctor-test-key-0123456789"
OPENAI_KEY = "sk-doctor-openai-test-key-0123456789"
COMPATIBLE_KEY = "gateway-key-never-shown-42"
SECRETS = (SECRET, ANTHROPIC_KEY, OPENAI_KEY, COMPATIBLE_KEY, SMTP_PASSWORD)
CHECKS = [
    "settings",
    "database",
    "migrations",
    "secret",
    "anthropic",
    "openai",
    "compatible",
    "smtp",
    "clock",
    "max_connections",
]
CONSOLE_SCRIPT = str(Path(sys.executable).with_name("backbeat"))


@dataclass
class Report:
    exit_code: int
    checks: dict[str, tuple[str, str]]  # name -> (status, message)
    output: str

    def status(self, name: str) -> str:
        return self.checks[name][0]

    def message(self, name: str) -> str:
        return self.checks[name][1]

    @property
    def failing(self) -> list[str]:
        return [name for name, (status, _) in self.checks.items() if status == "fail"]


def unset_settings() -> dict[str, str | None]:
    """Every BACKBEAT_ setting unset: nothing comes from the developer's shell."""
    names = [f"BACKBEAT_{name.upper()}" for name in Settings.model_fields]
    names += [key for key in os.environ if key.startswith("BACKBEAT_")]
    return dict.fromkeys(names)


def doctor(env: dict[str, str | None]) -> Report:
    result = CliRunner().invoke(app, ["doctor", "--json"], env={**unset_settings(), **env})
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), result.exception
    output = result.stdout + result.stderr
    for secret in SECRETS:
        assert secret not in output
    body = json.loads(result.stdout)
    checks = {c["name"]: (c["status"], c["message"]) for c in body["checks"]}
    assert len(checks) == len(body["checks"]), "one line per check"
    assert body["ok"] is (result.exit_code == 0)
    return Report(result.exit_code, checks, output)


def broken(env: dict[str, str | None], **changes: str | None) -> Report:
    """Doctor on the healthy setup with these settings changed: it must fail."""
    report = doctor({**env, **{f"BACKBEAT_{k.upper()}": v for k, v in changes.items()}})
    assert report.exit_code == 1, report.output
    return report


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSmtpServer]:
    # The relay runs in this process: its own log lines would land in doctor's stderr.
    monkeypatch.setattr(logging.getLogger("mail.log"), "disabled", True)
    server = LocalSmtpServer(
        authenticator=authenticator(SMTP_USER, SMTP_PASSWORD),
        auth_require_tls=False,
        auth_required=True,
    )
    with server:
        yield server


def services(models: FakeModelServer, smtp: LocalSmtpServer) -> dict[str, str | None]:
    return {
        "BACKBEAT_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "BACKBEAT_ANTHROPIC_BASE_URL": models.url_anthropic,
        "BACKBEAT_OPENAI_API_KEY": OPENAI_KEY,
        "BACKBEAT_OPENAI_BASE_URL": models.url_openai,
        "BACKBEAT_COMPATIBLE_BASE_URL": models.url_openai,
        "BACKBEAT_COMPATIBLE_API_KEY": COMPATIBLE_KEY,
        "BACKBEAT_SMTP_HOST": "127.0.0.1",
        "BACKBEAT_SMTP_PORT": str(smtp.port),
        "BACKBEAT_SMTP_USERNAME": SMTP_USER,
        "BACKBEAT_SMTP_PASSWORD": SMTP_PASSWORD,
        "BACKBEAT_SMTP_STARTTLS": "false",
    }


@pytest.fixture
def healthy(
    pg_session_url: str, models: FakeModelServer, smtp: LocalSmtpServer
) -> dict[str, str | None]:
    """PostgreSQL migrated, the server secret set, every provider and SMTP answering."""
    return {
        "BACKBEAT_DATABASE_URL": pg_session_url,
        "BACKBEAT_SECRET_KEY": SECRET,
        **services(models, smtp),
    }


# Healthy


def test_a_healthy_setup_passes_every_check(
    healthy: dict[str, str | None], models: FakeModelServer, smtp: LocalSmtpServer
) -> None:
    report = doctor(healthy)
    assert report.exit_code == 0, report.output
    assert list(report.checks) == CHECKS
    assert {name: status for name, (status, _) in report.checks.items()} == dict.fromkeys(
        CHECKS, "ok"
    )
    assert report.message("migrations") == "at 0012_mcp_servers (head)"
    assert report.message("secret") == "BACKBEAT_SECRET_KEY is set"
    assert "answers (PostgreSQL " in report.message("database")
    assert report.message("smtp") == (
        f"127.0.0.1:{smtp.port} answered; the login as {SMTP_USER} succeeded (nothing was sent)"
    )
    assert smtp.handler.messages == []
    assert report.message("clock").startswith("within ")
    assert "Backbeat may need 3 processes" in report.message("max_connections")

    # One cheap request per provider: one output token, the default model where it routes.
    asked = sorted((r.api, r.model, r.path) for r in models.requests)
    assert asked == [
        ("anthropic", "claude-sonnet-4-6", "/v1/messages"),
        ("openai", "anthropic/claude-sonnet-4.6", "/v1/chat/completions"),
        ("openai", "gpt-4o-mini", "/v1/chat/completions"),
    ]
    for request in models.requests:
        budget = request.body.get("max_tokens", request.body.get("max_completion_tokens"))
        assert budget == 1
    keys = {r.headers.get("authorization") for r in models.requests}
    assert keys == {f"Bearer {key}" for key in (ANTHROPIC_KEY, OPENAI_KEY, COMPATIBLE_KEY)}


def test_the_text_output_is_one_line_per_check(healthy: dict[str, str | None]) -> None:
    result = CliRunner().invoke(app, ["doctor"], env={**unset_settings(), **healthy})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == CHECKS
    assert all(line.startswith("ok    ") for line in lines)
    assert result.stderr.strip() == "all good (10 checks)"


def test_a_healthy_sqlite_setup(
    sqlite_url: str, models: FakeModelServer, smtp: LocalSmtpServer
) -> None:
    report = doctor({"BACKBEAT_DATABASE_URL": sqlite_url, **services(models, smtp)})
    assert report.exit_code == 0, report.output
    assert report.status("database") == "ok"
    assert report.message("migrations") == "at 0012_mcp_servers (head)"
    assert report.checks["clock"] == ("skip", "not applicable on SQLite (one machine, one clock)")
    assert report.checks["max_connections"] == ("skip", "not applicable on SQLite")
    secret_file = sqlite_url.removeprefix("sqlite:///") + ".secret"
    assert report.message("secret") == f"generated in {secret_file} on first start"
    assert not Path(secret_file).exists()  # doctor creates nothing


def test_nothing_configured_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    report = doctor({"BACKBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"})
    assert report.exit_code == 0, report.output
    assert report.checks["database"] == (
        "ok",
        f"{tmp_path / 'new.db'} does not exist yet: backbeat serve creates and migrates it",
    )
    assert report.status("providers") == "warn"
    assert "BACKBEAT_ANTHROPIC_API_KEY" in report.message("providers")
    assert report.status("smtp") == "skip"
    assert report.message("smtp").startswith("not configured: set BACKBEAT_SMTP_HOST")
    assert not (tmp_path / "new.db").exists()


# Each broken dependency


def test_an_unreachable_database(healthy: dict[str, str | None]) -> None:
    port = free_port()
    report = broken(healthy, database_url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/x")
    assert report.failing == ["database"]
    message = report.message("database")
    assert message.startswith(f"cannot use postgresql+psycopg://postgres@127.0.0.1:{port}/x: ")
    assert "Connection refused" in message
    assert message.endswith(": check BACKBEAT_DATABASE_URL and that the server is running")
    for name in ("migrations", "clock", "max_connections"):
        assert report.checks[name] == ("skip", "not checked: the database did not answer")


def test_a_database_password_is_never_printed(healthy: dict[str, str | None]) -> None:
    url = f"postgresql+psycopg://postgres:Hunter2-db-pass@127.0.0.1:{free_port()}/x"
    report = broken(healthy, database_url=url)
    assert "Hunter2-db-pass" not in report.output
    assert "postgres:***@127.0.0.1" in report.message("database")


def test_an_unmigrated_database(healthy: dict[str, str | None]) -> None:
    with postgres_database("backbeat_doctor") as url:
        report = broken(healthy, database_url=url)
        assert report.failing == ["migrations"]
        assert (
            report.message("migrations")
            == "no schema yet, head is 0012_mcp_servers: run backbeat migrate"
        )

        engine = make_engine(url)
        upgrade(engine, "0002")
        engine.dispose()
        report = broken(healthy, database_url=url)
        assert report.failing == ["migrations"]
        assert (
            report.message("migrations")
            == "at 0002, head is 0012_mcp_servers: run backbeat migrate"
        )


def test_a_missing_secret_on_postgresql(healthy: dict[str, str | None]) -> None:
    report = broken(healthy, secret_key=None)
    assert report.failing == ["secret"]
    assert report.message("secret").startswith(
        "BACKBEAT_SECRET_KEY is not set: it is required with PostgreSQL (generate one with "
    )


def test_a_short_secret(healthy: dict[str, str | None]) -> None:
    report = broken(healthy, secret_key="too-short-secret")
    assert report.failing == ["secret"]
    assert "shorter than 32 characters" in report.message("secret")
    assert "too-short-secret" not in report.output


def test_a_provider_refusing_the_key(
    healthy: dict[str, str | None], models: FakeModelServer
) -> None:
    models.always(ErrorReply(401))
    report = broken(healthy)
    assert report.failing == ["anthropic", "openai", "compatible"]
    url = models.url
    assert report.message("anthropic") == (
        f"{url} refused the key (401): fix BACKBEAT_ANTHROPIC_API_KEY"
    )
    assert report.message("openai") == (
        f"{url}/v1 refused the key (401): fix BACKBEAT_OPENAI_API_KEY"
    )
    assert report.message("compatible") == (
        f"{url}/v1 refused the key (401): fix BACKBEAT_COMPATIBLE_API_KEY"
    )


def test_an_unreachable_provider(healthy: dict[str, str | None]) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    report = broken(healthy, anthropic_base_url=base)
    assert report.failing == ["anthropic"]
    assert report.message("anthropic") == (
        f"cannot reach {base} (Connection refused): fix BACKBEAT_ANTHROPIC_BASE_URL"
    )
    assert report.status("openai") == "ok"


def test_a_provider_that_does_not_serve_the_default_model(
    healthy: dict[str, str | None], models: FakeModelServer
) -> None:
    models.always(ErrorReply(404), model="claude-sonnet-4-6")
    report = broken(healthy)
    assert report.failing == ["anthropic"]
    assert report.message("anthropic") == (
        f"{models.url} does not serve the default model 'claude-sonnet-4-6': "
        "fix BACKBEAT_DEFAULT_MODEL"
    )


def test_the_default_model_going_to_a_local_server_is_a_warning(
    sqlite_url: str, models: FakeModelServer
) -> None:
    # Only a local OpenAI-compatible server: the default `anthropic/claude-sonnet-4.6` goes
    # there, and the server answers with its own model.
    models.script(Reply("OK", model="SmolLM2-135M-Instruct"))
    report = doctor(
        {"BACKBEAT_DATABASE_URL": sqlite_url, "BACKBEAT_COMPATIBLE_BASE_URL": models.url_openai}
    )
    assert report.exit_code == 0, report.output
    assert report.status("compatible") == "warn"
    message = report.message("compatible")
    assert message.startswith(
        f"{models.url}/v1 answered a 1-token request for anthropic/claude-sonnet-4.6 "
        "(as SmolLM2-135M-Instruct) in "
    )
    assert "but the default model 'anthropic/claude-sonnet-4.6' names Anthropic" in message
    assert "BACKBEAT_ANTHROPIC_API_KEY" in message
    assert "compatible:NAME" in message
    [asked] = models.requests
    assert asked.model == "anthropic/claude-sonnet-4.6"


def test_the_endpoints_own_model_as_the_default_is_no_warning(
    sqlite_url: str, models: FakeModelServer
) -> None:
    report = doctor(
        {
            "BACKBEAT_DATABASE_URL": sqlite_url,
            "BACKBEAT_COMPATIBLE_BASE_URL": models.url_openai,
            "BACKBEAT_DEFAULT_MODEL": "compatible:smollm2",
        }
    )
    assert report.checks["compatible"][0] == "ok", report.output
    assert [r.model for r in models.requests] == ["smollm2"]


def test_a_rate_limited_provider_is_a_warning(
    healthy: dict[str, str | None], models: FakeModelServer
) -> None:
    models.always(ErrorReply(429, retry_after=1), model="gpt-4o-mini")
    report = doctor(healthy)
    assert report.exit_code == 0, report.output
    assert report.checks["openai"] == (
        "warn",
        f"{models.url}/v1 accepted the key but is rate limiting it now (429): runs retry",
    )


def test_an_unreachable_smtp_server(healthy: dict[str, str | None]) -> None:
    port = free_port()
    report = broken(healthy, smtp_port=str(port))
    assert report.failing == ["smtp"]
    assert report.message("smtp") == (
        f"cannot reach 127.0.0.1:{port} (Connection refused): "
        "fix BACKBEAT_SMTP_HOST and BACKBEAT_SMTP_PORT"
    )


def test_an_smtp_login_refused(healthy: dict[str, str | None], smtp: LocalSmtpServer) -> None:
    wrong = "wrong-" + SMTP_PASSWORD
    report = broken(healthy, smtp_password=wrong)
    assert report.failing == ["smtp"]
    message = report.message("smtp")
    assert message.startswith(f"127.0.0.1:{smtp.port} refused the login as {SMTP_USER} (535 ")
    assert message.endswith("): fix BACKBEAT_SMTP_USERNAME and BACKBEAT_SMTP_PASSWORD")
    assert wrong not in report.output
    assert smtp.handler.messages == []


def test_a_short_smtp_password_does_not_mangle_the_other_lines(
    healthy: dict[str, str | None], smtp: LocalSmtpServer
) -> None:
    # "wrong" is also a word of the clock line: only what the server says is scrubbed.
    report = broken(healthy, smtp_password="wrong", clock_start="2020-01-01T00:00:00Z")
    assert report.failing == ["smtp", "clock"]
    assert "fires at the wrong time" in report.message("clock")
    assert report.message("smtp").startswith(f"127.0.0.1:{smtp.port} refused the login as ")


def test_an_smtp_server_without_starttls(healthy: dict[str, str | None]) -> None:
    report = broken(healthy, smtp_starttls="true")
    assert report.failing == ["smtp"]
    assert "does not offer STARTTLS: set BACKBEAT_SMTP_STARTTLS=false" in report.message("smtp")


def test_a_skewed_clock(healthy: dict[str, str | None]) -> None:
    report = broken(healthy, clock_start="2020-01-01T00:00:00Z")
    assert report.failing == ["clock"]
    message = report.message("clock")
    assert message.startswith("this process's clock is ")
    assert " d " in message
    assert "behind the database's" in message
    assert message.endswith(": unset BACKBEAT_CLOCK_START (for demos and tests only)")


def test_too_few_postgresql_connections(healthy: dict[str, str | None]) -> None:
    report = broken(healthy, expected_processes="1000")
    assert report.failing == ["max_connections"]
    message = report.message("max_connections")
    assert message.startswith("PostgreSQL allows ")
    assert "1000 processes (BACKBEAT_EXPECTED_PROCESSES) × 10" in message
    assert "= 10000" in message
    assert "raise max_connections" in message


def test_a_setting_that_does_not_parse(tmp_path: Path) -> None:
    report = doctor(
        {"BACKBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "BACKBEAT_PORT": "eighty"}
    )
    assert report.exit_code == 1
    assert report.failing == ["settings"]
    assert report.message("settings").startswith("BACKBEAT_PORT: ")
    assert "eighty" not in report.message("settings")


# As a real process


def run_doctor(env: dict[str, str | None], *args: str) -> subprocess.CompletedProcess[str]:
    environment = clean_env(**{k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [CONSOLE_SCRIPT, "doctor", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_command(healthy: dict[str, str | None]) -> None:
    done = run_doctor(healthy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[:2] for line in done.stdout.splitlines()] == [
        ["ok", name] for name in CHECKS
    ]
    assert done.stderr.strip() == "all good (10 checks)"
    for secret in SECRETS:
        assert secret not in done.stdout + done.stderr


def test_the_text_output_of_a_failing_run(healthy: dict[str, str | None]) -> None:
    port = free_port()
    env = {**unset_settings(), **healthy, "BACKBEAT_SMTP_PORT": str(port)}
    result = CliRunner().invoke(app, ["doctor"], env=env)
    assert result.exit_code == 1
    smtp_line = next(line for line in result.stdout.splitlines() if line.split()[1] == "smtp")
    assert smtp_line == (
        f"FAIL  smtp            cannot reach 127.0.0.1:{port} (Connection refused): "
        "fix BACKBEAT_SMTP_HOST and BACKBEAT_SMTP_PORT"
    )
    assert result.stderr.strip() == "1 failed, 0 warnings (10 checks): fix the FAIL lines"


# The checks' judgements, without the services


def pg_settings(**values: Any) -> Settings:
    return Settings(database_url="postgresql+psycopg://postgres@db.example/backbeat", **values)


def facts(**values: Any) -> checkup.DatabaseFacts:
    return checkup.DatabaseFacts(server="PostgreSQL 16.4", revision="0003", **values)


def test_clock_skew_thresholds() -> None:
    def clock(seconds: float) -> tuple[str, str]:
        check = checkup.check_clock(pg_settings(), facts(skew=timedelta(seconds=seconds)))
        return check.status, check.message

    assert clock(0.004) == ("ok", "within 4 ms of the database's")
    assert clock(3) == (
        "warn",
        "this machine's clock is 3.0 s ahead of the database's: synchronise this machine's "
        "clock (NTP), or the database server's",
    )
    status, message = clock(-95)
    assert status == "fail"
    assert message.startswith("this machine's clock is 1 min 35 s behind the database's: ")
    # A slow round trip is not counted as skew.
    slow = facts(skew=timedelta(seconds=1.2), uncertainty=timedelta(seconds=0.5))
    assert checkup.check_clock(pg_settings(), slow).status == "ok"


def test_max_connections_thresholds() -> None:
    def connections(processes: int) -> str:
        settings = pg_settings(expected_processes=processes, db_pool_size=5)
        found = facts(max_connections=100, reserved_connections=3, open_connections=7)
        return checkup.check_connections(settings, found).status

    assert connections(7) == "ok"  # 70 of 97
    assert connections(8) == "warn"  # 80 of 97: close to the limit
    assert connections(10) == "fail"  # 100 of 97


def test_what_readyz_may_say_about_a_database_error() -> None:
    problem = checkup.database_problem
    assert problem(OSError("connection to server failed: Connection refused")) == (
        "not answering: connection refused"
    )
    assert problem(OSError('FATAL:  password authentication failed for user "x"')) == (
        "not answering: the login was refused"
    )
    assert problem(OSError("FATAL:  sorry, too many clients already")) == (
        "not answering: too many connections"
    )
    assert problem(OSError("failed to resolve host 'db.internal'")) == (
        "not answering: host not found"
    )
    assert problem(RuntimeError("db.internal:5432 something odd")) == (
        "not answering: RuntimeError"
    )


def test_urls_are_shown_without_passwords() -> None:
    assert checkup.redacted_url("postgresql+psycopg://app:s3cret@db/x") == (
        "postgresql+psycopg://app:***@db/x"
    )
    assert checkup.redacted_url("https://user:s3cret@gateway.example/v1") == (
        "https://user:***@gateway.example/v1"
    )
    assert checkup.redacted_url("http://127.0.0.1:11434/v1") == "http://127.0.0.1:11434/v1"


def test_sqlite_secret_files(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    secret_file = tmp_path / "b.db.secret"
    secret_file.write_text("file-secret-" + "y" * 40)
    secret_file.chmod(0o644)
    check = checkup.check_secret(Settings(database_url=url))
    assert check == checkup.Check(
        "secret", "warn", f"{secret_file} is readable by others: chmod 600 {secret_file}"
    )
    secret_file.chmod(0o600)
    assert checkup.check_secret(Settings(database_url=url)).status == "ok"
    other = checkup.check_secret(Settings(database_url=url, secret_key=SECRET))
    assert other.status == "warn"
    assert other.message.startswith(f"BACKBEAT_SECRET_KEY differs from the secret in {secret_file}")
