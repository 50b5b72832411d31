"""Logging to stdout, one line per event, tagged with the process role."""

from __future__ import annotations

import logging
import sys

from gas.entrypoints.log_redaction import RedactSecrets


def configure(role: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)-7s {role:<9} %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
        )
    )
    handler.addFilter(RedactSecrets())  # no password hash, token or SQL parameter in a log
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" chatter
