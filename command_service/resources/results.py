"""Writes on results and claims."""

from __future__ import annotations

from uuid import UUID

import falcon

from command_service.resources import answers
from command_service.services import results
from command_service.services.schemas import ResultValidators
from command_service.services.session import Commands


class ResultCollection:
    def __init__(self, commands: Commands, validators: ResultValidators):
        self.commands = commands
        self.validators = validators

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        uploaded, position = self.commands.run(
            results.upload,
            req.context.caller.actor,
            query["execution_datetime"],
            query["benchmark_id"],
            query["flavor_id"],
            query["tags_ids"],
            req.context.body,
            self.validators,
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position, 201, answers.result(uploaded))


class ResultItem:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_delete(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        _, position = self.commands.run(
            results.delete, req.context.caller.actor, result_id, registered=req.context.caller.registration
        )
        answers.answer(resp, position)

    def on_post_claim(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        (claim, claimer), position = self.commands.run(
            results.claim,
            req.context.caller.actor,
            result_id,
            req.context.body["message"],
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position, 201, answers.claim(claim, claimer))


class ResultTags:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_put(self, req: falcon.Request, resp: falcon.Response, result_id: UUID) -> None:
        caller = req.context.caller
        _, position = self.commands.run(
            results.replace_tags,
            caller.actor,
            caller.admin,
            result_id,
            req.context.body.get("tags_ids"),
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)


class ClaimItem:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_post_approve(self, req: falcon.Request, resp: falcon.Response, report_id: UUID) -> None:
        _, position = self.commands.run(
            results.approve_claim, req.context.caller.actor, report_id, registered=req.context.caller.registration
        )
        answers.answer(resp, position)

    def on_post_reject(self, req: falcon.Request, resp: falcon.Response, report_id: UUID) -> None:
        _, position = self.commands.run(
            results.reject_claim, req.context.caller.actor, report_id, registered=req.context.caller.registration
        )
        answers.answer(resp, position)
