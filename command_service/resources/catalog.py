"""Writes on benchmarks, sites, flavors and tags: one resource per URL family."""

from __future__ import annotations

from uuid import UUID

import falcon

from command_service.resources import answers
from command_service.services import catalog
from command_service.services.catalog import ImageCheck
from command_service.services.session import Commands
from domain.benchmark import Benchmark
from domain.flavor import Flavor
from domain.site import Site


def _on_item(commands: Commands, req: falcon.Request, command, id: UUID):
    """`command(session, actor, id, fields)` for the request's caller, with its body as the fields."""
    caller = req.context.caller
    return commands.run(command, caller.actor, id, req.context.body, registered=caller.registration)


class ReviewedItem:
    """PUT / DELETE / :approve / :reject on one item of a reviewed kind; subclasses name the
    kind and its update command `(session, actor, id, fields)`, or define `_update`."""

    kind: type
    update = None

    def __init__(self, commands: Commands):
        self.commands = commands

    def on_put(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        _, position = self._update(req, *ids.values())
        answers.answer(resp, position)

    def _update(self, req: falcon.Request, id: UUID):
        return _on_item(self.commands, req, self.update, id)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        _, position = self.commands.run(
            catalog.delete,
            req.context.caller.actor,
            self.kind,
            *ids.values(),
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)

    def on_post_approve(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        _, position = self.commands.run(
            catalog.approve,
            req.context.caller.actor,
            self.kind,
            *ids.values(),
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)

    def on_post_reject(self, req: falcon.Request, resp: falcon.Response, **ids: UUID) -> None:
        _, position = self.commands.run(
            catalog.reject,
            req.context.caller.actor,
            self.kind,
            *ids.values(),
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position)


class BenchmarkCollection:
    def __init__(self, commands: Commands, images: ImageCheck | None):
        self.commands = commands
        self.images = images  # None when IMAGE_CHECK is off

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        catalog.check_image(self.images, req.context.body)
        benchmark, position = self.commands.run(
            catalog.submit_benchmark,
            req.context.caller.actor,
            req.context.body,
            registered=req.context.caller.registration,
        )
        answers.answer(resp, position, 201, answers.benchmark(benchmark))


class BenchmarkItem(ReviewedItem):
    kind = Benchmark

    def __init__(self, commands: Commands, images: ImageCheck | None):
        super().__init__(commands)
        self.images = images  # None when IMAGE_CHECK is off

    def _update(self, req: falcon.Request, id: UUID):
        catalog.check_image(self.images, req.context.body)
        return self.commands.run(
            catalog.update_benchmark,
            req.context.caller.actor,
            id,
            req.context.body,
            registered=req.context.caller.registration,
        )


class SiteCollection:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        site, position = self.commands.run(
            catalog.submit_site, req.context.caller.actor, req.context.body, registered=req.context.caller.registration
        )
        answers.answer(resp, position, 201, answers.site(site))


class SiteItem(ReviewedItem):
    kind = Site
    update = staticmethod(catalog.update_site)


class SiteFlavors:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_post(self, req: falcon.Request, resp: falcon.Response, site_id: UUID) -> None:
        flavor, position = _on_item(self.commands, req, catalog.add_flavor, site_id)
        answers.answer(resp, position, 201, answers.flavor(flavor))


class FlavorItem(ReviewedItem):
    kind = Flavor
    update = staticmethod(catalog.update_flavor)


class TagCollection:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        tag, position = self.commands.run(
            catalog.create_tag, req.context.caller.actor, req.context.body, registered=req.context.caller.registration
        )
        answers.answer(resp, position, 201, answers.tag(tag))


class TagItem:
    def __init__(self, commands: Commands):
        self.commands = commands

    def on_put(self, req: falcon.Request, resp: falcon.Response, tag_id: UUID) -> None:
        _, position = _on_item(self.commands, req, catalog.update_tag, tag_id)
        answers.answer(resp, position)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, tag_id: UUID) -> None:
        _, position = self.commands.run(
            catalog.delete_tag, req.context.caller.actor, tag_id, registered=req.context.caller.registration
        )
        answers.answer(resp, position)
