"""Coverage as text: the summary under the Tests panel and its tooltip listing every miss."""

from __future__ import annotations

from engine.testing.coverage import Coverage, coverage_detail, coverage_text

STATES = ("greet", "confirm", "reschedule", "voicemail", "done", "bye", "wrong_person", "transfer")
EDGES = (("greet", "yes", "confirm"), ("greet", "no", "bye"), ("confirm", "ok", "done"))


def covered(visited: tuple[str, ...], taken: tuple[tuple[str, str, str], ...]) -> Coverage:
    return Coverage(schema="s", states=STATES, visited=visited, edges=EDGES, taken=taken)


def test_the_summary_counts_states_and_transitions_and_names_the_first_misses() -> None:
    text = coverage_text(covered(("greet",), (EDGES[0],)), cases=1, names_shown=3)
    assert text.splitlines() == [
        "Coverage of the last run (1 case): states 1/8 (12%), transitions 1/3 (33%)",
        "Not reached: confirm, reschedule, voicemail and 4 more",
        "Not taken: 2 transitions (dashed red on the graph)",
    ]


def test_full_coverage_is_one_line() -> None:
    assert coverage_text(covered(STATES, EDGES), cases=2) == (
        "Coverage of the last run (2 cases): states 8/8 (100%), transitions 3/3 (100%)")


def test_the_detail_lists_every_miss_in_order() -> None:
    assert coverage_detail({"bye", "confirm"}, {("greet", "no", "bye")}).splitlines() == [
        "not reached: bye", "not reached: confirm", "not taken: greet --no--> bye"]
    assert coverage_detail(set(), set()) == "Every state reached and every transition taken."
