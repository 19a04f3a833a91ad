"""Production entry point: `gunicorn eosc_perf.query_wsgi:app` (see deploy/gunicorn/)."""

from eosc_perf import production
from eosc_perf.apps import build_query_app
from eosc_perf.wsgi import behind_proxy
from projections.sources import EventStoreSource

_settings = production.settings()
app = behind_proxy(
    build_query_app(
        _settings, production.serving_engine(_settings), head=EventStoreSource(production.event_store(_settings)).head
    )
)
