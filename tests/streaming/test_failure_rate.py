"""The worker's recent failure rate: a sliding window of outcomes, judged green/amber/red."""

from __future__ import annotations

from modelyard.streaming.failures import MIN_ROWS, FailureWindow, judge

MISSING = "required feature is missing (field sepal_length)"


def test_a_window_keeps_the_last_rows_only() -> None:
    window = FailureWindow(size=100)
    window.add(0, [(i, MISSING) for i in range(100)])
    assert window.judge().failed == 100
    window.add(60, [])
    judged = window.judge()
    assert (judged.rows, judged.failed) == (100, 40)
    window.add(500, [])
    assert window.judge().failed == 0 and window.judge().level == "green"
    window.add(0, [(1, MISSING)] * 30)
    window.clear()
    assert (window.judge().rows, window.judge().failed) == (0, 0)


def test_a_batch_larger_than_the_window_keeps_its_mix_in_order() -> None:
    window = FailureWindow(size=10)
    ids = list(range(40))
    failures = [(i, "bad") for i in ids if i % 4 == 0]
    window.add(30, failures, ok_ids=[i for i in ids if i % 4])
    # ids 30..39 are the last ten rows: 32 and 36 failed
    assert (window.judge().rows, window.judge().failed) == (10, 2)


def test_levels_and_reasons() -> None:
    def level(rows: int, failed: int) -> str:
        return judge(rows, failed, "bad", window=200, warning=0.1, critical=0.5).level

    assert level(200, 0) == "green"
    assert level(200, 19) == "green"
    assert level(200, 20) == "amber"
    assert level(200, 100) == "amber"  # half is not most
    assert level(200, 101) == "red"
    assert level(MIN_ROWS - 1, MIN_ROWS - 1) == "green"  # too few rows to judge
    red = judge(200, 184, MISSING, window=200, warning=0.1, critical=0.5)
    assert red.reason == f"92% of the last 200 rows failed: {MISSING}"
    assert judge(200, 3, "x", window=200, warning=0.1, critical=0.5).reason == (
        "3 of the last 200 rows failed"
    )
    assert judge(0, 0, None, window=200, warning=0.1, critical=0.5).reason == (
        "no rows processed yet"
    )
