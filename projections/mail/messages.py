"""The contract's e-mails (api-contract.md §6): one function per event that sends one.

A function returns a `Letter` (recipients, subject, extra headers, plain-text body), which is
what the outbox stores; `as_email` adds From when the letter is sent. Cc is the support
address where the contract says so, and no Cc header at all when MAIL_SUPPORT is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

# The default folds headers at 78 characters, which moves a subject with an id to a
# continuation line ("Subject:\n New site...") that clients show with a leading space.
# RFC 5322 allows lines of 998 characters; our subjects are far shorter.
POLICY = policy.default.clone(max_line_length=998)
SIGNATURE = "\nThank you for using EOSC Performance.\n\nBest regards,\nperf-support\n"


@dataclass(frozen=True)
class Letter:
    to: str
    cc: str  # "" for none
    subject: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


def as_email(letter: Letter, sender: str) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = letter.to
    if letter.cc:
        message["Cc"] = letter.cc
    message["Subject"] = letter.subject
    for name, value in letter.headers.items():
        message[name] = value
    message.set_content(letter.body)
    return message


def _body(*lines: str) -> str:
    return "Dear user,\n\n" + "".join(line + "\n" for line in lines) + SIGNATURE


def registered(to: str) -> Letter:
    """Also for a removed user who registers again: they are welcomed anew."""
    return Letter(to, "", "Thank you for registering", body=_body("Your registration is complete."))


def email_updated(to: str) -> Letter:
    return Letter(to, "", "Your user information was updated", body=_body("Your user information was updated."))


def submitted(kind: str, id, to: str, support: str) -> Letter:
    """`kind`: benchmark, site or flavor."""
    return Letter(
        to,
        support,
        f"New {kind} resource submitted: {id}",
        {"Resource-ID": str(id)},
        _body(f"Your {kind} {id} was submitted.", "Our administrators will review it before it is listed."),
    )


def approved(kind: str, id, to: str, support: str) -> Letter:
    """`kind`: benchmark, site, flavor or claim (then `to` is the claimer)."""
    return Letter(
        to,
        support,
        f"Resource approved: {id}",
        {"Resource-ID": str(id)},
        _body(f"Your {kind} {id} was approved by our administrators."),
    )


def rejected(kind: str, id, to: str, support: str) -> Letter:
    return Letter(
        to,
        support,
        f"Resource rejected: {id}",
        {"Resource-ID": str(id)},
        _body(
            f"Your {kind} {id} was rejected by our administrators.",
            "Please check what you submitted, and do not hesitate to contact us.",
        ),
    )


def claimed(result_id, claim_id, to: str, support: str) -> Letter:
    """To the result's uploader: someone claims their result is doubtful."""
    return Letter(
        to,
        support,
        f"Claim submitted on result: {result_id}",
        {"Result-ID": str(result_id), "Claim-ID": str(claim_id)},
        _body(
            f"A claim ({claim_id}) was submitted on your result {result_id}.",
            "The result is hidden from listings while our administrators review the claim.",
        ),
    )


def restored(result_id, to: str, support: str) -> Letter:
    """To the result's uploader once the last claim on it was rejected (design Q-3)."""
    return Letter(
        to,
        support,
        f"Result restored: {result_id}",
        {"Result-ID": str(result_id)},
        _body(f"Your result {result_id} was reviewed by our administrators and restored.", "It is listed again."),
    )
