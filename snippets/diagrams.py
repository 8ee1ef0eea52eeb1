"""Attention as a conversation, drawn with Graphviz: a Digraph left as a cell's last
value shows as a (vector) picture. Needs `pip install graphviz` and Graphviz's `dot`
program (sudo apt-get install graphviz)."""

# %% conversation
from graphviz import Digraph


def conversation(helper: str) -> Digraph:
    """Someone asks; attention answers by pointing at the words that matter."""
    dot = Digraph(graph_attr={"rankdir": "LR", "bgcolor": "transparent", "pad": "0.2"},
                  node_attr={"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                             "fontsize": "16", "margin": "0.25,0.15"},
                  edge_attr={"fontname": "Helvetica", "fontsize": "13"})
    dot.node("reader", "🧑‍🏫 The reader", fillcolor="#e3ecf7", color="#0d2b4e")
    dot.node("helper", helper, fillcolor="#e3f4f2", color="#0f8a80")
    dot.edge("reader", "helper", label="what does 'it' refer to?", color="#0d2b4e")
    dot.edge("helper", "reader", label="mostly at 'trophy',\na little at 'suitcase'", color="#0f8a80")
    return dot


conversation("🔎 One attention head")

# %% many_heads
conversation("🔎 🔎 🔎 🔎 🔎 🔎\n🔎 🔎 🔎 🔎 🔎 🔎\nTwelve heads, each with\nits own idea of what matters")
