"""What the front doors (API, dashboard, CLI, MCP) share and none of them owns: request and
response schemas, validation with the real service's messages, the error shape, query
parameters, the request's view of the wired application, and the app-wide middleware.

Front doors import from here and from the services, never from each other
(tests/unit/test_import_contracts.py)."""
