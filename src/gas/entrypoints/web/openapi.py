"""The OpenAPI 3.1 document of the JSON API, served at ``/api/v1/openapi.json``.

Written by hand next to the routes in ``api.py``; tests/integration/api/test_schemathesis.py
checks the running app against it.
"""

from __future__ import annotations

from typing import Any

from gas import __version__ as gas_version
from gas.services.jobs import ASSEMBLIES, DEFAULT_ASSEMBLY

OPENAPI_VERSION = "3.1.0"
EXAMPLE_VCF = (
    "##fileformat=VCFv4.2\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    "1\t69511\t.\tA\tG\t50\tPASS\t.\n"
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _error(description: str) -> dict[str, Any]:
    return _json_body(description, "Error")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or null (OpenAPI 3.1 / JSON Schema 2020-12 style)."""
    kind = schema["type"]
    out = {**schema, "type": [kind, "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


UNAUTHORIZED = {
    "description": "No API token, or an unknown or revoked one.",
    "headers": {
        "WWW-Authenticate": {
            "description": 'The bearer challenge, `Bearer realm="gas"` (with '
            '`error="invalid_token"` when the token sent is not valid).',
            "schema": {"type": "string"},
        }
    },
    "content": {"application/json": {"schema": _ref("Error")}},
}

JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "The job's id (a UUID, as returned when it was submitted).",
    "schema": {"type": "string", "format": "uuid"},
}

# Responses of the routes that read one job.
ONE_JOB_ERRORS = {
    "401": UNAUTHORIZED,
    "403": _error("The job belongs to another user."),
    "404": _error("No job with this id (including ids that are not UUIDs)."),
}


def _job_links(*operations: str, source: str = "/id") -> dict[str, Any]:
    """OpenAPI links from a response carrying a job (its id at ``source``, a JSON pointer) to
    the operations on that job."""
    return {
        op: {"operationId": op, "parameters": {"job_id": f"$response.body#{source}"}}
        for op in operations
    }


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, written for the user."}
        },
    },
    "Job": {
        "type": "object",
        "required": [
            "id",
            "status",
            "input_file_name",
            "assembly",
            "submitted_at",
            "completed_at",
            "error",
            "results",
            "links",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {
                "type": "string",
                "enum": ["PENDING", "RUNNING", "COMPLETED", "FAILED"],
                "description": "PENDING → RUNNING → COMPLETED, or FAILED (see `error`).",
            },
            "input_file_name": {"type": "string"},
            "input_size": _nullable({"type": "integer", "minimum": 0}),
            "assembly": _ref("JobAssembly"),
            "submitted_at": {"type": "string", "format": "date-time"},
            "started_at": _nullable({"type": "string", "format": "date-time"}),
            "completed_at": _nullable({"type": "string", "format": "date-time"}),
            "progress": _nullable(
                {
                    "type": "number",
                    "minimum": 0,
                    "maximum": 1,
                    "description": "How far a running job has got (0 to 1).",
                }
            ),
            "queue_position": _nullable(
                {
                    "type": "integer",
                    "minimum": 1,
                    "description": "A PENDING job's place in the annotation queue: 1 + the "
                    "PENDING jobs (of every user) submitted before it; null otherwise.",
                }
            ),
            "variant_count": _nullable(
                {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The input's VCF records, once the job has COMPLETED.",
                }
            ),
            "error": _nullable(
                {"type": "string", "description": "Why a FAILED job failed, in one line."}
            ),
            "results": {
                "type": "object",
                "required": ["state"],
                "properties": {
                    "state": _nullable(
                        {
                            "type": "string",
                            "enum": ["available", "archived", "restoring"],
                            "description": "null until the job has COMPLETED. `archived`: a "
                            "Free plan's download window has ended (upgrade to Premium to "
                            "download); `restoring`: coming back from the archive.",
                        }
                    ),
                    "expected_at": _nullable(
                        {
                            "type": "string",
                            "format": "date-time",
                            "description": "Present while `state` is `restoring`: when the "
                            "results are expected back (null if the archive gave no estimate).",
                        }
                    ),
                },
            },
            "links": {
                "type": "object",
                "required": ["self", "results", "log", "html"],
                "properties": {
                    "self": {"type": "string", "format": "uri"},
                    "results": {"type": "string", "format": "uri"},
                    "log": {"type": "string", "format": "uri"},
                    "summary": {"type": "string", "format": "uri"},
                    "variants": {"type": "string", "format": "uri"},
                    "html": {
                        "type": "string",
                        "format": "uri",
                        "description": "The job's page in the web UI.",
                    },
                },
            },
        },
    },
    "JobAssembly": {
        "type": "object",
        "description": "The input's genome assembly: what was requested at upload and what "
        "the annotation found and did. Everything but `requested` is null (and `warnings` "
        "empty) until the annotation has reported it, and for jobs annotated before it did.",
        "required": ["requested", "input", "annotated_on", "lifted", "evidence", "warnings"],
        "properties": {
            "requested": {
                "type": "string",
                "enum": list(ASSEMBLIES),
                "description": "The `assembly` field of the upload; `auto`: detected from "
                "the file's header.",
            },
            "input": _nullable(
                {
                    "type": "string",
                    "description": "The assembly the input is on: `GRCh38`, `GRCh37`, "
                    "`NCBI36`, `unknown` (the header did not tell), or another name.",
                    "examples": ["GRCh37"],
                }
            ),
            "annotated_on": _nullable(
                {
                    "type": "string",
                    "description": "The assembly of the reference the variants were "
                    "annotated with.",
                    "examples": ["GRCh38"],
                }
            ),
            "lifted": _nullable(
                {
                    "type": "boolean",
                    "description": "Whether positions were lifted from `input` to "
                    "`annotated_on` for the annotation.",
                }
            ),
            "evidence": _nullable(
                {
                    "type": "string",
                    "description": "Why the input is taken to be on `input`, for people "
                    "(the header line that says so).",
                }
            ),
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Assembly warnings the user should read, one sentence each.",
            },
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "total", "limit", "offset"],
        "properties": {
            "jobs": {
                "type": "array",
                "items": _ref("Job"),
                "description": "In the order asked for (`sort`; newest first by default).",
            },
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": "How many jobs match `q` and `status`, on every page.",
            },
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "RerunRequest": {
        "type": "object",
        "properties": {
            "assembly": {
                "type": "string",
                "enum": list(ASSEMBLIES),
                "description": "The input's genome assembly for the new job (`auto`: detect "
                "it from the header). Default: what was chosen for the original job.",
            }
        },
        "additionalProperties": False,  # an unknown field is a 400, not silently ignored
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "error"]},
            "database": {"type": "string"},
            "roles": {
                "type": "object",
                "description": "Under `gas serve`: each role (web, annotator, notifier, "
                "archiver, restorer) and its `status`; `degraded` when one is not `ok`. The "
                "supervisor's details (`state`, `pid`, … `last_error`) only for the operator: "
                "with `GAS_HEALTHZ_TOKEN` set, a client sending `Authorization: Bearer <that "
                "token>`; without it, a loopback client.",
                "additionalProperties": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "backing off", "down"]},
                        "state": {
                            "type": "string",
                            "enum": ["running", "restarting", "crash-looping", "stopped"],
                        },
                        "pid": {"type": ["integer", "null"]},
                        "restarts": {"type": "integer"},
                        "failures_in_a_row": {"type": "integer"},
                        "last_exit": {"type": ["string", "null"]},
                        "last_error": {"type": ["string", "null"]},
                        "last_failure_at": {"type": ["string", "null"], "format": "date-time"},
                        "next_restart_at": {"type": ["string", "null"], "format": "date-time"},
                    },
                },
            },
        },
    },
}


def openapi_document(server_url: str) -> dict[str, Any]:
    """The OpenAPI document, with ``server_url`` (this site's root) as its server."""
    from gas.entrypoints.web.api import (
        DEFAULT_PAGE_SIZE,
        MAX_OFFSET,
        MAX_PAGE_SIZE,
        MAX_SEARCH_LENGTH,
    )
    from gas.entrypoints.web.openapi_results import SCHEMAS as RESULTS_SCHEMAS
    from gas.entrypoints.web.openapi_results import results_paths
    from gas.ports import JOB_SORTS

    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "GAS — Genomics Annotation Service API",
            "version": gas_version,
            "description": "Submit VCF files for annotation, follow the jobs and download "
            "their results. Authenticate with an API token (`gas tokens create EMAIL`) in an "
            '`Authorization: Bearer <token>` header. Every error is `{"error": "..."}`.',
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Whether the web process can reach its database",
                    "security": [],
                    "responses": {
                        "200": _json_body("Healthy.", "Health"),
                        "503": _json_body("The database cannot be reached.", "Health"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (for the operators' scraper, not API clients)",
                    "description": "The text exposition format. With `GAS_METRICS_TOKEN` set, "
                    "only with `Authorization: Bearer <that token>`; without it, only from a "
                    "loopback address.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "401": {"description": "A metrics token is configured; it was not sent."},
                        "403": {"description": "Not from a loopback address (no token set)."},
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
            "/api/v1/jobs": {
                "post": {
                    "operationId": "submitJob",
                    "summary": "Submit a VCF file for annotation",
                    "description": "The file must fit the caller's plan (Free: 150 KB by "
                    "default). Nothing is kept of a refused upload.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["file"],
                                    "properties": {
                                        "file": {
                                            "type": "string",
                                            "contentMediaType": "application/octet-stream",
                                            "description": "The VCF (plain, gzip or bgzip).",
                                            "examples": [EXAMPLE_VCF],
                                        },
                                        "assembly": {
                                            "type": "string",
                                            "enum": list(ASSEMBLIES),
                                            "default": DEFAULT_ASSEMBLY,
                                            "description": "The input's genome assembly: "
                                            "`auto` (the default) detects it from the "
                                            "file's header. The job's `assembly` says "
                                            "what was found and whether positions were "
                                            "lifted.",
                                        },
                                    },
                                },
                                "encoding": {"file": {"contentType": "application/octet-stream"}},
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Accepted: the new job (PENDING).",
                            "headers": {
                                "Location": {
                                    "description": "The job's URL.",
                                    "schema": {"type": "string", "format": "uri"},
                                }
                            },
                            "content": {"application/json": {"schema": _ref("Job")}},
                            "links": _job_links(
                                "getJob", "getJobResults", "getJobLog", "deleteJob"
                            ),
                        },
                        "400": _error(
                            "No `file` field, a file that is not a VCF, or an unknown assembly."
                        ),
                        "401": UNAUTHORIZED,
                        "413": _error(
                            "The file is larger than the caller's plan allows (a gzip or "
                            "bgzip file: what it decompresses to)."
                        ),
                    },
                },
                "get": {
                    "operationId": "listJobs",
                    "summary": "The caller's jobs, newest first",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_PAGE_SIZE,
                                "default": DEFAULT_PAGE_SIZE,
                            },
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": MAX_OFFSET,
                                "default": 0,
                            },
                        },
                        {
                            "name": "q",
                            "in": "query",
                            "description": "Only jobs whose input file name contains this "
                            "(ignoring case).",
                            "schema": {
                                "type": "string",
                                "maxLength": MAX_SEARCH_LENGTH,
                                "pattern": TEXT_PATTERN,
                            },
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "description": "Only jobs in these statuses (repeat the "
                            "parameter for several).",
                            "style": "form",
                            "explode": True,
                            "schema": {
                                "type": "array",
                                "items": {
                                    "type": "string",
                                    "enum": ["PENDING", "RUNNING", "COMPLETED", "FAILED"],
                                },
                            },
                        },
                        {
                            "name": "sort",
                            "in": "query",
                            "description": "`newest` or `oldest` (request time), `name` (input "
                            "file name, then newest), `status` (RUNNING, PENDING, FAILED, "
                            "COMPLETED, then newest).",
                            "schema": {
                                "type": "string",
                                "enum": list(JOB_SORTS),
                                "default": "newest",
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            **_json_body("The jobs.", "JobList"),
                            "links": _job_links(
                                "getJob", "getJobResults", "getJobLog", source="/jobs/0/id"
                            ),
                        },
                        "400": _error(
                            "`limit` or `offset` is not a number in range, or `q`, `status` "
                            "or `sort` is not one the API knows."
                        ),
                        "401": UNAUTHORIZED,
                    },
                },
            },
            "/api/v1/jobs/{job_id}": {
                "get": {
                    "operationId": "getJob",
                    "summary": "One job",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": {
                            **_json_body("The job.", "Job"),
                            "links": _job_links(
                                "getJobResults",
                                "getJobLog",
                                "rerunJob",
                                "getJobSummary",
                                "getJobVariants",
                            ),
                        },
                        **ONE_JOB_ERRORS,
                    },
                },
                "delete": {
                    "operationId": "deleteJob",
                    "summary": "Delete a job and all its files",
                    "description": "Deletes the job with its input file, annotated results "
                    "(every format, the variant table), log and summary, and any archived "
                    "copy; pending archive timers and restores of it then do nothing. A "
                    "second delete is a 404. A RUNNING job cannot be deleted until it ends.",
                    "parameters": [JOB_ID],
                    "responses": {
                        "204": {"description": "Deleted."},
                        **ONE_JOB_ERRORS,
                        "409": _error("The job is RUNNING: delete it once it has ended."),
                    },
                },
            },
            "/api/v1/jobs/{job_id}/rerun": {
                "post": {
                    "operationId": "rerunJob",
                    "summary": "Annotate a job's input again, as a new job",
                    "description": "Copies the ended job's stored input to a new job (PENDING) "
                    "annotated with the reference data installed now — for example after a "
                    "reference bundle was installed, or on another assembly. The caller's "
                    "plan as of now applies: an input over its limit is refused with 413. "
                    "The original job is unchanged; deleting either never deletes the "
                    "other's input.",
                    "parameters": [JOB_ID],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("RerunRequest")}},
                    },
                    "responses": {
                        "201": {
                            "description": "The new job (PENDING).",
                            "headers": {
                                "Location": {
                                    "description": "The new job's URL.",
                                    "schema": {"type": "string", "format": "uri"},
                                }
                            },
                            "content": {"application/json": {"schema": _ref("Job")}},
                            "links": _job_links("getJob", "deleteJob"),
                        },
                        "400": _error(
                            "The body is not a JSON object, or names an unknown assembly."
                        ),
                        **ONE_JOB_ERRORS,
                        "409": _error(
                            "The job has not ended yet, or its input file is no longer stored."
                        ),
                        "413": _error(
                            "The input is larger than the caller's plan allows now (a Free "
                            "account re-running a file annotated on Premium)."
                        ),
                    },
                }
            },
            # the results routes: /variants, /summary, /results (openapi_results.py)
            **results_paths(),
            "/api/v1/jobs/{job_id}/log": {
                "get": {
                    "operationId": "getJobLog",
                    "summary": "The job's annotation log",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": {
                            "description": "The log.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        **ONE_JOB_ERRORS,
                        "409": _error("The job has no log yet."),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token from `gas tokens create EMAIL`.",
                }
            },
            "schemas": {**SCHEMAS, **RESULTS_SCHEMAS},
        },
    }
    return with_request_guards(document)


# Text only (gas.entrypoints.web.text_fields): no NUL or other control character (tab, line
# feed and carriage return excepted) and no non-character. (Lone surrogates, refused too, cannot
# be sent in a URL; a range of them makes a pattern Rust-based validators cannot compile.)
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$"
NOT_TEXT_400 = (
    "A query parameter or body field contains characters that are not text (NUL or another "
    "control character)."
)
TOO_MANY = {
    "description": "Too many jobs submitted lately (`GAS_RATE_LIMIT_UPLOADS`), or too many "
    "jobs of the caller PENDING or RUNNING at once (`GAS_MAX_JOBS_IN_FLIGHT`).",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
    "content": {"application/json": {"schema": _ref("Error")}},
}
# The operations that create jobs, and so count against the abuse limits.
RATE_LIMITED_OPERATIONS = {"submitJob", "rerunJob"}


def with_request_guards(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation taking query parameters or a body may answer 400 for non-text
    characters (gas.entrypoints.web.text_fields); the job-creating ones 429 (abuse limits)."""
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            queries = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
            for parameter in queries:  # free text: say that it must be text
                schema = parameter.get("schema", {})
                if schema.get("type") == "string" and not {"pattern", "enum", "format"} & set(
                    schema
                ):
                    schema["pattern"] = TEXT_PATTERN
            if queries or "requestBody" in operation:
                responses.setdefault("400", _error(NOT_TEXT_400))
            if operation.get("operationId") in RATE_LIMITED_OPERATIONS:
                responses.setdefault("429", TOO_MANY)
    return document
