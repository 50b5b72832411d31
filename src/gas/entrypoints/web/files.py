"""Time-limited signed download links of the local object store."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, send_file

from gas.adapters.localfs import DownloadLinkError, ExpiredLink, LocalObjectStore

bp = Blueprint("files", __name__)


@bp.get("/files/<token>")
def download(token: str) -> Any:
    from gas.entrypoints.web import container

    c = container()
    try:
        key, file_name = c.signer.verify(token)
    except ExpiredLink:
        abort(410, "This download link has expired. Open the job's page for a fresh one.")
    except DownloadLinkError:
        abort(404)
    if not isinstance(c.storage, LocalObjectStore) or not c.storage.exists(key):
        abort(404)
    return send_file(
        c.storage.path_for(key),
        as_attachment=True,
        download_name=file_name,
        mimetype="text/plain" if file_name.endswith((".vcf", ".log", ".tsv")) else None,
        max_age=0,
    )
