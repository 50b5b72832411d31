"""The Free and Premium plans and the rules that depend on them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Plan(StrEnum):
    FREE = "free"
    PREMIUM = "premium"


@dataclass(frozen=True)
class PlanPolicy:
    """Limits per plan. Read at the moment a rule applies, never cached from submission."""

    free_max_upload_bytes: int
    premium_max_upload_bytes: int
    free_retention_seconds: int
    # the jobs one user may have PENDING or RUNNING at once, whatever the plan (0: no cap)
    max_jobs_in_flight: int = 0
    # whether an account must have verified its email address to submit jobs
    require_verified_email: bool = False

    def max_upload_bytes(self, plan: Plan) -> int:
        if plan is Plan.PREMIUM:
            return self.premium_max_upload_bytes
        return self.free_max_upload_bytes

    @property
    def largest_upload_bytes(self) -> int:
        return max(self.free_max_upload_bytes, self.premium_max_upload_bytes)


def human_size(n: int) -> str:
    """1536 -> '1.5 KB'; sizes in binary units as browsers and file managers show them."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            if unit == "bytes":
                return f"{int(size)} bytes"
            return f"{size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        size /= 1024
    raise AssertionError("unreachable")
