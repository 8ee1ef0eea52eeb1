"""Replay analysis: which cells must run again for the state a rerun needs, what a warm
kernel may skip, and the order that lets the preview show an edited cell first."""
from __future__ import annotations

from deckrun.execute.warm import ValueLedger
from deckrun.source.analysis import code_facts, replay_set, run_order, warm_replays

# A deck like Session 12's: a translator, then a classifier reusing the name `model`.
DECK = [
    "import torch",                          # 0
    "tokenizer = make_tokenizer()",           # 1
    "model = build_translator(tokenizer)",    # 2
    "model.train()",                          # 3
    "sentence = 'she reads'",                 # 4  (the edited cell)
    "out = model.generate(tokenizer(sentence))",  # 5
    "labels = load_labels()",                 # 6
    "model = build_classifier(labels)",       # 7
    "print(model(labels))",                   # 8
]
FACTS = [code_facts(code) for code in DECK]


def test_names_bound_needed_and_mentioned():
    facts = code_facts("y = x + 1\ndef f():\n    return z\nfor i in y: pass")
    assert facts.binds == {"y", "f", "i"}
    assert facts.needs == {"x", "z"}
    assert code_facts("model.train()").mentions == {"model"}
    changes = code_facts("a.b.fit(c)\ne[0] = 1\nf.g = 2\nh = i + j\nk.append(l)\nm.add_(1)\nprint(n(o))")
    assert changes.changes == {"a", "e", "f", "h", "k", "m"}  # not c, i, j, l, n, o: used
    assert not code_facts("%pip install x").understood


def test_replays_rebuild_what_the_stale_cells_need():
    # 5 needs model (bound by 2, changed by 3), tokenizer (1; 2 needs it too), sentence (4).
    assert replay_set(FACTS, [5]) == [1, 2, 3, 4]
    assert replay_set(FACTS, [8]) == [6, 7]
    assert replay_set(FACTS, [4]) == []
    # A cell that cannot be read makes every cell before it needed.
    magic = FACTS[:3] + [code_facts("%time x = 1"), code_facts("print(x)")]
    assert replay_set(magic, [4]) == [0, 1, 2, 3]


def test_a_warm_kernel_skips_the_state_it_holds():
    stale = [4, 5, 6, 7, 8]
    assert replay_set(FACTS, stale) == [1, 2, 3]
    # It ran the deck up to cell 4 only: its model is the translator.
    assert warm_replays(FACTS, stale, held={1, 2, 3}, ran_since=DECK[4:5]) == []
    # Not held (never run, or run as other code): run again.
    assert warm_replays(FACTS, stale, held={1, 3}, ran_since=[]) == [2, 3]


def test_a_warm_kernel_whose_names_a_later_cell_rebound_replays_them():
    # It ran the cells from 7 on: its `model` is the classifier of cell 7, not cell 2's.
    stale = [5, 6, 7, 8]
    assert warm_replays(FACTS, stale, held={1, 2, 3, 4}, ran_since=DECK[7:]) == [2, 3]
    # Cell 5 ran too: it only used the tokenizer and the sentence.
    assert warm_replays(FACTS, stale, held={1, 2, 3, 4}, ran_since=DECK[5:]) == [2, 3]
    # A later cell changed the tokenizer in place: cell 1 runs again too.
    changed = DECK[7:] + ["tokenizer.add_tokens(['<new>'])"]
    assert warm_replays(FACTS, stale, held={1, 2, 3, 4}, ran_since=changed) == [1, 2, 3]
    # Code it cannot read ran since: nothing it holds is trusted.
    assert warm_replays(FACTS, stale, held={1, 2, 3, 4}, ran_since=["%reset -f"]) == [1, 2, 3, 4]


def test_the_edited_cell_runs_before_replays_it_does_not_need():
    # 4 needs nothing: it runs first, the replays for 5 after it.
    assert run_order(FACTS, [4, 5, 6, 7, 8], [2, 3]) == [4, 2, 3, 5, 6, 7, 8]
    # 5 needs them: they come first.
    assert run_order(FACTS, [5, 6, 7, 8], [1, 2, 3]) == [1, 2, 3, 5, 6, 7, 8]


def test_replays_that_touch_the_edited_cells_names_keep_the_decks_order():
    # Cell 3, a replay for 5, sets `sentence`, which the edited cell 4 binds.
    rebinds = FACTS[:3] + [code_facts("model.train()\nsentence = 'warm-up'")] + FACTS[4:]
    assert run_order(rebinds, [4, 5, 6, 7, 8], [2, 3]) == [2, 3, 4, 5, 6, 7, 8]
    unreadable = FACTS[:4] + [code_facts("%time sentence = 'x'")] + FACTS[5:]
    assert run_order(unreadable, [4, 5], [2, 3]) == [2, 3, 4, 5]


def ran(ledger: ValueLedger, facts: list, *cells: int) -> list[list[str]]:
    """Tell the ledger the kernel ran these cells, in this order; the names it kept."""
    kept = []
    for index in cells:
        kept.append(ledger.before_run(index, facts[index])[0])
        ledger.after_run(index, facts[index], ok=True)
    return kept


def test_a_warm_kernel_puts_back_the_model_a_later_cell_rebound():
    ledger = ValueLedger()
    kept = ran(ledger, FACTS, *range(9))
    assert kept[7] == ["model"] and not any(kept[:7])  # cell 7 rebinds the translator
    stale, held = [5, 6, 7, 8], set(range(9))
    changed = frozenset().union(*(f.changes for f in FACTS[5:]))
    right, restore = ledger.restorable(FACTS, 5, held, changed)
    assert restore == {"model": (7, "model")} and right == set()
    ledger.restored(restore)
    assert warm_replays(FACTS, stale, held, DECK[5:], frozenset(right) | set(restore)) == []
    # After the rerun, cell 7 keeps the translator again, and so on.
    ran(ledger, FACTS, *stale)
    assert ledger.restorable(FACTS, 5, held, changed) == (set(), {"model": (7, "model")})


def test_a_kept_value_shaped_by_other_runs_is_not_put_back():
    ledger = ValueLedger()
    ran(ledger, FACTS, *range(9), 3)  # cell 3 trained the classifier, after cell 7 kept the translator
    changed = frozenset().union(*(f.changes for f in FACTS[3:]))
    assert ledger.restorable(FACTS, 5, set(range(9)), changed) == ({"sentence"}, {})
    # Put back, then trained in place: the kept object is the one that changed.
    ledger = ValueLedger()
    ran(ledger, FACTS, *range(9))
    ledger.restored({"model": (7, "model")})
    assert ledger.before_run(3, FACTS[3]) == ([], [(7, "model")])


def test_only_values_rebound_from_scratch_are_kept():
    deck = [code_facts(c) for c in ("model = load()", "model = model.eval()", "model = wrap(model)",
                                     "model = fresh()", "%time model = other()")]
    ledger = ValueLedger()
    assert ran(ledger, deck, 0, 1) == [[], []]  # the same object, changed by eval()
    assert ran(ledger, deck, 2, 3) == [[], ["model"]]  # 2 reads it (a wrapper may share it); 3 does not
    before = ledger.before_run(4, deck[4])  # code that cannot be read: nothing kept is trusted
    assert before == ([], [(3, "model")])
