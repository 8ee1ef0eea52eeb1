"""A kernel's state place by place, as the timeline plans it (no kernel here: what a run
changed is told to it as a warm kernel would; test_kernel.py runs the real one)."""
from __future__ import annotations

from deckrun.execute.timeline import START, Timeline
from deckrun.source.analysis import code_facts

# A deck like Session 12's: a translator, then a classifier reusing the name `model`.
DECK = [
    "import torch",                               # 0
    "tokenizer = make_tokenizer()",               # 1
    "model = build_translator(tokenizer)",        # 2
    "model.train()",                              # 3
    "sentence = 'she reads'",                     # 4
    "out = model.generate(tokenizer(sentence))",  # 5
    "labels = load_labels()",                     # 6
    "model = build_classifier(labels)",           # 7
    "print(model(labels))",                       # 8
]


def ran(timeline: Timeline, *cells: int, code: str | None = None, lost: frozenset = frozenset()) -> None:
    """Tell the timeline that the kernel ran these cells (what they changed: what their
    code binds or changes, as the kernel would have seen)."""
    for index in cells:
        step = timeline.step(index, code)
        facts = code_facts(step.code)
        timeline.moved(step)
        timeline.record(step, facts.binds | facts.mutates, facts.mutates, lost)


def warm() -> Timeline:
    timeline = Timeline(list(DECK))
    ran(timeline, *range(len(DECK)))
    return timeline


def test_a_fresh_kernel_runs_what_the_stale_cells_need_in_deck_order():
    timeline = Timeline(list(DECK), keeping=False)
    assert timeline.plan([5]) == [1, 2, 3, 4, 5]  # tokenizer, the model and its training, the sentence
    assert timeline.plan([8]) == [6, 7, 8]
    assert timeline.plan([4, 8]) == [4, 6, 7, 8]


def test_a_warm_kernel_goes_back_by_putting_versions_back():
    timeline = warm()
    assert all(timeline.valid())
    assert timeline.next_replay(5) is None  # nothing to run again: every version is kept
    step = timeline.step(5)
    assert step.assign == {"model": 4}             # the trained translator (cell 3's), not the classifier
    assert step.remove == ("labels", "out")        # made at or after slide 5: not there when it runs
    assert step.reads == {"model": 4, "sentence": 5, "tokenizer": 2}


def test_an_edit_carries_forward_to_the_cells_that_read_what_it_changed():
    timeline = warm()
    timeline.set_code(4, "sentence = 'he writes'")
    ran(timeline, 4)
    valid = timeline.valid()
    assert valid[5] is False                  # it read the old sentence
    assert valid[6] and valid[7] and valid[8]  # they read nothing the edit changed
    assert timeline.next_replay(8) is None
    assert timeline.plan([5]) == [5]          # the new sentence is there: run it


def test_an_invalid_run_is_replayed_only_for_a_cell_that_needs_what_it_made():
    timeline = warm()
    timeline.set_code(1, "tokenizer = make_tokenizer(lower=True)")
    ran(timeline, 1)
    assert timeline.valid()[2:6] == [False, False, True, False]
    assert timeline.next_replay(8) is None  # the classifier reads nothing the edit changed
    assert timeline.plan([5]) == [2, 3, 5]   # the translator is built and trained again first


def test_a_lost_version_is_made_again_by_its_cell():
    timeline = warm()
    ran(timeline, 3, lost=frozenset({("model", 3)}))  # trained again, with no copy of the untrained model
    assert timeline.plan([3]) == [2, 3]  # to train it from scratch, build it again first
    assert timeline.plan([5]) == [5]     # the trained one is kept


def test_a_cell_that_changes_a_name_it_reads_is_not_its_maker():
    timeline = warm()
    assert timeline.step(3).protect == ("model",)  # copied before it trains the model in place
    assert timeline.step(3).inputs == {"model": (3, timeline.runs[2].serial)}


def test_a_rerun_of_the_same_code_on_the_same_state_keeps_what_read_it_valid():
    timeline = warm()
    ran(timeline, 3)
    assert all(timeline.valid())


def test_cells_added_or_removed_forget_the_runs_from_the_first_change_on():
    timeline = warm()
    timeline.update(DECK[:4] + ["extra = 1"] + DECK[4:])
    assert set(timeline.runs) == {0, 1, 2, 3}
    assert timeline.plan([6]) == [5, 6]  # the sentence has not run at its new place (the extra cell is not needed)


def test_code_that_cannot_be_read_may_change_anything():
    timeline = warm()
    timeline.set_code(6, "%time labels = load_labels()")
    assert timeline.valid()[6:] == [False, False, False]
    assert 6 in timeline.plan([8])


def test_names_the_kernel_started_with():
    timeline = Timeline(["x = data + 1"])
    timeline.start(frozenset({"data"}))
    assert timeline.step(0).inputs == {"data": START}
    assert timeline.plan([0]) == [0]
