"""The OpenAPI description of the results routes (api_results.py): the variant table, the
summary and the downloads. Merged into the document by openapi.py."""

from __future__ import annotations

from typing import Any

from gas.entrypoints.web.openapi import (
    JOB_ID,
    ONE_JOB_ERRORS,
    _error,
    _json_body,
    _nullable,
    _ref,
)
from gas.services.results import FORMATS
from gas.services.variants import DEFAULT_LIMIT, IMPACTS, MAX_LIMIT, SORTS

MAX_NUMBER = 999_999_999_999  # the filters' whole numbers have at most 12 digits
# text: no NUL or other control character (tab, line feed, carriage return excepted) or
# non-character — what every request is held to (text_fields.py). (Lone surrogates, refused
# too, cannot be sent in a URL at all; a range of them would make the pattern one that
# Rust-based validators, and so schemathesis, cannot compile.)
_TEXT = {
    "type": "string",
    "maxLength": 200,
    "pattern": "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f\\ufffe\\uffff]*$",
}

FILTERS_TEXT = (
    "**Filters.** By default there is one row per ALT allele: its most severe transcript "
    "(ties broken MANE Select → canonical → coding). The transcript filters (`gene`, "
    "`consequence`, `impact`, `q`) select an allele when *any* of its transcripts passes them "
    "all, and that transcript is the one shown (the best of those that pass): "
    "`consequence=missense_variant` finds an allele that is missense in one transcript and "
    "intronic in the canonical one, as VEP's filter on any transcript does. The variant "
    "filters (`chrom`, `start`, `end`, `known`, `clinvar`, `max_af`, `record`) apply to the "
    "variant. Filters combine with AND; a repeated `impact` (or a comma-separated list) with "
    "OR. An empty value is no filter."
)


def _query(
    name: str, description: str, schema: dict[str, Any], expected: str, **extra: Any
) -> dict[str, Any]:
    """A query parameter; ``x-expected`` is the API's 400 message for a value its schema
    does not allow (api_results.check_query validates against this very schema)."""
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema,
        "x-expected": expected,
        **extra,
    }


_AT_MOST_200 = "at most 200 characters of text."

FILTER_PARAMETERS: list[dict[str, Any]] = [
    _query("gene", "A gene symbol, exactly (any case).", _TEXT, _AT_MOST_200),
    _query(
        "consequence",
        "A Sequence Ontology term (e.g. `missense_variant`): the transcript's terms include it.",
        {"type": "string", "pattern": "^[A-Za-z0-9_]{1,80}$"},
        "a Sequence Ontology term, e.g. missense_variant.",
    ),
    _query(
        "impact",
        "IMPACT: `HIGH`, `MODERATE`, `LOW`, `MODIFIER` — repeat for several (any of them).",
        {"type": "array", "items": {"type": "string", "enum": list(IMPACTS)}},
        f"each one of {', '.join(IMPACTS)} (repeat the parameter for several).",
        style="form",
        explode=True,
    ),
    _query(
        "chrom",
        "A chromosome; `chr1` and `1`, `chrM`, `M` and `MT` are the same.",
        _TEXT,
        _AT_MOST_200,
    ),
    _query(
        "start",
        "First position (1-based, inclusive), in the input's coordinates.",
        {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER},
        f"a whole number from 1 to {MAX_NUMBER}.",
    ),
    _query(
        "end",
        "Last position (inclusive); before `start`, nothing is selected.",
        {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER},
        f"a whole number from 1 to {MAX_NUMBER}.",
    ),
    _query(
        "known",
        "`true`: variants with an rs id in the input or a match in the reference's known "
        "variants; `false`: the others (novel).",
        {"type": "string", "enum": ["true", "false"]},
        "true or false.",
    ),
    _query(
        "clinvar",
        "Part of the ClinVar clinical significance (any case), e.g. `pathogenic`.",
        _TEXT,
        _AT_MOST_200,
    ),
    _query(
        "max_af",
        "Largest allele frequency of the matching known variant; variants without a known "
        "frequency are kept (a novel variant is rare).",
        {"type": "number", "minimum": 0, "maximum": 1},
        "a number from 0 to 1.",
    ),
    _query(
        "q",
        "Free text (any case) found in the gene symbol, the ID column, the known-variant ids, "
        "the transcript or the HGVS c./p. notation.",
        _TEXT,
        _AT_MOST_200,
    ),
    _query(
        "record",
        "Only the variant that is the n-th record (0-based) of the annotated VCF (the `record` "
        "of a row): with `transcripts=all`, every transcript of one variant.",
        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER},
        f"a whole number from 0 to {MAX_NUMBER}.",
    ),
    _query(
        "transcripts",
        "`all`: one row per transcript (and allele) instead of one per allele.",
        {"type": "string", "enum": ["one", "all"], "default": "one"},
        "one or all.",
    ),
    _query(
        "sort",
        "`pos`: the file's order; `impact`: most severe first (then the file's order); "
        "`gene`: by gene symbol.",
        {"type": "string", "enum": list(SORTS), "default": "pos"},
        f"one of {', '.join(SORTS)}.",
    ),
]

PAGE_PARAMETERS = [
    _query(
        "limit",
        "Rows per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        f"a whole number from 1 to {MAX_LIMIT}.",
    ),
    _query(
        "offset",
        "Rows to skip.",
        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER, "default": 0},
        f"a whole number from 0 to {MAX_NUMBER}.",
    ),
]

FORMAT_PARAMETER = _query(
    "format",
    "`vcf`, `vcf.gz` (BGZF), `tbi` (its tabix index: needs a file sorted by position), "
    "`tsv`, `json`.",
    {"type": "string", "enum": list(FORMATS), "default": "vcf"},
    f"one of {', '.join(FORMATS)}.",
)

_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_TEXT_OR_NULL = _nullable({"type": "string"})

SCHEMAS: dict[str, Any] = {
    "Variant": {
        "type": "object",
        "description": "One ALT allele of a record, with one of its transcripts (or none: an "
        "intergenic or unannotated allele). Missing values are null.",
        "required": [
            "chrom",
            "pos",
            "id",
            "ref",
            "alt",
            "gene",
            "transcript",
            "consequence",
            "impact",
            "hgvsc",
            "hgvsp",
            "record",
            "allele",
        ],
        "properties": {
            "chrom": {"type": "string", "description": "CHROM as in the input."},
            "pos": {"type": "integer"},
            "id": {**_TEXT_OR_NULL, "description": "The ID column (with known-variant ids)."},
            "ref": {"type": "string"},
            "alt": {"type": "string", "description": "This ALT allele."},
            "gene": _TEXT_OR_NULL,
            "gene_id": _TEXT_OR_NULL,
            "transcript": _TEXT_OR_NULL,
            "biotype": _TEXT_OR_NULL,
            "consequence": {
                **_TEXT_OR_NULL,
                "description": "Sequence Ontology terms joined by `&`, most severe first.",
            },
            "most_severe": _TEXT_OR_NULL,
            "impact": _nullable({"type": "string", "enum": list(IMPACTS)}),
            "hgvsc": _TEXT_OR_NULL,
            "hgvsp": _TEXT_OR_NULL,
            "exon": {**_TEXT_OR_NULL, "description": "`rank/total`."},
            "intron": _TEXT_OR_NULL,
            "protein_position": _TEXT_OR_NULL,
            "distance": _nullable({"type": "integer"}),
            "nearest": {**_TEXT_OR_NULL, "description": "Intergenic: the nearest genes."},
            "canonical": _nullable({"type": "boolean"}),
            "mane": _nullable({"type": "boolean"}),
            "known": _nullable({"type": "boolean"}),
            "known_ids": _TEXT_OR_NULL,
            "clinvar": {**_TEXT_OR_NULL, "description": "ClinVar clinical significance."},
            "af": _nullable({"type": "number"}),
            "filter": _TEXT_OR_NULL,
            "variant_class": _TEXT_OR_NULL,
            "grch38_chrom": {
                **_TEXT_OR_NULL,
                "description": "Where the variant was annotated, when lifted to GRCh38.",
            },
            "grch38_pos": _nullable({"type": "integer"}),
            "warnings": _TEXT_OR_NULL,
            "record": {
                "type": "integer",
                "minimum": 0,
                "description": "The record's ordinal (0-based) in the annotated VCF.",
            },
            "allele": {
                "type": "integer",
                "minimum": 1,
                "description": "1-based index of the ALT allele in the record.",
            },
            "top": _nullable(
                {"type": "boolean", "description": "The allele's most severe transcript."}
            ),
        },
    },
    "VariantPage": {
        "type": "object",
        "required": ["total", "offset", "limit", "variants"],
        "properties": {
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": "Rows that pass the filters, on every page.",
            },
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 0},
            "variants": {"type": "array", "items": _ref("Variant")},
        },
    },
    "Summary": {
        "type": "object",
        "description": "What the annotation found, from the job's summary (kept when the "
        "results are archived).",
        "required": [
            "job_id",
            "variants",
            "alleles",
            "by_consequence",
            "by_impact",
            "by_class",
            "by_chromosome",
            "titv",
            "known",
            "top_genes",
            "assembly",
            "warnings",
            "results",
        ],
        "properties": {
            "job_id": {"type": "string", "format": "uuid"},
            "variants": _nullable({"type": "integer", "minimum": 0, "description": "VCF records."}),
            "alleles": _nullable({"type": "integer", "minimum": 0, "description": "ALT alleles."}),
            "level": _nullable(
                {
                    "type": "string",
                    "description": "`transcript` (a reference bundle) or `gene` (the built-in "
                    "gene table).",
                }
            ),
            "reference": _TEXT_OR_NULL,
            "consequence_scope": _nullable(
                {
                    "type": "string",
                    "enum": ["all", "mitochondrial"],
                    "description": "What `by_consequence` and `by_impact` count: every allele, "
                    "only mitochondrial ones (a gene-level run: the built-in rCRS), or none.",
                }
            ),
            "by_consequence": {
                **_COUNTS,
                "description": "Alleles by their most severe consequence (SO term).",
            },
            "by_impact": {**_COUNTS, "description": "Alleles by their most severe IMPACT."},
            "by_class": {**_COUNTS, "description": "Alleles by class (SNV, insertion …)."},
            "by_chromosome": {**_COUNTS, "description": "Records by chromosome, genome order."},
            "by_location": {**_COUNTS, "description": "Records by location (CDS, intron …)."},
            "titv": {
                "type": "object",
                "required": ["transitions", "transversions", "ratio"],
                "properties": {
                    "transitions": _nullable({"type": "integer"}),
                    "transversions": _nullable({"type": "integer"}),
                    "ratio": _nullable({"type": "number"}),
                },
            },
            "known": {
                "type": "object",
                "required": ["known", "novel", "basis"],
                "properties": {
                    "known": _nullable({"type": "integer"}),
                    "novel": _nullable({"type": "integer"}),
                    "basis": {"type": "string", "description": "What makes a record known."},
                },
            },
            "top_genes": {
                "type": "array",
                "description": "Genes with the most HIGH, then MODERATE, alleles.",
                "items": {
                    "type": "object",
                    "required": ["gene", "high", "moderate"],
                    "properties": {
                        "gene": {"type": "string"},
                        "high": {"type": "integer", "minimum": 0},
                        "moderate": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "assembly": {
                "allOf": [_ref("JobAssembly")],
                "type": "object",
                "properties": {"description": {"type": "string"}},
            },
            "warnings": {"type": "array", "items": {"type": "string"}},
            "results": {
                "type": "object",
                "required": ["state", "browsable", "message"],
                "properties": {
                    "state": _nullable(
                        {"type": "string", "enum": ["available", "archived", "restoring"]}
                    ),
                    "browsable": {
                        "type": "boolean",
                        "description": "Whether `/variants` and the downloads answer now.",
                    },
                    "message": {
                        **_TEXT_OR_NULL,
                        "description": "Why not (archived: upgrade; annotated before the "
                        "results browser: re-run).",
                    },
                },
            },
        },
    },
}

_NOT_READABLE = (
    "The variants cannot be read now: the job is not finished or failed; its results are "
    "archived (Free plan: upgrade to Premium) or being restored; or it was annotated before "
    "the results browser existed (re-run it)."
)

_DOWNLOAD_TYPES = {
    "text/plain": "`vcf` (filtered: streamed).",
    "application/gzip": "`vcf.gz`: BGZF (bgzip), readable by htslib and any gzip reader.",
    "application/octet-stream": "`tbi`: the tabix index of the `vcf.gz` with the same filters.",
    "text/tab-separated-values": "`tsv`: a header line, then the rows of `/variants`.",
    "application/json": "`json`: like `/variants`, with every row.",
}


def results_paths() -> dict[str, Any]:
    """The paths of the results routes (``/variants``, ``/summary``, ``/results``)."""
    return {
        "/api/v1/jobs/{job_id}/variants": {
            "get": {
                "operationId": "getJobVariants",
                "summary": "The job's variants: filtered, sorted, paged",
                "description": FILTERS_TEXT,
                "parameters": [JOB_ID, *FILTER_PARAMETERS, *PAGE_PARAMETERS],
                "responses": {
                    "200": _json_body("A page of variants.", "VariantPage"),
                    "400": _error("A filter, `sort`, `limit` or `offset` is not valid."),
                    **ONE_JOB_ERRORS,
                    "409": _error(_NOT_READABLE),
                },
            }
        },
        "/api/v1/jobs/{job_id}/summary": {
            "get": {
                "operationId": "getJobSummary",
                "summary": "The job's summary: counts, Ti/Tv, known/novel, top genes, warnings",
                "description": "Also while the results are archived or being restored.",
                "parameters": [JOB_ID],
                "responses": {
                    "200": {
                        **_json_body("The summary.", "Summary"),
                        "links": {
                            "getJobVariants": {
                                "operationId": "getJobVariants",
                                "parameters": {"job_id": "$response.body#/job_id"},
                            }
                        },
                    },
                    **ONE_JOB_ERRORS,
                    "409": _error(
                        "The job has not completed, or has no summary (annotated before GAS "
                        "kept one)."
                    ),
                },
            }
        },
        "/api/v1/jobs/{job_id}/results": {
            "get": {
                "operationId": "getJobResults",
                "summary": "Download the results: VCF, VCF.gz + tabix index, TSV, JSON",
                "description": "`format=vcf` (the default) without filters redirects to a "
                "short-lived signed URL of the annotated VCF. Every other download is sent "
                "as an attachment (`Content-Disposition` names the file, e.g. "
                "`sample.filtered.annot.vcf.gz`). The filters and `sort`/`transcripts` of "
                "`/variants` apply (paging does not: every row that passes): a filtered VCF "
                "holds the header (with a `##GAS_filter=` line) and the records with at least "
                "one allele that passes, in the file's order.\n\n" + FILTERS_TEXT,
                "parameters": [JOB_ID, FORMAT_PARAMETER, *FILTER_PARAMETERS],
                "responses": {
                    "200": {
                        "description": "The file: "
                        + " ".join(f"{text}" for text in _DOWNLOAD_TYPES.values()),
                        "headers": {
                            "Content-Disposition": {
                                "required": True,
                                "description": 'attachment; filename="…"',
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {
                            media: {"schema": {"type": "string", "format": "binary"}}
                            if media != "application/json"
                            else {"schema": _ref("VariantPage")}
                            for media in _DOWNLOAD_TYPES
                        },
                    },
                    "302": {
                        "description": "The annotated VCF (unfiltered) is at the `Location` "
                        "URL, valid for a few minutes.",
                        "headers": {
                            "Location": {
                                "required": True,
                                "schema": {"type": "string", "format": "uri"},
                            }
                        },
                    },
                    "400": _error("An unknown `format`, or a filter that is not valid."),
                    **ONE_JOB_ERRORS,
                    "409": _error(
                        "No results to download now: the job is not finished, it failed, "
                        "its results are archived (Free plan: upgrade to Premium) or being "
                        "restored (check back later); a filtered download, TSV or JSON of a "
                        "job annotated before the results browser existed (re-run it); or "
                        "`tbi` of a VCF that is not sorted by position."
                    ),
                },
            }
        },
    }
