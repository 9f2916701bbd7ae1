"""A sliding-window limit on failed logins, per username and per client address.

In memory on purpose: it must answer before any password hashing or database work, and a restart
only forgives one window. Keys are bounded so that a flood of invented usernames cannot grow it forever.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

MAX_KEYS = 100_000


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    retry_after_s: float = 0.0


class LoginRateLimiter:
    """Allows `attempts` failures per `window_s` for each key; `now` is passed in so tests need no sleeping."""

    def __init__(self, attempts: int, window_s: float) -> None:
        if attempts < 1 or window_s <= 0:
            raise ValueError(f"login rate limit needs attempts >= 1 and window_s > 0, got {attempts}, {window_s}")
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, username: str, address: str, now: float) -> Verdict:
        with self._lock:
            waits = [self._wait(key, now) for key in _keys(username, address)]
        longest = max(waits)
        return Verdict(longest > 0, longest)

    def failure(self, username: str, address: str, now: float) -> None:
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                self._prune(now)
            for key in _keys(username, address):
                if key in self._failures or len(self._failures) < MAX_KEYS:
                    self._failures.setdefault(key, deque()).append(now)
                    self._trim(key, now)

    def success(self, username: str) -> None:
        """Forgets the user's failures; the address keeps its own, so one good account cannot reset a guesser."""
        with self._lock:
            self._failures.pop(_user_key(username), None)

    def _wait(self, key: str, now: float) -> float:
        failures = self._trim(key, now)
        if len(failures) < self.attempts:
            return 0.0
        return failures[-self.attempts] + self.window_s - now

    def _trim(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._trim(key, now)


def _user_key(username: str) -> str:
    return f"user:{username}"


def _keys(username: str, address: str) -> tuple[str, str]:
    return _user_key(username), f"addr:{address}"
