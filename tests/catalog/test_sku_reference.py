from __future__ import annotations

import threading

import pytest

from sandbox.catalog import SUITES_CSV
from shared.catalog.reference import SkuReference, SkuReferenceError
from shared.workflow.sources import SkuReferenceLoader, read_location
from tests.catalog.builders import (
    COPILOT_STUDIO_VIRAL,
    MCOPSTN5,
    O365_E3,
    SUBSET_CSV,
    TEAMS_ENTERPRISE,
)

CURRENT = SUBSET_CSV.read_text(encoding="utf-8")


def older_spelling(text: str) -> bytes:
    """How Microsoft's file looked before 2025: ``String_ Id`` header, UTF-8 BOM, CRLF."""
    header, _, rest = text.partition("\n")
    header = header.replace("String_Id", "String_ Id")
    return ("\ufeff" + header + "\n" + rest).replace("\n", "\r\n").encode("utf-8")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_current_spelling_is_keyed_by_sku_guid_with_its_plans():
    reference = SkuReference.parse(CURRENT)
    e3 = reference.get(O365_E3.upper())
    assert e3 is not None
    assert e3.part_number == "ENTERPRISEPACK"
    assert e3.display_name == "Office 365 E3"
    assert "TEAMS1" in {plan.name for plan in e3.plans}
    assert len(e3.plans) == 36


def test_older_spelling_with_bom_and_crlf_reads_the_same_table():
    current = SkuReference.parse(CURRENT)
    older = SkuReference.parse(older_spelling(CURRENT))
    assert dict(older.skus) == dict(current.skus)
    assert older.get(O365_E3) is not None
    assert older.get(O365_E3).part_number == "ENTERPRISEPACK"  # type: ignore[union-attr]


def test_duplicate_rows_are_merged_into_one_plan_each():
    raw_rows = [line for line in CURRENT.splitlines() if COPILOT_STUDIO_VIRAL in line]
    entry = SkuReference.parse(CURRENT).get(COPILOT_STUDIO_VIRAL)
    assert len(raw_rows) == 6
    assert entry is not None
    assert sorted(plan.name for plan in entry.plans) == [
        "CCIBOTS_PRIVPREV_VIRAL",
        "DYN365_CDS_CCI_BOTS",
        "FLOW_CCI_BOTS",
    ]


def test_part_number_mcopstn5_keeps_both_of_its_skus():
    reference = SkuReference.parse(CURRENT)
    assert [reference.get(sku).part_number for sku in MCOPSTN5] == ["MCOPSTN5", "MCOPSTN5"]  # type: ignore[union-attr]


def test_a_table_without_the_documented_columns_is_rejected():
    with pytest.raises(SkuReferenceError, match="GUID"):
        SkuReference.parse("Product_Display_Name,String_Id,Service_Plan_Name,Service_Plan_Id\nx,y,z,w\n")


def test_an_html_error_page_is_not_a_table():
    with pytest.raises(SkuReferenceError):
        SkuReference.parse(b"<html><body>Service unavailable</body></html>")


def test_loader_keeps_the_last_good_copy_when_a_refresh_fails(tmp_path):
    clock = Clock()
    answers: list[bytes | Exception] = [CURRENT.encode(), OSError("download failed"), b"<html>busy</html>"]
    calls: list[str] = []

    def fetch(location: str) -> bytes:
        calls.append(location)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    loader = SkuReferenceLoader(
        "https://example.invalid/sku.csv",
        fetch=fetch,
        ttl_seconds=60,
        retry_seconds=10,
        cache_dir=tmp_path,
        clock=clock,
    )
    first = loader.get()
    clock.now = 61
    assert loader.get() is first  # the download failed
    clock.now = 65
    assert loader.get() is first  # within the retry pause: no new attempt
    clock.now = 72
    assert loader.get() is first  # the download returned garbage
    assert len(calls) == 3
    assert first.get(O365_E3) is not None


def test_loader_replaces_the_copy_after_the_ttl(tmp_path):
    clock = Clock()
    without_teams = "\n".join(line for line in CURRENT.splitlines() if TEAMS_ENTERPRISE not in line)
    answers = [without_teams.encode(), CURRENT.encode()]
    loader = SkuReferenceLoader(
        "table.csv", fetch=lambda _: answers.pop(0), ttl_seconds=60, cache_dir=tmp_path, clock=clock
    )
    assert TEAMS_ENTERPRISE not in loader.get()
    clock.now = 30
    assert TEAMS_ENTERPRISE not in loader.get()
    clock.now = 61
    assert TEAMS_ENTERPRISE in loader.get()


def test_callers_keep_the_current_copy_while_one_caller_refreshes(tmp_path):
    clock = Clock()
    release = threading.Event()
    started = threading.Event()
    without_teams = "\n".join(line for line in CURRENT.splitlines() if TEAMS_ENTERPRISE not in line)

    def fetch(location: str) -> bytes:
        answer = answers.pop(0)
        if not answers:  # the refresh: hold the download until the test lets go
            started.set()
            release.wait(5)
        return answer

    answers = [without_teams.encode(), CURRENT.encode()]
    loader = SkuReferenceLoader("table.csv", fetch=fetch, ttl_seconds=60, cache_dir=tmp_path, clock=clock)
    old = loader.get()
    clock.now = 61
    refreshed: list[SkuReference] = []
    refresher = threading.Thread(target=lambda: refreshed.append(loader.get()))
    refresher.start()
    assert started.wait(5)
    assert loader.get() is old  # not held up by the download in flight
    release.set()
    refresher.join(5)
    assert TEAMS_ENTERPRISE in refreshed[0]
    assert TEAMS_ENTERPRISE in loader.get()


def test_a_new_worker_starts_from_the_cache_file_while_the_source_is_down(tmp_path):
    SkuReferenceLoader(
        "https://example.invalid/sku.csv", fetch=lambda _: CURRENT.encode(), cache_dir=tmp_path
    ).get()

    def unreachable(location: str) -> bytes:
        raise ConnectionError(location)

    restarted = SkuReferenceLoader(
        "https://example.invalid/sku.csv", fetch=unreachable, ttl_seconds=0, cache_dir=tmp_path
    )
    assert restarted.get().get(O365_E3) is not None


def test_loader_without_any_good_copy_says_so(tmp_path):
    def unreachable(location: str) -> bytes:
        raise ConnectionError(location)

    with pytest.raises(SkuReferenceError, match="no copy"):
        SkuReferenceLoader("https://example.invalid/sku.csv", fetch=unreachable, cache_dir=tmp_path).get()


def test_default_fetch_reads_a_path_and_refuses_plain_http(tmp_path):
    path = tmp_path / "table.csv"
    path.write_bytes(older_spelling(CURRENT))
    loader = SkuReferenceLoader(str(path), cache_dir=tmp_path / "cache")
    assert loader.get().get(O365_E3) is not None
    with pytest.raises(SkuReferenceError, match="https"):
        read_location("http://example.invalid/table.csv")


def test_a_large_extract_with_repeated_rows_holds_every_sku_once():
    reference = SkuReference.load(SUITES_CSV)  # 2,846 rows, some repeated, and MCOPSTN5's two GUIDs
    assert len(reference) == 100
    assert all(reference.get(sku) is not None for sku in MCOPSTN5)
