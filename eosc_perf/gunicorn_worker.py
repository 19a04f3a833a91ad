"""The gunicorn worker of both API services: gunicorn's threaded worker, whose threads take the
connections' events themselves.

gunicorn's `gthread` worker waits for events in its main thread, hands each readable
connection to a pool thread, and takes it back when the response is written: per request two
passes of the main loop, a future, a pipe written and read, the socket taken out of the poller
and put back, and the interpreter lock passed between threads each time. Behind nginx, whose
kept-alive connections bring one small request after another, that was about a third of the
command service's Python per upload, and more of a small read's (docs/performance.md, issue 16).

Here every serving thread waits on one shared epoll for the next event: a new connection on a
listening socket, or a request on a kept-alive connection. Each is registered one-shot, so its
event wakes one thread only; that thread serves the request with gunicorn's own code (as in
`gthread`: parsing, the WSGI call, the response, errors answered in gunicorn's way) and arms
the connection again. The main thread only tells the arbiter the worker is alive, closes
connections idle past `keepalive` seconds, and stops the worker on a signal: after SIGTERM no
connection is accepted, running requests finish (answered with `Connection: close`), idle
connections close within two seconds, and all within `graceful_timeout`.

As in `gthread`, a thread reads a request whole once its first bytes are there: the services
sit behind nginx, which passes on only complete requests (deploy/nginx); a new connection waits
for them in the poll, holding no thread. At most `worker_connections` are open at once; more
wait in the listen backlog.

It builds on the connection and request handling of gunicorn 27's `gthread` (`TConn`, `handle`),
so pyproject.toml keeps gunicorn within 27."""

from __future__ import annotations

import os
import select
import threading
import time

from gunicorn.workers import base, gthread

_ONE_EVENT = select.EPOLLIN | select.EPOLLONESHOT  # re-armed by whoever took the event
_WAKE_SECONDS = 1.0  # how often a waiting thread looks whether the worker stops, and the main loop runs


class SharedPollWorker(gthread.ThreadWorker):
    """`worker_class = "eosc_perf.gunicorn_worker.SharedPollWorker"` (deploy/gunicorn/service.py)."""

    def init_process(self) -> None:
        self.epoll = select.epoll()
        # Guards the idle connections, the count of open ones and whether the listeners are armed.
        self.lock = threading.Lock()
        # Idle connections by descriptor (gthread's `handle_request` reads its length).
        self.keepalived_conns: dict[int, gthread.TConn] = {}
        self.listeners = {listener.fileno(): listener for listener in self.sockets}
        self.accepting = False
        self.stopping = threading.Event()  # the serving threads end
        self.woken = threading.Event()  # the main loop looks at `alive` at once
        base.Worker.init_process(self)  # runs `run`; gthread's own would make a pool and a poller

    def handle_exit(self, sig, frame) -> None:
        self.alive = False
        self.woken.set()

    def handle_quit(self, sig, frame) -> None:
        base.Worker.handle_quit(self, sig, frame)  # gthread's would shut its pool down

    def run(self) -> None:
        with self.lock:
            for fd, listener in self.listeners.items():
                listener.setblocking(False)
                self.epoll.register(fd, 0)
            self._set_accepting(True)
        for _ in range(self.cfg.threads):
            threading.Thread(target=self._serve, daemon=True).start()
        closing: list = []
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                self.alive = False
                break
            for conn in closing:
                conn.close()
            closing = self._expired(time.monotonic())
            self.woken.wait(_WAKE_SECONDS)
        self._stop(closing)

    def _stop(self, closing: list) -> None:
        with self.lock:
            self._set_accepting(False)
            linger = time.monotonic() + gthread.STOP_KEEPALIVE_LINGER
            for conn in self.keepalived_conns.values():
                conn.timeout = min(conn.timeout, linger)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() < deadline:
            self.notify()
            for conn in closing:  # no new connection can take a descriptor now: none is accepted
                conn.close()
            closing = self._expired(time.monotonic())
            time.sleep(0.1)
        self.stopping.set()
        for conn in closing + self._expired(float("inf")):
            conn.close()
        for listener in self.sockets:
            listener.close()

    def _serve(self) -> None:
        """A serving thread: the next event, whichever connection's it is."""
        while not self.stopping.is_set():
            try:
                events = self.epoll.poll(_WAKE_SECONDS, 1)
            except InterruptedError:
                continue
            for fd, _ in events:
                listener = self.listeners.get(fd)
                try:
                    if listener is not None:
                        self._accept(listener)
                    else:
                        self._serve_connection(fd)
                except Exception:  # as in gthread, where this would end the main loop: a new worker takes over
                    self.log.exception("Worker failing: %s", self)
                    self.alive = False
                    self.woken.set()
                    return

    def _accept(self, listener) -> None:
        try:
            sock, client = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            sock = None  # another worker took it, or the client left
        with self.lock:
            if sock is not None:
                conn = gthread.TConn(self.cfg, sock, client, listener.getsockname())
                conn.data_ready = True  # its first bytes are waited for in the poll, not in `handle`
                conn.set_timeout()
                self.nr_conns += 1
                self.keepalived_conns[sock.fileno()] = conn
                self.epoll.register(sock.fileno(), _ONE_EVENT)
            if self.accepting and self.nr_conns < self.worker_connections:
                self.epoll.modify(listener.fileno(), _ONE_EVENT)
            else:
                self._set_accepting(False)

    def _serve_connection(self, fd: int) -> None:
        with self.lock:
            conn = self.keepalived_conns.pop(fd, None)
        if conn is None:
            return  # closed meanwhile for being idle too long
        try:
            keepalive = self.handle(conn)  # answers errors itself; anything but True ends the connection
            while keepalive is True and conn.parser.unreader.buf.getvalue():
                keepalive = self.handle(conn)  # the next request came with the last: the poll will not tell
        except Exception:
            self.log.exception("Error serving a connection")
            keepalive = False
        with self.lock:
            if keepalive is True:
                conn.set_timeout()
                if not self.alive:
                    conn.timeout = min(conn.timeout, time.monotonic() + gthread.STOP_KEEPALIVE_LINGER)
                self.keepalived_conns[fd] = conn
                self.epoll.modify(fd, _ONE_EVENT)
                return
            self._forget(conn)
        conn.close(graceful=True)

    def _expired(self, now: float) -> list:
        """Takes the connections idle past their time out of the poll. The caller closes them a
        pass of the main loop later: a serving thread may have just taken an event of one, and its
        descriptor must not name a new connection before that thread finds it gone."""
        with self.lock:
            expired = [conn for conn in self.keepalived_conns.values() if conn.timeout <= now]
            for conn in expired:
                del self.keepalived_conns[conn.sock.fileno()]
                self._forget(conn)
        return expired

    def _forget(self, conn) -> None:
        """Under the lock: the connection leaves the poll and the count of open ones."""
        try:
            self.epoll.unregister(conn.sock.fileno())
        except (OSError, ValueError):
            pass  # its socket is closed already
        self.nr_conns -= 1
        if self.alive and not self.accepting and self.nr_conns < self.worker_connections:
            self._set_accepting(True)

    def _set_accepting(self, accepting: bool) -> None:
        """Under the lock: the listening sockets armed, or left out of the poll's events."""
        if accepting != self.accepting:
            for fd in self.listeners:
                self.epoll.modify(fd, _ONE_EVENT if accepting else 0)
            self.accepting = accepting
