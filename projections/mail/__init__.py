"""The mailer: sends the contract's e-mails (api-contract.md §6) from domain events.

messages   one function per mail-sending event, building the letter
directory  the mailer's own tables: users' e-mails, uploaders, the outbox
mailer     the event consumer: directory updates + outbox rows + position, one transaction
delivery   the postman: outbox -> SMTP (or the log), marked sent one by one, with retries
room       the background thread of one process, and its wiring from the settings
"""
