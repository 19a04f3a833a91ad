"""Production entry point: `gunicorn query_service.wsgi:app` (see deploy/gunicorn/)."""

from eosc_perf import production
from eosc_perf.wsgi import behind_proxy
from projections.sources import EventStoreSource
from query_service.app import create_app

_settings = production.settings()
app = behind_proxy(create_app(_settings, production.serving_engine(_settings), production.token_verifier(_settings),
                              head=EventStoreSource(production.event_store(_settings)).head))
