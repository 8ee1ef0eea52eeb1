"""Fetch: the remote files decks show, fetched once into the course's asset cache."""
