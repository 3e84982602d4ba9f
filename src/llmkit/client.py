"""``Client`` and ``AsyncClient``: the front door.

Both validate their arguments into a request (:mod:`llmkit._request`), hand it
to the backend, and wrap the backend's events in a :class:`~llmkit.stream.Stream`
or :class:`~llmkit.stream.AsyncStream`.  Without ``stream=True`` the same
stream is read to its end and its accumulated response returned, so streamed
and whole answers cannot disagree.

``AsyncClient`` (``_async/client.py``) is the source; ``Client``
(``_sync/client.py``) is generated from it by ``.ci/unasync.py``.
"""

from llmkit._async.client import AsyncClient
from llmkit._sync.client import Client

__all__ = ["AsyncClient", "Client"]
