"""One Settings object; every field is also an environment variable `BACKBEAT_<NAME>`."""

from __future__ import annotations

import os
import secrets
import stat
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///backbeat.db"


class ConfigurationError(Exception):
    """A setting is missing or unusable; the message names the setting to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKBEAT_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path.db (default) or postgresql+psycopg://user@host/db",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Server secret that keys the HMAC of API keys. Required on PostgreSQL; "
        "on SQLite it is generated on first start and kept in <database>.secret.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"],
        description="Comma-separated origins allowed by CORS, or * for any.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    default_model: str = Field(
        "anthropic/claude-sonnet-4.6", min_length=1, description="Model for tasks without one."
    )
    misfire_grace_seconds: int = Field(
        3600, ge=0, description="Fires missed by at most this much are caught up once."
    )
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per run before FAILED.")
    clock_start: datetime | None = Field(
        None,
        description="Start the process clock at this instant (ISO 8601); for demos and "
        "acceptance tests only.",
    )
    db_pool_size: int = Field(5, ge=1, description="Database connections per process (PostgreSQL).")
    expected_processes: int = Field(
        3,
        ge=1,
        description="How many Backbeat processes (serve, worker, scheduler) share the "
        "database. Used by `backbeat doctor` only, to check PostgreSQL's max_connections.",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="JSON lines, readable text, or auto (text on a terminal)."
    )
    metrics_dir: Path | None = Field(
        None,
        description="Multi-process metrics: the same local directory for every Backbeat "
        "process on a host; /metrics of the API process then adds them all up. Unset: each "
        "process shows only its own.",
    )

    # Model providers. Credentials come from here, never from a task.
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str | None = Field(None, description="Override (a proxy, a test server).")
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = Field(None, description="Override (a proxy, a test server).")
    compatible_base_url: str | None = Field(
        None,
        description="An OpenAI-compatible endpoint (a model gateway, Ollama, vLLM, "
        "llama.cpp server), e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    compatible_api_key: SecretStr | None = None

    # Runs.
    run_timeout_seconds: float = Field(600, gt=0, description="Per-attempt time limit.")
    max_turns: int = Field(12, ge=1, le=100, description="Model/tool turns per attempt.")
    max_output_tokens: int = Field(
        4096, ge=1, le=64_000, description="The most tokens one model answer may have."
    )
    model_timeout_seconds: float = Field(
        120, gt=0, le=3600, description="How long one model call may take."
    )
    worker_concurrency: int = Field(10, ge=1, le=1000, description="Runs at once per worker.")
    lease_seconds: float = Field(60, ge=5, description="A worker renews its claim this often x3.")
    shutdown_grace_seconds: float = Field(30, ge=0, description="Wait for runs on SIGTERM.")
    worker_poll_seconds: float = Field(1.0, gt=0, description="How often an idle worker looks.")
    allow_task_overlap: bool = Field(
        False, description="Let two runs of one task execute at once (off: a later fire waits)."
    )
    serve_worker: bool = Field(True, description="`serve` also runs a worker.")

    # Tools.
    fetch_allow_private: bool = Field(
        False, description="Let fetch_web_page reach private and loopback addresses."
    )
    fetch_max_bytes: int = Field(1_000_000, ge=1024)
    fetch_timeout_seconds: float = Field(10, gt=0)
    search_provider: Literal["searxng", "brave", "tavily"] | None = Field(
        None, description="The web_search tool's API (unset: no web_search tool)."
    )
    search_url: str | None = Field(
        None,
        description="SearXNG's address (required for it), or an override of Brave's or "
        "Tavily's endpoint.",
    )
    search_api_key: SecretStr | None = Field(None, description="Brave's or Tavily's API key.")
    search_timeout_seconds: float = Field(10, gt=0, description="Per web search.")
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "backbeat@localhost"
    smtp_starttls: bool = Field(
        True, description="STARTTLS after connecting (off for local relays)."
    )
    smtp_timeout_seconds: float = Field(
        300, gt=0, description="Wait for the greeting and each SMTP command (RFC 5321: 5 min)."
    )
    smtp_data_timeout_seconds: float = Field(
        600,
        gt=0,
        description="Wait for the reply to the end of a message (RFC 5321: 10 min). Without "
        "a reply by then the email counts as unconfirmed and is never sent again.",
    )

    # The outbox: retries of deliveries that failed for a passing reason.
    outbox_retry_first_seconds: float = Field(
        60, gt=0, description="First wait before a delivery is tried again; doubles each time."
    )
    outbox_retry_max_seconds: float = Field(
        3600, gt=0, description="Longest wait between two tries of a delivery."
    )
    outbox_max_tries: int = Field(
        10, ge=1, le=100, description="Tries of a delivery before it is failed for good."
    )
    outbox_poll_seconds: float = Field(
        5, gt=0, description="How often a worker looks for deliveries due for another try."
    )

    # Webhooks (Standard Webhooks: signed, at least once, retried for about a day).
    public_url: str | None = Field(
        None,
        description="Where people reach this Backbeat (https://backbeat.example.com): links "
        "to run pages in webhook events.",
    )
    webhook_allow_private: bool = Field(
        False, description="Let webhook endpoints be private, loopback or link-local addresses."
    )
    webhook_timeout_seconds: float = Field(
        10, gt=0, description="How long an endpoint has to answer one try."
    )
    webhook_retry_seconds: str = Field(
        "5,300,1800,7200,18000,36000,36000",
        description="Waits before each retry of a webhook event, in seconds, comma-separated "
        "(one try at once, then one per wait).",
    )

    # Plans (off unless an operator gives an account one: `backbeat accounts set-plan`).
    billing_url: str | None = Field(
        None, description="`billingUrl` in 402 plan_limit answers: where an account upgrades."
    )

    # Dashboard.
    dashboard_session_seconds: int = Field(
        8 * 3600,
        ge=60,
        le=30 * 86400,
        description="How long a dashboard sign-in lasts before the API key must be given again.",
    )
    dashboard_cookie_secure: bool | None = Field(
        None,
        description="Mark the dashboard's session cookie Secure (sent over HTTPS only): "
        "true, false, or unset to follow each request's scheme.",
    )

    # What runs on the OpenAI-compatible endpoint cost (backbeat/agents/pricing.py).
    compatible_pricing: Literal["auto", "vendor", "unknown"] = Field(
        "auto",
        description="vendor: a gateway; a `vendor/model` id it serves is priced as that "
        "vendor's model. unknown: a local server (llama.cpp, Ollama, vLLM) that may answer "
        "any model name with its own model: no price. auto: unknown when the endpoint is on "
        "this machine, a private network or a bare host name, else vendor.",
    )

    # Tools from MCP servers (`backbeat mcp-servers add`): how long a server has to connect,
    # list its tools or answer a call, and how much of a call's output the model gets.
    mcp_timeout_seconds: float = Field(
        30, gt=0, description="How long an MCP server has to connect, list or answer a call."
    )
    mcp_max_output_chars: int = Field(
        20_000, ge=100, description="The most of one MCP tool call's output the model gets."
    )
    worker_listen: bool = Field(
        True,
        description="On PostgreSQL a worker LISTENs for new runs (off: it only polls; for a "
        "pooler in transaction mode, which cannot hold a LISTEN).",
    )

    # Each worker process keeps these per provider (backbeat/agents/limits.py); unset: no
    # limit of its own, only what the provider's rate-limit headers and 429s say.
    anthropic_max_concurrency: int | None = Field(
        None, ge=1, description="Calls to Anthropic in flight at once, per worker process."
    )
    anthropic_requests_per_minute: float | None = Field(
        None, gt=0, description="Requests to Anthropic per minute, per worker process."
    )
    anthropic_tokens_per_minute: float | None = Field(
        None, gt=0, description="Tokens (input + output) per minute to Anthropic, per worker."
    )
    openai_max_concurrency: int | None = Field(
        None, ge=1, description="Calls to OpenAI in flight at once, per worker process."
    )
    openai_requests_per_minute: float | None = Field(
        None, gt=0, description="Requests to OpenAI per minute, per worker process."
    )
    openai_tokens_per_minute: float | None = Field(
        None, gt=0, description="Tokens (input + output) per minute to OpenAI, per worker."
    )
    compatible_max_concurrency: int | None = Field(
        None, ge=1, description="Calls to the OpenAI-compatible endpoint at once, per worker."
    )
    compatible_requests_per_minute: float | None = Field(
        None, gt=0, description="Requests to the OpenAI-compatible endpoint per minute, per worker."
    )
    compatible_tokens_per_minute: float | None = Field(
        None, gt=0, description="Tokens per minute to the OpenAI-compatible endpoint, per worker."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("webhook_retry_seconds")
    @classmethod
    def _check_retry_seconds(cls, value: str) -> str:
        try:
            waits = [float(item) for item in value.split(",") if item.strip()]
        except ValueError:
            raise ValueError("a comma-separated list of seconds, such as 5,300,1800") from None
        if any(wait < 0 for wait in waits):
            raise ValueError("waits cannot be negative")
        return value

    @property
    def webhook_retry_waits(self) -> tuple[float, ...]:
        return tuple(float(item) for item in self.webhook_retry_seconds.split(",") if item.strip())

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redactor (the values never get logged)."""
        found = [
            secret.get_secret_value()
            for secret in (
                self.secret_key,
                self.anthropic_api_key,
                self.openai_api_key,
                self.compatible_api_key,
                self.smtp_password,
            )
            if secret is not None
        ]
        secret_file = self.secret_file
        if secret_file is not None and self.secret_key is None and secret_file.exists():
            found.append(secret_file.read_text().strip())
        return found

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file for a file-backed SQLite URL, else None."""
        if not self.is_sqlite:
            return None
        path = self.database_url.split("///", 1)[1] if "///" in self.database_url else ""
        path = path.split("?", 1)[0]
        if path in ("", ":memory:"):
            return None
        return Path(path)

    @property
    def secret_file(self) -> Path | None:
        """Where the embedded default keeps its generated secret: beside the SQLite file."""
        path = self.sqlite_path
        return None if path is None else path.with_name(path.name + ".secret")

    @cached_property
    def secret(self) -> bytes:
        """The HMAC key for API keys: the setting, or the embedded default's secret file."""
        if self.secret_key is not None:
            value = self.secret_key.get_secret_value()
            if len(value) < 32:
                raise ConfigurationError("BACKBEAT_SECRET_KEY must be at least 32 characters")
            return value.encode()
        path = self.secret_file
        if path is None:
            if self.is_sqlite:  # an in-memory database lives as long as the process
                return secrets.token_bytes(32)
            raise ConfigurationError(
                "BACKBEAT_SECRET_KEY is not set: it is required with PostgreSQL "
                "(generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return _secret_file(path)


def _secret_file(path: Path) -> bytes:
    """Read the secret beside the SQLite database, creating it (mode 0600) on first use.

    Written to a private temporary file and then hard-linked into place, so that two
    processes starting at once agree on one secret and nobody reads a half-written file.
    """
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_urlsafe(48).encode())
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process won the race: use its secret
    finally:
        temporary.unlink()
    return path.read_bytes().strip()
