"""McpServerRepository contracts (the MCP servers an operator registered), on every backend."""

from __future__ import annotations

from datetime import timedelta, timezone
from uuid import uuid4

import pytest

from backbeat.domain.mcp_servers import McpServer
from tests.contract.builders import UowFactory, assert_utc, at

EAST = timezone(timedelta(hours=2))


def server(name: str, **fields: object) -> McpServer:
    values: dict[str, object] = {
        "name": name,
        "url": "https://charts.example/mcp",
        "command": None,
        "headers": (),
        "organization_ids": None,
        "created_at": at(0),
    }
    values.update(fields)
    return McpServer(**values)  # type: ignore[arg-type]


def test_every_field_comes_back_as_stored(uow: UowFactory) -> None:
    orgs = (uuid4(), uuid4())
    http = server(
        "charts",
        headers=(("Authorization", "v1.sealed-a"), ("X-Api-Key", "v1.sealed-b")),
        organization_ids=orgs,
        created_at=at(5).astimezone(EAST),  # any zone in, UTC out
    )
    stdio = server("local-tools", url=None, command="python -m tools --flag 'two words'")
    with uow(write=True) as u:
        assert u.mcp_servers.add(http) is True
        assert u.mcp_servers.add(stdio) is True
        u.commit()
    with uow() as u:
        found = u.mcp_servers.get("charts")
        local = u.mcp_servers.get("local-tools")
    assert found == http
    assert found is not None
    assert found.headers == (("Authorization", "v1.sealed-a"), ("X-Api-Key", "v1.sealed-b"))
    assert found.organization_ids == orgs
    assert found.created_at == at(5)
    assert_utc(found)
    assert local == stdio
    assert local is not None
    assert local.argv == ["python", "-m", "tools", "--flag", "two words"]
    assert local.organization_ids is None


def test_a_name_is_registered_once(uow: UowFactory) -> None:
    with uow(write=True) as u:
        assert u.mcp_servers.add(server("charts")) is True
        u.commit()
    with uow(write=True) as u:
        assert u.mcp_servers.add(server("charts", url="https://other.example/mcp")) is False
        u.commit()
    with uow() as u:
        found = u.mcp_servers.get("charts")
    assert found is not None
    assert found.url == "https://charts.example/mcp"  # the first stays


def test_names_are_case_sensitive_and_exact(uow: UowFactory) -> None:
    with uow(write=True) as u:
        u.mcp_servers.add(server("charts"))
        u.commit()
    with uow() as u:
        assert u.mcp_servers.get("Charts") is None
        assert u.mcp_servers.get("chart") is None
        assert u.mcp_servers.named(["Charts", "charts%"]) == {}


def test_named_finds_those_registered_and_all_lists_by_name(uow: UowFactory) -> None:
    with uow(write=True) as u:
        for name in ("streams", "charts", "news"):
            u.mcp_servers.add(server(name))
        u.commit()
    with uow() as u:
        named = u.mcp_servers.named(["charts", "missing", "news", "charts"])
        everything = u.mcp_servers.all()
        assert u.mcp_servers.named([]) == {}
    assert sorted(named) == ["charts", "news"]
    assert named["news"].name == "news"
    assert [each.name for each in everything] == ["charts", "news", "streams"]


def test_delete_removes_it_once(uow: UowFactory) -> None:
    with uow(write=True) as u:
        u.mcp_servers.add(server("charts"))
        u.mcp_servers.add(server("news"))
        u.commit()
    with uow(write=True) as u:
        assert u.mcp_servers.delete("charts") is True
        assert u.mcp_servers.delete("charts") is False
        assert u.mcp_servers.delete("nothing") is False
        u.commit()
    with uow() as u:
        assert u.mcp_servers.get("charts") is None
        assert [each.name for each in u.mcp_servers.all()] == ["news"]


def test_nothing_is_kept_without_commit(uow: UowFactory) -> None:
    with uow(write=True) as u:
        u.mcp_servers.add(server("charts"))
    with uow() as u:
        assert u.mcp_servers.all() == []


@pytest.mark.parametrize(
    ("url", "command"), [(None, None), ("https://charts.example/mcp", "python -m tools")]
)
def test_a_server_has_exactly_one_transport(
    uow: UowFactory, refused: type[Exception], url: str | None, command: str | None
) -> None:
    with uow(write=True) as u, pytest.raises(refused):
        u.mcp_servers.add(server("charts", url=url, command=command))
