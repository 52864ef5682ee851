"""The server secret: set, long enough, and agreeing with the secret file; or, on SQLite,
kept where only this user reads it."""

from __future__ import annotations

import stat

from backbeat.config import Settings
from backbeat.ops.doctor.check import Check

HOW_TO_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def check_secret(settings: Settings) -> Check:
    key = settings.secret_key
    secret_file = settings.secret_file
    if key is not None:
        if len(key.get_secret_value()) < 32:
            return Check(
                "secret",
                "fail",
                f"BACKBEAT_SECRET_KEY is shorter than 32 characters: generate one with "
                f"{HOW_TO_GENERATE}",
            )
        if (
            secret_file is not None
            and secret_file.exists()
            and secret_file.read_text().strip() != key.get_secret_value()
        ):
            return Check(
                "secret",
                "warn",
                f"BACKBEAT_SECRET_KEY differs from the secret in {secret_file}: API keys "
                "issued with that file's secret no longer work (unset the variable to "
                "keep them)",
            )
        return Check("secret", "ok", "BACKBEAT_SECRET_KEY is set")
    if not settings.is_sqlite:
        return Check(
            "secret",
            "fail",
            f"BACKBEAT_SECRET_KEY is not set: it is required with PostgreSQL (generate one "
            f"with {HOW_TO_GENERATE})",
        )
    if secret_file is None:
        return Check("secret", "ok", "generated for each process (in-memory SQLite)")
    if not secret_file.exists():
        return Check("secret", "ok", f"generated in {secret_file} on first start")
    mode = secret_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Check(
            "secret", "warn", f"{secret_file} is readable by others: chmod 600 {secret_file}"
        )
    return Check("secret", "ok", f"kept in {secret_file}")
