"""Production entry point: `gunicorn command_service.wsgi:app` (see deploy/gunicorn/)."""

from eosc_perf import production
from eosc_perf.wsgi import behind_proxy
from projections.lookups import Lookups
from projections.sources import EventStoreSource
from command_service.app import create_app

_settings = production.settings()
_store = production.event_store(_settings)
app = behind_proxy(
    create_app(
        _settings,
        _store,
        production.token_verifier(_settings),
        lookups=Lookups(production.serving_engine(_settings, pool_size=2), EventStoreSource(_store).head,
                        _settings.read_wait_seconds),
    )
)
