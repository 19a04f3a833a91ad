"""The write API: authenticates, validates, runs one command, answers with what changed."""
