"""The live preview: file events -> rebuilds of the decks a save affects (watch), served
with live reload (server)."""
