"""The API's error answers, as OpenAPI documents them: one shape, `{"detail": …}`, per status code.

Every JSON error is `{"detail": "<one sentence>"}` (`ErrorOut`), except request validation (422), whose
`detail` is FastAPI's list of problems (`loc`, `msg`, `type`) or, when a subscription is refused
for what it asks (an unsafe webhook URL, an unknown source), one sentence. Routes that serve pages
(the unsubscribe form) answer errors as an HTML page to a browser (`Accept: text/html`) and as
JSON otherwise. `responses(…)` gives the `responses=` argument of a route.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in one sentence")


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"query\", \"limit\"] or [\"body\", \"target\"]")
    msg: str
    type: str


class UnprocessableOut(BaseModel):
    detail: list[ValidationIssue] | str = Field(
        description="The request's problems, one per parameter or field; or one sentence when a "
        "well-formed subscription is refused (unsafe target, unknown source, bad query)")


class HealthOut(BaseModel):
    status: str = Field(description="`ok`, or `unavailable` when the database does not answer")
    detail: str | None = Field(default=None, description="The kind of failure, when unavailable")


_REF = "#/components/schemas/{model}"
_TEXT_HEADER = {"schema": {"type": "string"}}
_HTML = {"text/html": {"schema": {"type": "string"}}}

ERRORS: dict[int, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Search parameters that cannot be used: a malformed date, "
          "an invalid or foreign cursor, a query the full-text engine rejects"},
    401: {"model": ErrorOut, "description": "No valid API token (`Authorization: Bearer …`)",
          "headers": {"WWW-Authenticate": {"description": "Bearer", **_TEXT_HEADER}}},
    404: {"model": ErrorOut, "description": "No such item, subscription or unsubscribe link"},
    422: {"model": UnprocessableOut, "description": "Parameters or body fail validation, or the "
          "subscription is refused"},
    503: {"model": ErrorOut, "description": "The archive's database cannot be used right now (unreachable, "
          "locked, read-only); try again later",
          "headers": {"Retry-After": {"description": "Seconds to wait", **_TEXT_HEADER}}},
}


def responses(*codes: int, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """The documented error responses `codes` for a route (`html`: also as a page for browsers)."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry = dict(ERRORS[code])
        if html:  # on a page route FastAPI would file the model under text/html: spell both out
            model = entry.pop("model")
            entry["content"] = {"application/json": {"schema": model.model_json_schema(ref_template=_REF)}, **_HTML}
        out[code] = entry
    return out
