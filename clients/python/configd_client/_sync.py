"""ConfigClient: the AsyncConfigClient run in a background thread with its own event loop.

For threaded programs (Flask, Django, Celery workers). Reads (`get`, `snapshot`, `status`)
touch only immutable objects through one reference, so any thread may call them without locks;
everything else is handed to the client's loop. `on_change` callbacks run in that thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

from configd_client._client import AsyncConfigClient, Check
from configd_client._options import ClientOptions
from configd_client._snapshot import Snapshot
from configd_client._state import ClientStatus
from configd_client.wire.jsontext import JSONValue

T = TypeVar("T")

SyncChangeCallback = Callable[[Snapshot, Snapshot, frozenset[str]], None]


class ConfigClient:
    """Watches configd namespaces and serves their values locally, for threaded programs.

    Use as `with ConfigClient("payments/prod") as config: config.get("timeout")`. The
    arguments are those of AsyncConfigClient: the selection, and a ClientOptions (`options=`
    and/or its fields as keyword arguments). start() blocks until the values are loaded (or
    the cache is used, or start_timeout passes).
    """

    def __init__(
        self,
        namespaces: str | Iterable[str] = (),
        *,
        prefixes: Iterable[str] = (),
        options: ClientOptions | None = None,
        **kwargs: Any,
    ) -> None:
        self._core = AsyncConfigClient(namespaces, prefixes=prefixes, options=options, **kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # guards start/close, never reads
        self._closed = False

    # -- reading: straight from the core's current view, in the caller's thread ---------------

    def get(self, key: str, default: JSONValue = None, *, namespace: str | None = None) -> Any:
        """The value of `key` (frozen: arrays are tuples, objects read-only mappings)."""
        # AsyncConfigClient.get inlined: this is the hot path, and a second call doubles it.
        view = self._core._view
        doc = view.default if namespace is None else view.docs.get(namespace)
        if doc is None:
            return self._core._absent(namespace, default)
        return doc.values.get(key, default)

    def snapshot(self, namespace: str | None = None) -> Snapshot:
        """One namespace's values at one revision, as an immutable mapping with `.revision`."""
        return self._core.snapshot(namespace)

    def snapshots(self) -> dict[str, Snapshot]:
        return self._core.snapshots()

    def bind(self, cls: type[T], *, namespace: str | None = None) -> T:
        """A new instance of dataclass `cls` from the namespace's current values."""
        return self._core.bind(cls, namespace=namespace)

    @property
    def status(self) -> ClientStatus:
        return self._core.status

    @property
    def revision(self) -> int:
        return self._core.revision

    @property
    def options(self) -> ClientOptions:
        return self._core.options

    # -- subscribing ------------------------------------------------------------------------------

    def on_change(self, callback: SyncChangeCallback) -> SyncChangeCallback:
        """Call `callback(old, new, changed_keys)` in the client's thread after each swap.

        In revision order, one at a time; an exception is logged and updates continue. Keep it
        short: the next revision is applied only after it returns. Works as a decorator.
        """
        self._core.on_change(callback)
        return callback

    def add_check(self, check: Check) -> Check:
        """As AsyncConfigClient.add_check: `check(candidate)` runs in the client's thread
        before each swap; raising or returning False vetoes the revision. An `async def`
        check is awaited on the client's own event loop (in that thread), and its result is
        the verdict; it must not wait on anything bound to another loop."""
        return self._core.add_check(check)

    @property
    def client_id(self) -> str:
        return self._core.client_id

    @property
    def labels(self) -> dict[str, str]:
        return self._core.labels

    def wait_for_revision(self, revision: int, timeout: float | None = None) -> int:
        """Block until the client has processed `revision`; TimeoutError after `timeout`.

        As AsyncConfigClient.wait_for_revision: it returns after the on_change callbacks for
        `revision` have returned in the client's thread, never before them."""
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "configd: wait_for_revision() would block the client's own thread "
                "(called from an on_change callback?)"
            )
        return self._call(self._core.wait_for_revision(revision, timeout)).result()

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the background thread and load the values (see AsyncConfigClient.start)."""
        with self._lock:
            if self._loop is not None or self._closed:
                raise RuntimeError("configd: a client can be started only once")
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._thread = threading.Thread(
                target=self._thread_main, args=(loop,), name="configd-client", daemon=True
            )
            self._thread.start()
        try:
            self._call(self._core.start()).result()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop watching, close the channel and join the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("configd: close() cannot be called from an on_change callback")
        try:
            asyncio.run_coroutine_threadsafe(self._core.aclose(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def _call(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        loop = self._loop
        if loop is None or self._closed:
            coro.close()
            raise RuntimeError("configd: the client is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    @staticmethod
    def _thread_main(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def __repr__(self) -> str:
        return repr(self._core).replace("AsyncConfigClient", "ConfigClient", 1)
