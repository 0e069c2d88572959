"""`make demo`'s story at a reduced size: each situation once, against the demo's own Azurite,
sandbox and local host, judged by the demo's exit status and its summary."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from devhost import demo

pytestmark = pytest.mark.slow


def children() -> set[int]:
    """This process's live child processes (Linux /proc)."""
    mine = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == mine and fields[0] != "Z":
            found.add(int(entry.name))
    return found


def test_every_situation_ends_as_its_case_expects_and_everything_started_is_stopped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = children()

    status = demo.main(demo.SITUATIONS)

    out = capsys.readouterr().out
    assert status == 0, out  # the demo checks each case's end state against its expectation
    assert children() <= before
    assert "0 (1 fixed)" in out  # the stranded user, reported at cutover, moved after the retry
    assert "at most one per transfer: True" in out
    # GDAP approved by the customers; assignment, consent and checks made by the product itself
    assert "(granular-admin-relationship-approved)" in out
    assert "the access assignment is active" in out
    assert "the partner's application is consented in the customer's tenant" in out
    assert "delegated access verified" in out
    assert "SPB Transferred (transfer)" in out  # adatum: Business Premium moved by the transfer
    assert "EXCHANGESTANDARD NotIncluded (rebuy)" in out  # and what its partner left out was bought
    assert re.search(
        r"relecloud: option upToCap: buys 300 x Microsoft 365 Business Premium\b.*; 10 user\(s\) left out",
        out,
    )
    assert "lamna: the customer's country is CA" in out  # refused on the tenant's country, typed US
    said = " ".join(out.split())  # as one line, wherever the console wrapped it
    least = r"after completion \(least privilege\): (\d+) reduced to Directory Readers.*?(\d+) ended"
    gdap = re.search(least, said)
    assert gdap is not None
    assert int(gdap.group(1)) + int(gdap.group(2)) > 0  # reduced while watched, or ended
    assert "every item bought new commerce and of its customer's segment: True" in said
    assert "1 Microsoft Customer Agreement(s) confirmed on a customer's behalf" in said  # litware's
    assert re.search(
        r"customer00006: POST \.\.\./cancel \{refundPurchases\} -> Cancelled; [1-9]\d* subscription", out
    )
    throttled = re.search(r"(\d+) answered 429 and were waited out", out)
    assert throttled
    assert int(throttled[1]) >= 1  # the cart's, and Graph's during the cutovers


def test_a_transfer_ending_otherwise_than_its_case_expects_fails_the_demo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = demo.Case("customer00006", "expected to fail, but completes", expected="Failed")

    assert demo.main((wrong,)) == 1
    assert "customer00006 ended Completed, expected Failed" in capsys.readouterr().out
