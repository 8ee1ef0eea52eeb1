"""A course and its tools: `new` writes a course ready to build (decks, snippets, the
theme, editor and CI settings), `doctor` says which tools deckrun finds and what to do
about the ones it does not."""
