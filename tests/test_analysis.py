"""Static analysis of a cell's code: the names it binds, reads and changes, and which
cells must run again, in a kernel that holds nothing, for the state a rerun needs (what
a warm kernel holds: test_timeline.py)."""
from __future__ import annotations

from deckrun.source.analysis import code_facts, replay_set

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
    assert code_facts("!ls\nx = 1").binds == {"x"}  # IPython's syntax, read as IPython runs it
    assert not code_facts("%time x = 1").understood  # a magic that runs code no analysis sees
    assert code_facts("random.shuffle(pairs)\nitems += [1]").mutates >= {"pairs", "items"}
    assert code_facts("def f(a):\n    return a + folder").functions == {"f": {"folder"}}


def test_replays_rebuild_what_the_stale_cells_need():
    # 5 needs model (bound by 2, changed by 3), tokenizer (1; 2 needs it too), sentence (4).
    assert replay_set(FACTS, [5]) == [1, 2, 3, 4]
    assert replay_set(FACTS, [8]) == [6, 7]
    assert replay_set(FACTS, [4]) == []
    # A cell that cannot be read makes every cell before it needed.
    magic = FACTS[:3] + [code_facts("%time x = 1"), code_facts("print(x)")]
    assert replay_set(magic, [4]) == [0, 1, 2, 3]
