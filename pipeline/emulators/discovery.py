"""Request-body validation compiled from Google's own discovery document.

google-api-python-client ships the Wallet API's discovery document; its
``schemas`` section lists every field of every resource with its JSON type,
integer format and enum values (including deprecated aliases). Validating
against it — rather than against a hand-written model — means the emulator
rejects exactly the fields and values that the real schema does not know,
and follows the document when the package is upgraded.

The schemas are compiled once into small checker objects. A check walks the
body and raises on the first problem; the JSON path of the offending field is
collected while the exception unwinds, so a valid body costs no string work.
Messages follow the wording of Google's JSON front end.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

DOCUMENT_PACKAGE = "googleapiclient.discovery_cache"
DOCUMENT_NAME = "documents/walletobjects.v1.json"

_INTEGER_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_DECIMAL = re.compile(r"-?[0-9]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_SPECIAL_DOUBLES = frozenset({"NaN", "Infinity", "-Infinity"})


class SchemaViolation(ValueError):
    """A request body does not conform to the discovery document."""


class _Mismatch(Exception):
    """Raised inside the checkers; turned into a `SchemaViolation` at the top."""

    def __init__(self, message: Callable[[str], str]) -> None:
        super().__init__()
        self.message = message
        self.segments: list[str] = []

    def located(self) -> str:
        path = ""
        for segment in reversed(self.segments):
            path += segment if segment.startswith("[") or not path else "." + segment
        return self.message(path)


Checker = Callable[[object], None]


class Schemas:
    """Compiled checkers for every schema of a discovery document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        schemas: Mapping[str, Any] = document["schemas"]
        self.revision = str(document.get("revision", ""))
        self._objects = {name: _ObjectChecker(name) for name in schemas}
        for name, schema in schemas.items():
            properties = schema.get("properties", {})
            self._objects[name].fields = {
                field: self._compile(spec) for field, spec in properties.items()
            }

    def names(self) -> frozenset[str]:
        """The schema names the document defines."""
        return frozenset(self._objects)

    def validate(self, schema: str, body: object) -> None:
        """Raise `SchemaViolation` if `body` is not a valid `schema` resource."""
        try:
            self._objects[schema].check(body)
        except _Mismatch as mismatch:
            raise SchemaViolation(mismatch.located()) from None

    def _compile(self, spec: Mapping[str, Any]) -> Checker:
        if "$ref" in spec:
            return self._objects[spec["$ref"]].check
        kind = spec.get("type")
        if kind == "array":
            return _array_checker(self._compile(spec.get("items", {})))
        if kind == "object" and "properties" in spec:
            inline = _ObjectChecker("object")
            inline.fields = {f: self._compile(s) for f, s in spec["properties"].items()}
            return inline.check
        if "enum" in spec:
            return _enum_checker(frozenset(spec["enum"]))
        return _scalar_checker(kind, spec.get("format"))


@functools.cache
def wallet_schemas() -> Schemas:
    """The Wallet API schemas, loaded from the installed google-api-python-client."""
    resource = importlib.resources.files(DOCUMENT_PACKAGE).joinpath(DOCUMENT_NAME)
    return Schemas(json.loads(resource.read_text(encoding="utf-8")))


class _ObjectChecker:
    """Checks a JSON object against the fields of one schema, recursively."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.fields: dict[str, Checker] = {}

    def check(self, value: object) -> None:
        if not isinstance(value, dict):
            raise _Mismatch(_invalid_value(f"type.googleapis.com/{self.name}", value))
        for field, item in value.items():
            checker = self.fields.get(field)
            if checker is None:
                raise _Mismatch(_unknown_name(field))
            if item is None:
                continue
            try:
                checker(item)
            except _Mismatch as mismatch:
                mismatch.segments.append(field)
                raise


def _array_checker(item_checker: Checker) -> Checker:
    def check(value: object) -> None:
        if not isinstance(value, list):
            raise _Mismatch(_invalid_value("TYPE_MESSAGE[]", value))
        for index, item in enumerate(value):
            try:
                item_checker(item)
            except _Mismatch as mismatch:
                mismatch.segments.append(f"[{index}]")
                raise

    return check


def _enum_checker(values: frozenset[str]) -> Checker:
    def check(value: object) -> None:
        if not isinstance(value, str) or value not in values:
            raise _Mismatch(_invalid_value("TYPE_ENUM", value))

    return check


def _scalar_checker(kind: str | None, fmt: str | None) -> Checker:
    if kind == "string" and fmt in _INTEGER_RANGES:
        return _integer_checker(fmt, allow_string=True)
    if kind == "integer":
        return _integer_checker(fmt or "int32", allow_string=False)
    if kind == "string" and fmt == "byte":
        return _predicate_checker("TYPE_BYTES", _is_base64)
    if kind == "string":
        return _predicate_checker("TYPE_STRING", lambda v: isinstance(v, str))
    if kind == "boolean":
        return _predicate_checker("TYPE_BOOL", lambda v: isinstance(v, bool))
    if kind == "number":
        return _predicate_checker("TYPE_DOUBLE", _is_double)
    return lambda value: None


def _integer_checker(fmt: str, *, allow_string: bool) -> Checker:
    """Integers; 64-bit ones may also come as decimal strings, as proto JSON allows."""
    low, high = _INTEGER_RANGES.get(fmt, _INTEGER_RANGES["int64"])
    label = f"TYPE_{fmt.upper()}"

    def check(value: object) -> None:
        number = _as_integer(value, allow_string=allow_string)
        if number is None or not low <= number <= high:
            raise _Mismatch(_invalid_value(label, value))

    return check


def _as_integer(value: object, *, allow_string: bool) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if allow_string and isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def _predicate_checker(label: str, accepts: Callable[[object], bool]) -> Checker:
    def check(value: object) -> None:
        if not accepts(value):
            raise _Mismatch(_invalid_value(label, value))

    return check


def _is_double(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int | float) or value in _SPECIAL_DOUBLES


def _is_base64(value: object) -> bool:
    return isinstance(value, str) and _BASE64.fullmatch(value) is not None


def _invalid_value(label: str, value: object) -> Callable[[str], str]:
    shown = json.dumps(value)[:200]
    return lambda path: f"Invalid value at '{path or 'resource'}' ({label}), {shown}"


def _unknown_name(field: str) -> Callable[[str], str]:
    def message(path: str) -> str:
        where = f" at '{path}'" if path else ""
        return (
            f'Invalid JSON payload received. Unknown name "{field}"{where}: '
            "Cannot find field."
        )

    return message
