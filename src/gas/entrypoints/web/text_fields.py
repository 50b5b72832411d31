"""Only text in any form field, query parameter or JSON string: NUL and other control
characters (tab, line feed and carriage return excepted), lone surrogates and non-characters
are answered 400 before any view sees them (and 404 in a path segment) — on every database alike
(PostgreSQL cannot store NUL at all, and no field of GAS has a use for them).

File names of uploads are not checked here: they are cleaned (gas.domain.jobs.clean_file_name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import Request
from werkzeug.exceptions import BadRequest, NotFound

NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
MESSAGE = (
    "The request contains characters that are not text (such as NUL or other control "
    "characters). Please remove them and try again."
)


class NotText(BadRequest):
    """400 with MESSAGE (given to the instance: the error pages keep only descriptions that
    differ from the class's default)."""

    def __init__(self) -> None:
        super().__init__(MESSAGE)


def has_non_text(value: Any) -> bool:
    """Whether ``value`` (a string, or lists and dicts of them, keys included) holds a
    character that is not text."""
    if isinstance(value, str):
        return NOT_TEXT.search(value) is not None
    if isinstance(value, dict):
        return any(has_non_text(k) or has_non_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_non_text(v) for v in value)
    return False


def _pairs_have_non_text(pairs: Iterable[tuple[str, Any]]) -> bool:
    return any(has_non_text(k) or has_non_text(v) for k, v in pairs)


class TextOnlyRequest(Request):
    """Flask's request, refusing (400) form fields and JSON bodies that are not text as soon as
    they are parsed — whoever parses them first (CSRF protection, a view), so that an upload
    is still never parsed before its size check."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        form = self.__dict__.get("form")
        if form is not None and _pairs_have_non_text(form.items(multi=True)):
            raise NotText()

    def get_json(self, *args: Any, **kwargs: Any) -> Any:
        value = super().get_json(*args, **kwargs)
        if has_non_text(value):
            raise NotText()
        return value


def check_query_and_path(request: Request) -> None:
    """NotText (400) when a query parameter is not text; 404 when a path variable is not (no
    job, token or file has such a name)."""
    if request.view_args and _pairs_have_non_text(request.view_args.items()):
        raise NotFound()
    if _pairs_have_non_text(request.args.items(multi=True)):
        raise NotText()
