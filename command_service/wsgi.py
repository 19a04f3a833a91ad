"""Production entry point: `gunicorn command_service.wsgi:app` (see deploy/gunicorn/)."""

from eosc_perf import production
from eosc_perf.wsgi import behind_proxy
from projections.lookups import Lookups
from command_service.app import create_app

_settings = production.settings()
app = behind_proxy(
    create_app(
        _settings,
        production.event_store(_settings),
        production.token_verifier(_settings),
        lookups=Lookups(production.read_engine(_settings, pool_size=2)),
    )
)
