"""The composition root: the CLI (`cli`), the deployments (`embedded`, `production`, `server`,
the gunicorn entry points `command_wsgi` and `query_wsgi`) and the app builders (`apps`) wire
the packages below together. It may import any of them; none of them imports it (tests and
bench/ do)."""
