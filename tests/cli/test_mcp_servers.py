"""`backbeat mcp-servers add|list|remove`: an operator registers MCP servers (Streamable HTTP
with headers, or stdio), open to every account or to organizations' members. Header values
are stored sealed and never printed again."""

from __future__ import annotations

from sqlalchemy import create_engine, text

from backbeat.wiring import Backbeat
from tests.cli.conftest import Cli, create
from tests.conftest import Tenant

TOKEN = "Bearer sk-label-data-4c1e9f0b"


def test_add_list_and_remove(cli: Cli, backbeat: Backbeat, sqlite_url: str) -> None:
    org = backbeat.admin.create_organization("Label")
    added = cli.json(
        "mcp-servers",
        "add",
        "label-data",
        "--url",
        "https://data.label.example/mcp",
        "--header",
        f"Authorization: {TOKEN}",
        "--header",
        "X-Team: nova",
        "--org",
        str(org.id),
    )
    assert added == {
        "name": "label-data",
        "transport": "http",
        "url": "https://data.label.example/mcp",
        "command": None,
        "headers": ["Authorization", "X-Team"],
        "organization_ids": [str(org.id)],
        "created_at": added["created_at"],
    }
    line = cli.ok("mcp-servers", "add", "charts", "--command", "charts-mcp --stdio")
    assert line.strip() == (
        "registered charts (stdio: charts-mcp --stdio; headers: none; open to every account)"
    )

    listed = cli.ok("mcp-servers", "list")
    header, first, second = listed.splitlines()
    assert header.split() == [
        "NAME",
        "TRANSPORT",
        "ADDRESS",
        "HEADERS",
        "ADDED",
        "(UTC)",
        "OPEN",
        "TO",
    ]
    assert first.split()[:4] == ["charts", "stdio", "charts-mcp", "--stdio"]
    assert second.split()[:4] == [
        "label-data",
        "http",
        "https://data.label.example/mcp",
        "Authorization,X-Team",
    ]
    assert second.endswith(f"members of {org.id}")
    as_json = cli.json("mcp-servers", "list")
    assert [each["name"] for each in as_json["mcp_servers"]] == ["charts", "label-data"]
    assert "sk-label-data" not in listed + str(as_json)

    # Sealed at rest: the database holds no header value in the clear.
    engine = create_engine(sqlite_url)
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT headers FROM mcp_servers")).all()
    engine.dispose()
    assert "sk-label-data" not in str(stored)
    assert "nova" not in str(stored)
    # ...and the worker gets them back, for members only.
    [member] = [backbeat.admin.create_account("member@example.com")]
    backbeat.admin.add_member(org.id, member.id)
    opened = backbeat.mcp_servers.usable(member.id, ["label-data", "charts"])
    assert dict(opened["label-data"].headers) == {"Authorization": TOKEN, "X-Team": "nova"}
    stranger = backbeat.admin.create_account("stranger@example.com")
    assert list(backbeat.mcp_servers.usable(stranger.id, ["label-data", "charts"])) == ["charts"]

    assert cli.json("mcp-servers", "remove", "charts") == {"name": "charts", "removed": True}
    assert cli.ok("mcp-servers", "remove", "label-data").strip() == "removed label-data"
    assert "no MCP servers registered" in cli.ok("mcp-servers", "list")


def test_mistakes_are_one_line_errors(cli: Cli) -> None:
    cli.ok("mcp-servers", "add", "charts", "--url", "http://127.0.0.1:9000/mcp")  # loopback: ok
    org = "0b5c0a9e-8a34-4c21-9d36-8d7a3ef7f001"
    http = ["--url", "https://x.example/mcp"]
    either = "give the server's URL (Streamable HTTP) or its command (stdio)"
    cases = [
        (["charts", *http], "an MCP server named 'charts' is registered already"),
        (
            ["a/b", *http],
            "an MCP server's name is 1 to 40 letters, digits, '_' or '-' (no '__'), not 'a/b'",
        ),
        (["news"], either),
        (["news", *http, "--command", "y"], either),
        (["news", "--url", "ftp://x"], "an MCP server's URL is an http:// or https:// address"),
        (["news", "--command", "y", "--header", "A: b"], "headers are sent over HTTP"),
        (["news", *http, "--header", "Authorization"], "a header is given as 'Name: value'"),
        (["news", *http, "--org", org], f"Organization {org} not found"),
    ]
    for args, message in cases:
        assert cli.error("mcp-servers", "add", *args).startswith(message), args
    assert cli.error("mcp-servers", "remove", "news") == "no MCP server named 'news' is registered"


def test_a_task_may_list_the_tools_of_a_registered_server(
    cli: Cli, backbeat: Backbeat, alice: Tenant
) -> None:
    refused = cli(
        "tasks", "create", "--account", str(alice.account_id), "--artist", str(alice.artist_id),
        "--title", "Pulse", "--prompt", "Go.", "--schedule", "0 9 * * 1",
        "--tools", "charts/top_songs",
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "no MCP server named 'charts' is registered" in refused.stderr
    cli.ok("mcp-servers", "add", "charts", "--command", "charts-mcp")
    task_id = create(cli, alice, "--tools", "charts/top_songs")
    shown = cli.json("tasks", "show", task_id, "--account", str(alice.account_id))
    assert shown["tools"] == ["charts/top_songs"]
