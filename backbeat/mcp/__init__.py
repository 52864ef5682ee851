"""The Model Context Protocol front door: Backbeat's tasks and runs as MCP tools.

Served over Streamable HTTP at `/mcp` by `backbeat serve` and over stdio by `backbeat mcp`,
with the API's keys, through the same services, validation and messages as the API.
"""
