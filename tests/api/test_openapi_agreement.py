"""GET /openapi.json agrees with the Recoup Tasks API contract.

The contract read is tests/contract_spec/openapi.yaml, a vendored copy of
../shared/openapi.yaml, so that a clean clone can run this. BACKBEAT_CONTRACT names another
contract file to read (and to hold the vendored copy against) instead. Whatever is served
that the contract lacks (a property, a parameter) must be marked
`"x-backbeat-extension": true`. Each failure names the path of the disagreement.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.testing import FakeClock
from tests.conftest import make_backbeat
from tests.databases import SqliteTemplate

VENDORED = Path(__file__).parents[1] / "contract_spec" / "openapi.yaml"
_OVERRIDE = os.environ.get("BACKBEAT_CONTRACT")
SHARED = Path(_OVERRIDE or Path(__file__).parents[3] / "shared" / "openapi.yaml")
CONTRACT_PATH = Path(_OVERRIDE) if _OVERRIDE else VENDORED

Doc = dict[str, Any]
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMAS = [
    "CreateTaskRequest",
    "UpdateTaskRequest",
    "DeleteTaskRequest",
    "Task",
    "TaskRunResponse",
    "TasksResponse",
    "TaskRunsResponse",
    "DeleteTaskResponse",
    "Error",
]
# Keywords whose values must be equal on both sides, once flattened.
COMPARED = ("type", "format", "enum", "minimum", "maximum", "minLength", "maxLength", "required")
# What `flatten` keeps: the compared keywords and those that nest or close an object.
KEPT = (*COMPARED, "additionalProperties", "properties", "items")

CONTRACT: Doc = yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


def operations(doc: Doc) -> list[tuple[str, str]]:
    return [
        (path, method)
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]


def label(operation: tuple[str, str]) -> str:
    return f"{operation[1].upper()} {operation[0]}"


def resolve(node: Any, doc: Doc) -> Any:
    """Follow local `$ref`s (`#/components/schemas/Task`) to what they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for key in node["$ref"].removeprefix("#/").split("/"):
            target = target[key]
        node = target
    return node


def component(schema: Doc) -> str | None:
    ref: str = schema.get("$ref", "")
    return ref.removeprefix("#/components/schemas/") if ref.startswith("#/components/") else None


def flatten(schema: Doc, doc: Doc) -> Doc:
    """A schema as plain keywords: `$ref`s resolved, `type` a sorted list, `const` an enum,
    and `anyOf`/`oneOf` merged: types united, another keyword kept when every non-null branch
    has the same value. So Pydantic's `anyOf: [{type: X}, {type: null}]` reads `type: [X, null]`.
    """
    schema = resolve(schema, doc)
    flat = {key: schema[key] for key in KEPT if key in schema}
    if "type" in schema:
        flat["type"] = sorted(
            [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        )
    if "const" in schema:
        flat["enum"] = [schema["const"]]
    branches = [flatten(branch, doc) for branch in schema.get("anyOf", schema.get("oneOf", []))]
    if branches:
        if all("type" in branch for branch in branches):
            flat["type"] = sorted({name for branch in branches for name in branch["type"]})
        typed = [branch for branch in branches if branch.get("type") != ["null"]]
        for key in KEPT:
            values = [branch.get(key) for branch in typed]
            if values and values[0] is not None and all(value == values[0] for value in values):
                flat.setdefault(key, values[0])
    for key in ("enum", "required"):
        if key in flat:
            flat[key] = sorted(flat[key], key=repr)
    return flat


def parameters(operation: Doc, doc: Doc) -> dict[str, Doc]:
    found = [resolve(parameter, doc) for parameter in operation.get("parameters", [])]
    return {f"{parameter['in']}:{parameter['name']}": parameter for parameter in found}


def is_extension(node: Any) -> bool:
    return isinstance(node, dict) and node.get("x-backbeat-extension") is True


@dataclass
class Agreement:
    """Walks the contract (`want`) beside the served document (`got`), noting each problem."""

    contract: Doc
    served: Doc
    problems: list[str] = field(default_factory=list)

    def differ(self, where: str, key: str, want: Doc, got: Doc) -> None:
        if want.get(key) != got.get(key):
            said = f"the contract says {want.get(key)!r}"
            self.problems.append(f"{where}: {key} is {got.get(key)!r}, {said}")

    def schema(self, want_schema: Doc, got_schema: Doc, where: str) -> None:
        if component(want_schema) == component(got_schema) in SCHEMAS:
            return  # the same component: test_each_component_schema_agrees compares it
        want, got = flatten(want_schema, self.contract), flatten(got_schema, self.served)
        for key in COMPARED:
            self.differ(where, key, want, got)
        if want.get("additionalProperties") is False:
            self.differ(where, "additionalProperties", want, got)
        if "properties" in want and "properties" in got:
            self.by_name(want["properties"], got["properties"], where, self.schema)
        if "items" in want and "items" in got:
            self.schema(want["items"], got["items"], f"{where}[]")

    def by_name(
        self, want: Doc, got: Doc, where: str, compare: Callable[[Doc, Doc, str], None]
    ) -> None:
        """Properties or parameters: every one of the contract's served, extras marked."""
        for name, value in want.items():
            if name in got:
                compare(value, got[name], f"{where}.{name}")
            else:
                self.problems.append(f"{where}.{name}: in the contract but not served")
        for name in sorted(got.keys() - want.keys()):
            if not is_extension(got[name]):
                self.problems.append(f"{where}.{name}: not in the contract, nor marked extension")

    def parameter(self, want: Doc, got: Doc, where: str) -> None:
        self.differ(where, "required", {"required": False} | want, {"required": False} | got)
        self.schema(want.get("schema", {}), got.get("schema", {}), where)

    def operation(self, path: str, method: str) -> None:
        where = f"paths.{path}.{method}"
        want = self.contract["paths"][path][method]
        got = self.served["paths"].get(path, {}).get(method)
        if got is None:
            self.problems.append(f"{where}: not served")
            return
        want_parameters = parameters(want, self.contract)
        got_parameters = parameters(got, self.served)
        self.by_name(want_parameters, got_parameters, f"{where}.parameters", self.parameter)
        self.request_body(want.get("requestBody"), got.get("requestBody"), f"{where}.requestBody")
        self.responses(want["responses"], got.get("responses", {}), f"{where}.responses")

    def request_body(self, want: Doc | None, got: Doc | None, where: str) -> None:
        want, got = resolve(want, self.contract), resolve(got, self.served)
        if want is None or got is None:
            if want is not got:
                self.problems.append(f"{where}: served {got!r}, the contract has {want!r}")
            return
        self.differ(where, "required", {"required": False} | want, {"required": False} | got)
        self.content(want.get("content", {}), got.get("content", {}), where)

    def content(self, want: Doc, got: Doc, where: str) -> None:
        for media_type, body in want.items():
            if media_type in got:
                got_schema = got[media_type].get("schema", {})
                self.schema(body.get("schema", {}), got_schema, f"{where}.{media_type}")
            else:
                self.problems.append(f"{where}.{media_type}: in the contract but not served")

    def responses(self, want: Doc, got: Doc, where: str) -> None:
        """Every status code of the contract documented alike; any other 4xx/5xx an Error."""
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for code in sorted({str(code) for code in want} | set(got)):
            if code not in got:
                self.problems.append(f"{where}.{code}: in the contract but not documented")
                continue
            if code in want or int(code) in want:
                want_content = resolve(want.get(code, want.get(int(code))), self.contract)[
                    "content"
                ]
            elif int(code) >= 400:
                want_content = error
            else:
                continue
            got_content = resolve(got[code], self.served).get("content", {})
            self.content(want_content, got_content, f"{where}.{code}")


def agree(served: Doc, check: Callable[[Agreement], None]) -> list[str]:
    agreement = Agreement(CONTRACT, served)
    check(agreement)
    return agreement.problems


@pytest.fixture(scope="module")
def client(
    sqlite_template: SqliteTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    url = sqlite_template.fresh(tmp_path_factory.mktemp("openapi"))
    backbeat = make_backbeat(url, FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC)))
    with TestClient(create_app(backbeat)) as test_client:
        yield test_client
    backbeat.close()


@pytest.fixture(scope="module")
def served(client: TestClient) -> Doc:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    document: Doc = response.json()
    return document


def test_the_same_paths_and_methods_are_served(served: Doc) -> None:
    """Every contract operation, and beyond them only operations marked as extensions."""
    added = [op for op in operations(served) if op not in operations(CONTRACT)]
    unmarked = [label(op) for op in added if not is_extension(served["paths"][op[0]][op[1]])]
    assert unmarked == []
    kept = [op for op in operations(served) if op not in added]
    assert sorted(map(label, kept)) == sorted(map(label, operations(CONTRACT)))


@pytest.mark.parametrize("operation", operations(CONTRACT), ids=label)
def test_each_operation_agrees(served: Doc, operation: tuple[str, str]) -> None:
    """Query parameters, request body, and responses (every 4xx and 5xx an Error)."""
    assert agree(served, lambda agreement: agreement.operation(*operation)) == []


@pytest.mark.parametrize("name", SCHEMAS)
def test_each_component_schema_agrees(served: Doc, name: str) -> None:
    got = served["components"]["schemas"].get(name)
    assert got is not None, f"components.schemas.{name}: not served"
    want = CONTRACT["components"]["schemas"][name]
    where = f"components.schemas.{name}"
    assert agree(served, lambda agreement: agreement.schema(want, got, where)) == []


def test_every_api_operation_takes_an_api_key_or_a_bearer_token(served: Doc) -> None:
    for path, method in operations(served):
        if path.startswith("/api/"):
            security = served["paths"][path][method].get("security", [])
            alternatives = sorted(sorted(requirement) for requirement in security)
            assert alternatives == [["apiKeyAuth"], ["bearerAuth"]], f"paths.{path}.{method}"
    for name, want in CONTRACT["components"]["securitySchemes"].items():
        got = served["components"]["securitySchemes"].get(name, {})
        for key in want.keys() - {"description"}:
            assert got.get(key) == want[key], f"components.securitySchemes.{name}.{key}"


def test_the_docs_are_served_as_html(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text


def test_the_vendored_contract_is_the_shared_one() -> None:
    if not SHARED.exists():
        return  # a clean clone (CI) has no ../shared: the vendored copy is the contract there
    assert VENDORED.read_bytes() == SHARED.read_bytes(), f"copy {SHARED} over {VENDORED}"


class TestTheComparison:
    """The checks above pass vacuously if the comparison sees nothing: show that it sees.

    Each starts from the contract served as itself (which agrees) and doctors one thing.
    """

    @pytest.fixture
    def doctored(self) -> Doc:
        document: Doc = copy.deepcopy(CONTRACT)
        return document

    def test_the_contract_agrees_with_itself(self, doctored: Doc) -> None:
        agreement = Agreement(CONTRACT, doctored)
        for operation in operations(doctored):
            agreement.operation(*operation)
        assert agreement.problems == []

    def test_an_unmarked_extra_property_is_reported_and_a_marked_one_is_not(
        self, doctored: Doc
    ) -> None:
        task = doctored["components"]["schemas"]["Task"]
        task["properties"]["colour"] = {"type": "string"}
        task["properties"]["shade"] = {"type": "string", "x-backbeat-extension": True}
        want = CONTRACT["components"]["schemas"]["Task"]

        assert agree(doctored, lambda agreement: agreement.schema(want, task, "Task")) == [
            "Task.colour: not in the contract, nor marked extension"
        ]

    def test_a_missing_code_an_extra_parameter_and_a_wrong_format_are_reported(
        self, doctored: Doc
    ) -> None:
        operation = doctored["paths"]["/api/tasks"]["get"]
        operation["parameters"].append({"name": "colour", "in": "query", "schema": {}})
        operation["parameters"][0]["schema"] = {"type": "string"}
        del operation["responses"]["403"]

        problems = agree(doctored, lambda agreement: agreement.operation("/api/tasks", "get"))

        where = "paths./api/tasks.get"
        assert problems == [
            f"{where}.parameters.query:id: format is None, the contract says 'uuid'",
            f"{where}.parameters.query:colour: not in the contract, nor marked extension",
            f"{where}.responses.403: in the contract but not documented",
        ]

    def test_a_nested_difference_names_its_path(self, doctored: Doc) -> None:
        run = doctored["components"]["schemas"]["TaskRunResponse"]
        run["properties"]["attempts"]["items"]["properties"]["startedAt"] = {
            "anyOf": [{"type": "string"}, {"type": "null"}]
        }
        want = CONTRACT["components"]["schemas"]["TaskRunResponse"]

        assert agree(doctored, lambda agreement: agreement.schema(want, run, "Run")) == [
            "Run.attempts[].startedAt: format is None, the contract says 'date-time'"
        ]

    def test_pydantic_nullable_any_of_reads_as_the_contracts_type_list(self) -> None:
        pydantic = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}

        assert flatten(pydantic, {}) == {"type": ["null", "string"], "format": "date-time"}
