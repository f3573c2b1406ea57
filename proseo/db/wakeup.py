"""Wake-ups: a worker waiting for work (the dispatcher for READY job steps, the trigger runner
for arrived products and orders to move) is woken as soon as another transaction commits
some, instead of at its next poll.

A transaction that makes work calls :func:`announce` with a topic (:data:`READY`,
:data:`PRODUCTS` or :data:`ORDERS`). When it commits:

- waiters in this process are woken at once (SQLite and PostgreSQL);
- on PostgreSQL, ``pg_notify`` on the channel :data:`CHANNEL` (sent by the database at
  commit, never for a rolled-back transaction) wakes waiters in every other process, through
  one ``LISTEN`` connection per process and database (:class:`Waiter`).

A wake-up is a hint: a woken worker looks for work and may find none; a worker that missed
one still finds the work at its next poll. Nothing depends on a wake-up arriving.
"""

from __future__ import annotations

import logging
import select as selectors
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session

from proseo.backoff import Backoff
from proseo.errors import DatabaseBusyError

log = logging.getLogger(__name__)

CHANNEL = "proseo_wakeup"
READY = "ready"
"""Job steps became READY."""
PRODUCTS = "products"
"""Products arrived (ingested, or produced and stored)."""
ORDERS = "orders"
"""Orders were created or changed state in a way automation may act on."""
TOPICS = (READY, PRODUCTS, ORDERS)

_lock = threading.Lock()
_waiters: dict[str, set[threading.Event]] = defaultdict(set)
_listeners: dict[str, _Listener] = {}


def announce(session: Session, topic: str) -> None:
    """Say that ``session``'s transaction makes work of ``topic``: waiters wake when it
    commits (nothing happens when it rolls back)."""
    pending: set[str] = session.info.setdefault("proseo_wakeups", set())
    if topic in pending:
        return
    pending.add(topic)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :topic)"), {"channel": CHANNEL, "topic": topic}
        )


def _wake(topic: str) -> None:
    with _lock:
        events = list(_waiters.get(topic, ()))
    for item in events:
        item.set()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for topic in session.info.pop("proseo_wakeups", ()):
        _wake(topic)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("proseo_wakeups", None)


class _Listener(threading.Thread):
    """One ``LISTEN`` connection per process and PostgreSQL database: turns notifications
    into in-process wake-ups. Reconnects with back-off when the connection is lost."""

    def __init__(self, engine: Engine, key: str) -> None:
        super().__init__(name="proseo-wakeup-listener", daemon=True)
        self.engine = engine
        self.key = key
        self.users = 0
        """Waiters using it (under the module lock); it ends when the last one closed."""

    def _wanted(self) -> bool:
        with _lock:
            if self.users > 0:
                return True
            if _listeners.get(self.key) is self:
                del _listeners[self.key]
            return False

    def run(self) -> None:
        backoff = Backoff(first_s=1.0, max_s=60.0)
        while self._wanted():
            try:
                raw: Any = self.engine.raw_connection()
                try:
                    connection = raw.driver_connection
                    connection.set_session(autocommit=True)
                    connection.cursor().execute(f"LISTEN {CHANNEL}")
                    backoff.passed()
                    while self._wanted():
                        readable, _, _ = selectors.select([connection], [], [], 2.0)
                        if not readable:
                            continue
                        connection.poll()
                        topics = set()
                        while connection.notifies:
                            topics.add(connection.notifies.pop(0).payload)
                        for topic in topics:
                            _wake(topic)
                finally:
                    raw.invalidate()
            except Exception as error:  # the database went away: wait and listen again
                delay = backoff.failed()
                log.warning("wake-up listener: %s; listening again in %.0f s", error, delay)
                threading.Event().wait(delay)


class Waiter:
    """Waits for wake-ups of some topics (or a timeout), in one thread.

    :param engine: on PostgreSQL, the process's listener on this database is started.
    """

    def __init__(self, engine: Engine | None, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self.event = threading.Event()
        self._listener: _Listener | None = None
        with _lock:
            for topic in topics:
                _waiters[topic].add(self.event)
            if engine is not None and engine.dialect.name == "postgresql":
                key = engine.url.render_as_string(hide_password=False)
                listener = _listeners.get(key)
                if listener is None:
                    listener = _listeners[key] = _Listener(engine, key)
                    listener.users = 1
                    listener.start()
                else:
                    listener.users += 1
                self._listener = listener

    def wait(self, timeout_s: float) -> bool:
        """Block until woken or ``timeout_s`` seconds passed. :returns: whether woken."""
        woken = self.event.wait(timeout_s)
        self.event.clear()
        return woken

    def wake(self) -> None:
        """Wake this waiter (e.g. to stop it)."""
        self.event.set()

    def close(self) -> None:
        """Stop receiving wake-ups."""
        with _lock:
            for topic in self.topics:
                _waiters[topic].discard(self.event)
            if self._listener is not None:
                self._listener.users -= 1
                self._listener = None


class BackgroundWorker:
    """Runs ``work`` in a daemon thread, round after round (``proseo serve``'s dispatcher and
    trigger runner). ``work()`` returns how many seconds may pass before the next round (0:
    at once); a wake-up of one of ``topics`` starts it earlier; it never waits longer than
    ``interval_s``. A round that raises (the database away) is logged and tried again with
    back-off (doubling up to 60 s). :meth:`shutdown` stops it after the current round."""

    def __init__(
        self,
        name: str,
        work: Callable[[], float],
        engine: Engine | None,
        topics: tuple[str, ...],
        interval_s: float,
    ) -> None:
        self.name = name
        self.work = work
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._waiter = Waiter(engine, topics)
        self._thread = threading.Thread(target=self._run, name=f"proseo-{name}", daemon=True)

    def start(self) -> BackgroundWorker:
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def _run(self) -> None:
        backoff = Backoff(first_s=self.interval_s, max_s=60.0)
        try:
            while not self._stop.is_set():
                try:
                    wait = self.work()
                    backoff.passed()
                except DatabaseBusyError as error:  # out of reach or busy: no traceback
                    delay = backoff.failed()
                    log.warning("%s round void: %s; again in %.0f s", self.name, error, delay)
                    self._stop.wait(delay)
                    continue
                except Exception:  # logged; the next round tries again
                    delay = backoff.failed()
                    log.exception("%s round failed; again in %.0f s", self.name, delay)
                    self._stop.wait(delay)
                    continue
                if wait > 0:
                    self._waiter.wait(min(wait, self.interval_s))
        finally:
            self._waiter.close()

    def shutdown(self, wait: bool = True) -> None:
        """Stop after the current round (``wait``: until the thread ended)."""
        self._stop.set()
        self._waiter.wake()
        if wait:
            self._thread.join(timeout=30)
