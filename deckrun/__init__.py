"""deckrun: build Marp slide decks whose code examples run and show their real output.

The package reads like the pipeline, one module per stage:

    project   -> where things are; course.yaml
    sources   -> a deck's Markdown + Jinja -> Deck (Markdown with cell markers, Cells)
    cells     -> a cell's code and options; snippet files cut into named cells
    execute   -> Cells run in a Jupyter kernel -> CellResults
    outputs   -> the results' data types (text, rich MIME bundles, errors)
    formatting-> CellResults -> Marp Markdown (Jinja templates, figure files)
    render    -> Marp Markdown -> HTML / PDF / PPTX through the Marp CLI
    builder   -> one deck through all the stages; cli -> the command line
"""
