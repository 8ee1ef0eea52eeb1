"""What every stage shares: errors that name file and line, whole-or-nothing file writes
and stamps, the course's layout (project), what a build is asked (options), the terminal
(progress), where deckrun's tools are."""
