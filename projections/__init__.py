"""Event sources, projectors that fold events into read tables, and the mailer."""
