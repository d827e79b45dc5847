"""Read replicas: read-only requests read from a streaming replica, everything else from the primary.

`DATABASE_REPLICA_URL` (one or more URLs, comma-separated) adds the aliases `replica1`, `replica2`, ... to
DATABASES (config/settings/base.py, `add_replicas`). With none, neither the middleware nor the router does
anything and no query is added.

How a request is routed (the decision is explicit and made per request, never guessed per query):

1. `ReplicaMiddleware` marks a request *replica-eligible* when its method is GET or HEAD and its view is on the
   list: a view decorated with `@replica_reads` (function or class), a URL name in
   `WAYBILL_REPLICA_READ_VIEWS` ("portal:order-list", "namespace:*"), or a path under one of
   `WAYBILL_REPLICA_READ_PATHS` ("/analytics/"). `@primary_reads` keeps a view on the primary whatever the lists
   say (a GET that writes, or that must see the latest data).
2. `ReplicaRouter.db_for_read` answers the primary unless the request is eligible, has not written, and no
   transaction is open on the primary (every service, `transaction.atomic`, `select_for_update`). Writes always
   go to the primary; after one, the rest of the request reads from the primary too. Outside a request (Celery
   tasks, management commands, the shell) everything is the primary.
3. The replica is chosen at the request's first read: one that answers, replays from the primary with less than
   `WAYBILL_REPLICA_MAX_LAG_SECONDS` of lag and, when the client wrote recently, has replayed past that write.
   None fits: the primary, without an error. A replica's position is measured with one query and trusted for
   `WAYBILL_REPLICA_CHECK_SECONDS`; one that did not answer is tried again after `WAYBILL_REPLICA_RETRY_SECONDS`.
   A replica that fails in the middle of a request makes that request run again on the primary.

Read-your-writes: a request that wrote (any write through the router, or a POST/PUT/PATCH/DELETE that did not
fail) records the primary's WAL insert position (`pg_current_wal_insert_lsn()`, which covers a commit that is not
yet flushed under `synchronous_commit = off`) in a signed cookie, and for a request with an `Authorization` header
(API tokens) in the cache under a hash of that header. That client's next read-only requests use a replica only
once it has replayed past that position (`pg_last_wal_replay_lsn()`); the cookie is dropped as soon as one has.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import itertools
import logging
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from config.unavailable import database_unavailable_response, is_database_unavailable

logger = logging.getLogger(__name__)

REPLICA_PREFIX = "replica"  # the aliases add_replicas makes: replica1, replica2, ...
LSN_COOKIE = "waybill_lsn"
LSN_SALT = "config.replicas.lsn"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
NEVER = float("inf")  # a client whose last write cannot be known (the cache is down): only the primary will do


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith(REPLICA_PREFIX)]


# --- views that may read from a replica ---------------------------------------------------------------------------

def replica_reads(view):
    """Mark a view (a function, or a View/APIView/ViewSet class) as safe to serve its GET and HEAD from a replica."""
    view.replica_reads = True
    return view


def primary_reads(view):
    """Keep a view on the primary even when WAYBILL_REPLICA_READ_VIEWS or _PATHS would send it to a replica."""
    view.replica_reads = False
    return view


def _marked(view_func) -> bool | None:
    # Django's as_view() keeps the class as view_class, DRF's (and its viewsets') as cls
    for holder in (view_func, getattr(view_func, "view_class", None), getattr(view_func, "cls", None)):
        value = getattr(holder, "replica_reads", None) if holder is not None else None
        if value is not None:
            return bool(value)
    return None


def replica_eligible(request, view_func, *, view_names: frozenset[str], paths: tuple[str, ...]) -> bool:
    """May this request read from a replica? A GET or HEAD whose view says so (replica_reads / primary_reads), or
    whose URL name (or "namespace:*") is in view_names, or whose path starts with one of paths."""
    if request.method not in READ_ONLY_METHODS:
        return False
    marked = _marked(view_func)
    if marked is not None:
        return marked
    match = request.resolver_match
    if match is not None and (match.view_name in view_names or f"{match.namespace}:*" in view_names):
        return True
    return bool(paths) and request.path_info.startswith(paths)


# --- WAL positions ------------------------------------------------------------------------------------------------

def lsn_to_int(text: str | None) -> int:
    """'16/B374D848' -> 0x16B374D848 (PostgreSQL's pg_lsn as a number that compares)."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _cookie_lsn(text: str | None) -> int:
    try:
        return int(text, 16) if text else 0
    except ValueError:
        return 0


def primary_lsn() -> int | None:
    """Where the primary's WAL ends now: a write committed before this call is at or before it."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
            return lsn_to_int(cursor.fetchone()[0])
    except DatabaseError as exc:
        logger.info("could not read the primary's WAL position: %s", exc)
        return None


# --- what each replica has replayed --------------------------------------------------------------------------------

STATUS_SQL = """
SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
       CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_insert_lsn() END::text,
       pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn(),
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
"""


@dataclasses.dataclass(frozen=True)
class ReplicaStatus:
    alias: str
    measured_at: float  # time.monotonic()
    replay_lsn: int = 0
    lag: float | None = None  # seconds behind the primary; None: cannot be known
    problem: str = ""  # why reads do not go there; "" when they may

    @property
    def usable(self) -> bool:
        return not self.problem


def replica_measure(alias: str) -> ReplicaStatus:
    """One query on the replica: how far it has replayed and how far behind it is.

    Lag is 0 while the replica has replayed everything it received (an idle primary sends nothing, so that is not
    staleness; a standby that restarts reports its receive position from the start of a WAL segment, behind what
    it has replayed), else the time since the last transaction it replayed committed on the primary: an upper bound, so
    a replica that is far behind is never mistaken for a fresh one. A standby without a WAL receiver (cut off from
    the primary) has an unknown lag and is not used. A server that is not in recovery (a test mirror of the
    primary) is never behind.
    """
    now = time.monotonic()
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute(STATUS_SQL)
            standby, streaming, replay_lsn, caught_up, since_last_replay = cursor.fetchone()
    except DatabaseError as exc:
        with contextlib.suppress(DatabaseError):
            connection.close()
        return ReplicaStatus(alias, now, problem=f"is unreachable ({type(exc.__cause__ or exc).__name__})")
    max_lag = settings.WAYBILL_REPLICA_MAX_LAG_SECONDS
    if not standby or caught_up:
        lag = 0.0
    elif not streaming:
        return ReplicaStatus(alias, now, lsn_to_int(replay_lsn), None, "is not streaming from the primary")
    elif since_last_replay is None:
        return ReplicaStatus(alias, now, lsn_to_int(replay_lsn), None, "has not replayed a transaction yet")
    else:
        lag = max(since_last_replay, 0.0)
    problem = f"is {lag:.1f} s behind the primary (limit {max_lag:g} s)" if lag > max_lag else ""
    return ReplicaStatus(alias, now, lsn_to_int(replay_lsn), lag, problem)


_statuses: dict[str, ReplicaStatus] = {}
_measuring: dict[str, threading.Lock] = {}
_measuring_guard = threading.Lock()
_turn = itertools.count()


def record_status(status: ReplicaStatus) -> ReplicaStatus:
    previous = _statuses.get(status.alias)
    _statuses[status.alias] = status
    if status.problem and (previous is None or previous.usable):
        logger.warning("replica %s %s: reads go to the primary", status.alias, status.problem)
    elif status.usable and previous is not None and not previous.usable:
        logger.warning("replica %s serves reads again (%.1f s behind)", status.alias, status.lag or 0.0)
    return status


def replica_status(alias: str, *, fresh: bool = False) -> ReplicaStatus:
    """The replica's last measured status, measured again when older than WAYBILL_REPLICA_CHECK_SECONDS (one that
    did not answer: WAYBILL_REPLICA_RETRY_SECONDS), or when `fresh`. One thread measures at a time; the others
    take what is known meanwhile."""
    known = _statuses.get(alias)
    if known is not None:
        if not known.usable and known.lag is None:
            trusted_for = settings.WAYBILL_REPLICA_RETRY_SECONDS
        else:
            trusted_for = 0.0 if fresh else settings.WAYBILL_REPLICA_CHECK_SECONDS
        if time.monotonic() - known.measured_at < trusted_for:
            return known
    with _measuring_guard:
        lock = _measuring.setdefault(alias, threading.Lock())
    if not lock.acquire(blocking=known is None):
        return known
    try:
        return record_status(replica_measure(alias))
    finally:
        lock.release()


def replica_failed(alias: str, exc: BaseException) -> None:
    """A query on the replica failed mid-request: nobody reads there until it answers a check again."""
    record_status(ReplicaStatus(alias, time.monotonic(), problem=f"failed ({type(exc.__cause__ or exc).__name__})"))


def choose_replica(aliases: list[str], *, min_lsn: float) -> str:
    """A usable replica that has replayed up to min_lsn (the client's last write), the primary when none has.
    Replicas take turns."""
    if not aliases:
        return DEFAULT_DB_ALIAS
    start = next(_turn) % len(aliases)
    for alias in aliases[start:] + aliases[:start]:
        status = replica_status(alias)
        if status.usable and status.replay_lsn < min_lsn and min_lsn is not NEVER:
            status = replica_status(alias, fresh=True)  # it may have caught up since it was measured
        if status.usable and status.replay_lsn >= min_lsn:
            return alias
    return DEFAULT_DB_ALIAS


# --- the request's routing -----------------------------------------------------------------------------------------

@dataclasses.dataclass
class RequestRouting:
    aliases: list[str]
    eligible: bool = False  # GET/HEAD on a view that may read from a replica
    min_lsn: float = 0  # the client's last write (0: none known)
    alias: str | None = None  # where this request reads, decided at its first read
    wrote: bool = False

    def read_alias(self) -> str:
        if not self.eligible or self.wrote or connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        if self.alias is None:
            self.alias = choose_replica(self.aliases, min_lsn=self.min_lsn)
        return self.alias

    @property
    def on_replica(self) -> bool:
        return self.alias is not None and self.alias != DEFAULT_DB_ALIAS


_routing: contextvars.ContextVar[RequestRouting | None] = contextvars.ContextVar("waybill_routing", default=None)


def current_routing() -> RequestRouting | None:
    return _routing.get()


class ReplicaRouter:
    """Reads as the request's routing says (the primary outside a request); writes and migrations on the primary."""

    def db_for_read(self, model, **hints):
        routing = _routing.get()
        return routing.read_alias() if routing is not None else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        routing = _routing.get()
        if routing is not None:
            routing.wrote = True
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        # a row read from a replica is the primary's row: an order from one may be a new ticket's order
        same_data = {DEFAULT_DB_ALIAS, *replica_aliases()}
        if obj1._state.db in same_data and obj2._state.db in same_data:
            return True
        return None

    def allow_migrate(self, db, app_label, **hints):
        return False if db.startswith(REPLICA_PREFIX) else None


def read_your_writes_seconds() -> int:
    """How long a client's last write is remembered: long enough that any replica within the lag limit has it."""
    return int(max(60, 2 * settings.WAYBILL_REPLICA_MAX_LAG_SECONDS))


def _token_key(authorization: str) -> str:
    return "waybill:replica-lsn:" + hashlib.sha256(authorization.encode()).hexdigest()[:40]


class ReplicaMiddleware:
    """Routes read-only requests to a replica and remembers each client's last write (see the module's docstring).
    Installed between DatabaseUnavailableMiddleware (so that a replica's failure is retried here first) and
    SessionMiddleware (so that the session's own write at the end of a request counts as one)."""

    def __init__(self, get_response):
        self.aliases = replica_aliases()
        if not self.aliases:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.view_names = frozenset(settings.WAYBILL_REPLICA_READ_VIEWS)
        self.paths = tuple(settings.WAYBILL_REPLICA_READ_PATHS)

    def __call__(self, request):
        routing = RequestRouting(self.aliases)
        token = _routing.set(routing)
        try:
            response = self.get_response(request)
            self._remember_writes(request, response, routing)
            return response
        finally:
            _routing.reset(token)

    def process_view(self, request, view_func, view_args, view_kwargs):
        routing = _routing.get()
        if routing is not None and replica_eligible(request, view_func, view_names=self.view_names,
                                                    paths=self.paths):
            routing.eligible = True
            routing.min_lsn = self._client_lsn(request)
        return None

    def process_exception(self, request, exception):
        """A replica that failed under a read-only request: run the view again on the primary (a GET or HEAD
        changed nothing), so the client gets its page rather than a 503."""
        routing = _routing.get()
        if routing is None or not routing.on_replica or not is_database_unavailable(exception):
            return None
        failed = connections[routing.alias]
        if not failed.errors_occurred:
            return None  # the primary failed, not the replica
        replica_failed(routing.alias, exception)
        with contextlib.suppress(DatabaseError):
            failed.close()
        routing.alias = DEFAULT_DB_ALIAS
        match = request.resolver_match
        try:
            response = match.func(request, *match.args, **match.kwargs)
            if hasattr(response, "render") and callable(response.render):
                response = response.render()
        except Exception as exc:
            if is_database_unavailable(exc):
                return database_unavailable_response(request)
            raise
        return response

    def _client_lsn(self, request) -> float:
        lsn: float = _cookie_lsn(request.get_signed_cookie(
            LSN_COOKIE, default=None, salt=LSN_SALT, max_age=read_your_writes_seconds()))
        authorization = request.headers.get("Authorization")
        if authorization:
            try:
                lsn = max(lsn, cache.get(_token_key(authorization)) or 0)
            except Exception as exc:  # noqa: BLE001 - the cache's own errors: Redis down
                logger.warning("cache unavailable, API reads go to the primary: %s", exc)
                return NEVER
        return lsn

    def _remember_writes(self, request, response, routing: RequestRouting) -> None:
        wrote = routing.wrote or (request.method not in READ_ONLY_METHODS and response.status_code < 400)
        if wrote:
            lsn = primary_lsn()
            if lsn is None:
                return
            ttl = read_your_writes_seconds()
            response.set_signed_cookie(LSN_COOKIE, f"{lsn:X}", salt=LSN_SALT, max_age=ttl, httponly=True,
                                       samesite="Lax", secure=settings.SESSION_COOKIE_SECURE)
            authorization = request.headers.get("Authorization")
            if authorization:
                try:
                    cache.set(_token_key(authorization), lsn, timeout=ttl)
                except Exception as exc:  # noqa: BLE001 - the cache's own errors: Redis down
                    logger.warning("cache unavailable, could not remember an API client's write: %s", exc)
        elif routing.on_replica and routing.min_lsn and LSN_COOKIE in request.COOKIES:
            response.delete_cookie(LSN_COOKIE, samesite="Lax")  # a replica has it: no need to check any more
