"""Writes on users: register, refresh email, remove, restore."""

from __future__ import annotations

import falcon

from command_service.resources import answers
from command_service.services import users
from command_service.services.directory import UserDirectory
from command_service.services.session import Commands


class Users:
    def __init__(self, commands: Commands, directory: UserDirectory):
        self.commands = commands
        self.directory = directory

    def on_post_register(self, req: falcon.Request, resp: falcon.Response) -> None:
        user, position = self.commands.run(
            users.register,
            req.context.caller.identity,
            conflict="User already submitted/exists",
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position, 201, answers.user(user))

    def on_post_remove(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        _, position = self.commands.run(
            users.remove,
            req.context.caller.actor,
            query["sub"],
            query["iss"],
            query["email"],
            self.directory,
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)

    def on_post_restore(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = req.context.query
        _, position = self.commands.run(
            users.restore,
            req.context.caller.actor,
            query["sub"],
            query["iss"],
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)

    def on_post_update(self, req: falcon.Request, resp: falcon.Response) -> None:
        _, position = self.commands.run(
            users.update_email, req.context.caller.identity, registered=req.context.caller.registration
        )
        answers.answer(resp, position)
