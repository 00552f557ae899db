"""The emulated Wallet backend: loyalty classes and objects in memory.

This holds the behaviour the discovery document does not describe, taken
from Google's documentation and observed errors: ids are
``<issuerId>.<suffix>``, an issuer may only touch its own ids, an object needs
an existing, non-draft class, inserting an existing id conflicts, PATCH
replaces the top-level fields it names (arrays included) and PUT replaces the
whole resource. There is no delete, as in the real API.

The store is only used from the emulator's event loop, one call at a time, so
it needs no lock. Stored values are never changed in place — every write
builds a new top-level dict from freshly parsed JSON — so views can share
nested values with the store instead of deep-copying them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .discovery import Schemas, SchemaViolation

DEFAULT_ISSUER_ID = "3388000000022222222"

Resource = dict[str, Any]

_RESOURCE_ID = re.compile(r"([0-9]+)\.([A-Za-z0-9._-]+)")
_DRAFT = frozenset({"DRAFT", "draft"})
_AUTO_APPROVED = frozenset({"UNDER_REVIEW", "underReview"})
# Fields the platform computes; a client may echo them back but they are not stored.
_SERVER_FIELDS = frozenset({"classReference", "hasUsers", "hasLinkedDevice"})


class ApiError(Exception):
    """A call the real API would refuse, with the status and reason it would use."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class ResourceKind:
    """One resource collection of the API and the rules its bodies follow."""

    path: str
    schema: str
    required: tuple[str, ...]
    list_param: str


LOYALTY_OBJECT = ResourceKind(
    "loyaltyObject", "LoyaltyObject", ("id", "classId", "state"), "classId"
)
LOYALTY_CLASS = ResourceKind(
    "loyaltyClass", "LoyaltyClass", ("id", "issuerName", "reviewStatus"), "issuerId"
)


class WalletStore:
    """Loyalty classes and objects of one issuer."""

    def __init__(self, issuer_id: str, schemas: Schemas) -> None:
        self.issuer_id = issuer_id
        self._schemas = schemas
        self._resources: dict[str, dict[str, Resource]] = {
            LOYALTY_OBJECT.path: {},
            LOYALTY_CLASS.path: {},
        }

    def get(self, kind: ResourceKind, resource_id: str) -> Resource:
        """The resource as the API returns it; 404 if it was never inserted."""
        self.check_resource_id(resource_id)
        return self._view(kind, self._existing(kind, resource_id))

    def insert(self, kind: ResourceKind, body: object) -> Resource:
        """Create a resource; 409 if the id is taken."""
        resource = self._valid_body(kind, body)
        self._check_complete(kind, resource)
        resource_id = str(resource["id"])
        self.check_resource_id(resource_id)
        self._check_references(kind, resource)
        if resource_id in self._resources[kind.path]:
            raise ApiError(
                409,
                f"Resource with ID '{resource_id}' already exists "
                f"(AlreadyExistsException).",
                "alreadyExists",
            )
        return self._store(kind, resource)

    def patch(self, kind: ResourceKind, resource_id: str, body: object) -> Resource:
        """Replace the top-level fields present in `body`; ``null`` clears a field."""
        self.check_resource_id(resource_id)
        existing = self._existing(kind, resource_id)
        changes = self._valid_body(kind, body, resource_id)
        merged = {**existing, **changes}
        merged = {name: value for name, value in merged.items() if value is not None}
        self._check_complete(kind, merged)
        if merged.get("classId") != existing.get("classId"):
            self._check_references(kind, merged)
        return self._store(kind, merged)

    def update(self, kind: ResourceKind, resource_id: str, body: object) -> Resource:
        """Replace the whole resource; fields not sent are gone afterwards."""
        self.check_resource_id(resource_id)
        self._existing(kind, resource_id)
        resource = self._valid_body(kind, body, resource_id)
        resource.setdefault("id", resource_id)
        self._check_complete(kind, resource)
        self._check_references(kind, resource)
        return self._store(kind, resource)

    def list_page(self, kind: ResourceKind, params: Mapping[str, str]) -> Resource:
        """One page of the objects of a class, or of the classes of an issuer."""
        owner = params.get(kind.list_param)
        if not owner:
            raise ApiError(400, f"Required parameter: {kind.list_param}")
        items = self._owned_by(kind, owner)
        offset = _page_number(params.get("token"), "token", default=0)
        size = _page_number(params.get("maxResults"), "maxResults", default=len(items))
        page = items[offset : offset + size]
        pagination: Resource = {
            "kind": "walletobjects#pagination",
            "resultsPerPage": len(page),
        }
        if offset + size < len(items):
            pagination["nextPageToken"] = str(offset + size)
        return {"resources": page, "pagination": pagination}

    def stored(self, resource_id: str) -> Resource | None:
        """The raw stored object or class with this id, for tests."""
        for kind in (LOYALTY_OBJECT, LOYALTY_CLASS):
            resource = self._resources[kind.path].get(resource_id)
            if resource is not None:
                return self._view(kind, resource)
        return None

    def clear(self) -> None:
        """Forget every class and object."""
        for resources in self._resources.values():
            resources.clear()

    def check_resource_id(self, resource_id: str) -> None:
        """400 for a malformed id, 403 for an id of another issuer."""
        match = _RESOURCE_ID.fullmatch(resource_id)
        if match is None:
            raise ApiError(
                400, f"Invalid resource ID: {resource_id}", "invalidResource"
            )
        if match.group(1) != self.issuer_id:
            raise ApiError(
                403,
                f"The caller does not have permission on issuer {match.group(1)}.",
                "permissionDenied",
            )

    def _existing(self, kind: ResourceKind, resource_id: str) -> Resource:
        resource = self._resources[kind.path].get(resource_id)
        if resource is None:
            raise ApiError(
                404,
                f"Resource with ID '{resource_id}' was not found.",
                "resourceNotFound",
            )
        return resource

    def _valid_body(
        self, kind: ResourceKind, body: object, resource_id: str | None = None
    ) -> Resource:
        try:
            self._schemas.validate(kind.schema, body)
        except SchemaViolation as violation:
            raise ApiError(400, str(violation), "badRequest") from None
        assert isinstance(body, dict)  # validate() accepts only objects
        resource = {k: v for k, v in body.items() if k not in _SERVER_FIELDS}
        if resource_id is not None and resource.get("id") not in (None, resource_id):
            raise ApiError(
                400,
                f"Invalid resource ID: {resource['id']} does not match {resource_id}",
                "invalidResource",
            )
        return resource

    def _check_complete(self, kind: ResourceKind, resource: Resource) -> None:
        for name in kind.required:
            if resource.get(name) in (None, ""):
                raise ApiError(400, f"Required field missing: {name}", "required")

    def _check_references(self, kind: ResourceKind, resource: Resource) -> None:
        if kind is not LOYALTY_OBJECT:
            return
        class_id = str(resource["classId"])
        self.check_resource_id(class_id)
        loyalty_class = self._resources[LOYALTY_CLASS.path].get(class_id)
        if loyalty_class is None:
            raise ApiError(
                404,
                f"IssuerClassNotFoundException: No class with ID '{class_id}' "
                f"exists for issuer {self.issuer_id}.",
                "resourceNotFound",
            )
        if loyalty_class.get("reviewStatus") in _DRAFT:
            raise ApiError(
                400,
                f"Class '{class_id}' is a draft; objects need an approved class.",
                "invalidResource",
            )

    def _store(self, kind: ResourceKind, resource: Resource) -> Resource:
        if kind is LOYALTY_CLASS and resource.get("reviewStatus") in _AUTO_APPROVED:
            resource["reviewStatus"] = "APPROVED"
        self._resources[kind.path][str(resource["id"])] = resource
        return self._view(kind, resource)

    def _view(self, kind: ResourceKind, resource: Resource) -> Resource:
        """What the API returns: objects carry a copy of their class."""
        view = dict(resource)
        if kind is LOYALTY_OBJECT:
            loyalty_class = self._resources[LOYALTY_CLASS.path].get(
                str(view["classId"])
            )
            if loyalty_class is not None:
                view["classReference"] = loyalty_class
        return view

    def _owned_by(self, kind: ResourceKind, owner: str) -> list[Resource]:
        if kind is LOYALTY_CLASS:
            if owner != self.issuer_id:
                raise ApiError(
                    403, "The caller does not have permission", "permissionDenied"
                )
            return [self._view(kind, r) for r in self._resources[kind.path].values()]
        self.check_resource_id(owner)
        return [
            self._view(kind, r)
            for r in self._resources[kind.path].values()
            if r.get("classId") == owner
        ]


def _page_number(value: str | None, name: str, *, default: int) -> int:
    if value is None:
        return default
    if not value.isdigit():
        raise ApiError(400, f"Invalid value for {name}: {value}")
    return int(value)
