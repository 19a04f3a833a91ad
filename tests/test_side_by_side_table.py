"""The table bench/side_by_side.py prints: medians over runs and the ratios (pure logic; the
bench itself runs by hand, docs/performance.md "Side by side with the original")."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from side_by_side import medians, ratio_table  # noqa: E402


def run(deployment, scenario, rps, p99, cpu, errors=0):
    return {
        "deployment": deployment,
        "scenario": scenario,
        "rps": rps,
        "p99_ms": p99,
        "cpu_ms_per_request": cpu,
        "errors": errors,
    }


def test_the_median_of_the_runs_of_each_deployment_and_scenario():
    records = [
        run("original", "a", 1.4, 5397.4, 497.1),
        run("original", "a", 2.4, 3279.8, 357.5),
        run("original", "a", 1.3, 5732.4, 450.0),
        run("this", "a", 99.6, 181.0, 9.0, errors=1),
        run("this", "a", 56.6, 657.6, 11.5),
    ]
    summary = medians(records)
    assert summary[("original", "a")] == {
        "runs": 3,
        "errors": 0,
        "rps": 1.4,
        "p99_ms": 5397.4,
        "cpu_ms_per_request": 450.0,
    }
    assert summary[("this", "a")]["rps"] == (99.6 + 56.6) / 2
    assert summary[("this", "a")]["errors"] == 1


def test_ratios_say_how_many_times_faster_and_cheaper_this_service_is():
    table = ratio_table(
        [
            run("original", "a", 1.4, 5397.0, 450.0),
            run("this", "a", 99.6, 181.0, 9.23),
            run("original", "write", 24.2, 315.0, 26.7, errors=2),
            run("this", "write", 41.3, 199.0, 23.9),
            run("this", "e", 1013.0, 71.3, 1.26),  # no figure of the original: no row
        ]
    ).splitlines()
    assert len(table) == 4
    assert table[2] == "| (a) `/results?per_page=100` | 1.4 → 99.6 | 71.1× | 5397 → 181 | 450 → 9.23 | 48.8× |"
    assert table[3] == "| uploads, 4 writers | 24.2 → 41.3 | 1.7× | 315 → 199 | 26.7 → 23.9 | 1.1× (2 errors) |"


def test_a_scenario_nothing_answered_in_has_no_ratio():
    table = ratio_table([run("original", "c", 0.0, 0.0, None), run("this", "c", 96.6, 210.0, 9.5)]).splitlines()
    assert table[2] == "| (c) `:search`, 20 per page | 0 → 96.6 | – | 0 → 210 | – → 9.5 | – |"
