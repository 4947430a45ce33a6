"""The convergence check lives in the shared harness: tests/harness/convergence.py."""

from tests.harness.convergence import (
    count_logged,
    issues_naming,
    mismatches,
    open_issues,
    ours,
    reauth_flows,
    tracebacks,
    wait_converged,
    wait_until,
)

__all__ = [
    "count_logged",
    "issues_naming",
    "mismatches",
    "open_issues",
    "ours",
    "reauth_flows",
    "tracebacks",
    "wait_converged",
    "wait_until",
]
