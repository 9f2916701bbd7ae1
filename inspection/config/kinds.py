"""Sections that choose an implementation by `kind`, where leaving `kind` out means the default one."""

from __future__ import annotations

from collections.abc import Callable


def kind_or(default: str) -> Callable[[object], str | None]:
    """The discriminator for such a union: a raw section's `kind` (or `default`), or a model's own."""

    def kind(value: object) -> str | None:
        if isinstance(value, dict):
            return str(value.get("kind", default))
        return getattr(value, "kind", None)

    return kind
