"""A course, its tools and its sources: `new` writes a course ready to build (decks,
snippets, the theme, editor and CI settings), `doctor` says which tools deckrun finds and
what to do about the ones it does not, `importer` turns a notebook into a deck."""
