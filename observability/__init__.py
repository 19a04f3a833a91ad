"""What an operator watches: Prometheus metrics (`metrics`, `exposition`), the HTTP layer that
counts, times and logs each request (`http`), and the log format (`logs`).

It imports nothing of the project (only the standard library and prometheus_client): the
services, the projector and the mailer call into it, never the other way round.
"""
