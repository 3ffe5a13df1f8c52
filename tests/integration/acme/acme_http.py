"""The HTTP half of acme_client.py: a response kept whole (status, headers, body, links, problem
documents), AcmeError, and the keep-alive HTTPS transport with its retry on a dropped connection."""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Optional

from acme_jose import ERROR_PREFIX, PROBLEM_JSON


# --------------------------------------------------------------------------- HTTP

@dataclass
class Response:
    method: str
    url: str
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes
    request_body: Optional[bytes] = None
    _json: Any = field(default=None, repr=False)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    @property
    def content_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def json(self) -> Any:
        if self._json is None:
            try:
                self._json = json.loads(self.body.decode("utf-8")) if self.body else None
            except (ValueError, UnicodeDecodeError):
                self._json = None
        return self._json

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def is_problem(self) -> bool:
        return self.content_type == PROBLEM_JSON

    @property
    def problem_type(self) -> Optional[str]:
        """The full problem type URN of an error response, or None."""
        j = self.json
        if self.status >= 400 and isinstance(j, dict) and isinstance(j.get("type"), str):
            return j["type"]
        return None

    @property
    def error(self) -> Optional[str]:
        """The ACME error type without its URN prefix ("badNonce"), or the full type otherwise."""
        t = self.problem_type
        if t is None:
            return None
        return t[len(ERROR_PREFIX):] if t.startswith(ERROR_PREFIX) else t

    @property
    def location(self) -> Optional[str]:
        return self.header("Location")

    @property
    def nonce(self) -> Optional[str]:
        return self.header("Replay-Nonce")

    def links(self, rel: Optional[str] = None) -> list[str]:
        """Link header targets (all, or those with that rel), resolved against the request URL."""
        out = []
        for value in self.header_all("Link"):
            for part in _split_links(value):
                target, params = part
                if rel is None or rel in params.get("rel", "").split():
                    out.append(urllib.parse.urljoin(self.url, target))
        return out

    def retry_after(self) -> Optional[float]:
        """Seconds from now per the Retry-After header (delta-seconds or HTTP-date), or None."""
        v = self.header("Retry-After")
        if v is None:
            return None
        v = v.strip()
        if v.isdigit():
            return float(v)
        try:
            when = email.utils.parsedate_to_datetime(v)
            return max(0.0, when.timestamp() - time.time())
        except (TypeError, ValueError):
            return None

    def summary(self, limit: int = 300) -> str:
        body = self.text.replace("\n", " ")
        return f"{self.method} {self.url} -> {self.status} {body[:limit]}"


def _split_links(value: str) -> list[tuple[str, dict]]:
    """Parses one Link header value (RFC 8288) into (target, params) pairs."""
    out, i, n = [], 0, len(value)
    while i < n:
        lt = value.find("<", i)
        if lt < 0:
            break
        gt = value.find(">", lt)
        if gt < 0:
            break
        target = value[lt + 1:gt]
        i = gt + 1
        params: dict = {}
        while i < n and value[i] != ",":
            if value[i] in " \t;":
                i += 1
                continue
            eq = value.find("=", i)
            stop = min([p for p in (value.find(";", i), value.find(",", i)) if p >= 0] or [n])
            if eq < 0 or eq > stop:
                params[value[i:stop].strip().lower()] = ""
                i = stop
                continue
            name = value[i:eq].strip().lower()
            i = eq + 1
            if i < n and value[i] == '"':
                end = value.find('"', i + 1)
                end = n if end < 0 else end
                params[name] = value[i + 1:end]
                i = end + 1
            else:
                stop = min([p for p in (value.find(";", i), value.find(",", i)) if p >= 0] or [n])
                params[name] = value[i:stop].strip()
                i = stop
        i += 1
        out.append((target, params))
    return out


class AcmeError(Exception):
    """A response with a status the caller did not expect; `.response` has all of it."""

    def __init__(self, response: Response, what: str = ""):
        self.response = response
        super().__init__(f"{what + ': ' if what else ''}{response.summary()}")

    @property
    def error(self) -> Optional[str]:
        return self.response.error


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that dials a fixed address (as curl --resolve) and names the host
    in SNI/verification/Host; TCP_NODELAY is set by http.client itself."""

    def __init__(self, host, port, dial_host, **kw):
        super().__init__(host, port, **kw)
        self._dial_host = dial_host

    def _create_connection(self, address, timeout, source_address=None):  # noqa: D401
        return socket.create_connection((self._dial_host, address[1]), timeout, source_address)


_RETRYABLE = (http.client.RemoteDisconnected, http.client.CannotSendRequest, http.client.BadStatusLine,
              ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLEOFError)


class Transport:
    """Keep-alive HTTPS/HTTP connections, one per (scheme, host, port); not thread-safe (one per
    thread). `resolve` maps host names to the address dialled ({"localhost": "127.0.0.1"})."""

    def __init__(self, ca_file: Optional[str] = None, timeout: float = 30.0,
                 resolve: Optional[dict] = None, ssl_context: Optional[ssl.SSLContext] = None):
        if ssl_context is None:
            ssl_context = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.resolve = {"localhost": "127.0.0.1"} if resolve is None else resolve
        self._conns: dict = {}
        self.connections_opened = 0

    def close(self):
        for c in self._conns.values():
            c.close()
        self._conns.clear()

    def _conn(self, scheme: str, host: str, port: int):
        k = (scheme, host, port)
        c = self._conns.get(k)
        if c is None:
            dial = self.resolve.get(host, host)
            if scheme == "https":
                c = _Connection(host, port, dial, timeout=self.timeout, context=self.ssl_context)
            else:
                c = http.client.HTTPConnection(dial, port, timeout=self.timeout)
            self._conns[k] = c
            self.connections_opened += 1
        return c

    def request(self, method: str, url: str, body: Optional[bytes] = None,
                headers: Optional[dict] = None) -> Response:
        u = urllib.parse.urlsplit(url)
        port = u.port or (443 if u.scheme == "https" else 80)
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        hdrs = {"User-Agent": "sigil-acme-test/1", "Accept-Language": "en"}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            conn = self._conn(u.scheme, u.hostname, port)
            try:
                conn.request(method, path, body=body, headers=hdrs)
                r = conn.getresponse()
                data = r.read()
            except _RETRYABLE:
                # A keep-alive connection the server had closed (or a restarted server): once more
                # on a fresh connection. Should the server have seen the request after all, its
                # nonce is spent: the repeat gets badNonce (and post() may then retry it anew).
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
                if attempt:
                    raise
                continue
            except (OSError, http.client.HTTPException):
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
                raise
            if r.will_close:
                conn.close()
                self._conns.pop((u.scheme, u.hostname, port), None)
            return Response(method, url, r.status, r.reason, r.headers, data, body)
        raise AssertionError("unreachable")
