"""Production entry point: `gunicorn eosc_perf.command_wsgi:app` (see deploy/gunicorn/)."""

from eosc_perf import production
from eosc_perf.apps import build_command_app
from eosc_perf.wsgi import behind_proxy

_settings = production.settings()
app = behind_proxy(
    build_command_app(_settings, production.event_store(_settings), production.serving_engine(_settings, pool_size=2))
)
