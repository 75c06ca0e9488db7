"""Storages: where studies live. A URL string works everywhere a storage
does; these classes exist for code written for Optuna's storages."""

from __future__ import annotations

from typing import Any, Optional, Union

from ferrotune import _ferrotune


class BaseStorage:
    """A storage (`sqlite:///file.db`, `postgresql://...`, or memory)."""

    def __init__(self, url: str) -> None:
        self._native = _ferrotune.NativeStorage(url)

    @property
    def url(self) -> str:
        return self._native.url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


class InMemoryStorage(BaseStorage):
    """This process's memory: fast, gone at exit. Studies created on the
    same object share it."""

    def __init__(self) -> None:
        super().__init__("memory:")


class RDBStorage(BaseStorage):
    """A database by URL: ``sqlite:///file.db`` or ``postgresql://user@host/db``
    (the same files and databases the ferrotune CLI and dashboard use).
    SQLAlchemy's ``postgresql+psycopg2://`` is accepted as ``postgresql://``."""

    def __init__(self, url: str, engine_kwargs: Optional[dict] = None, skip_compatibility_check: bool = False,
                 *, heartbeat_interval: Optional[int] = None, grace_period: Optional[int] = None,
                 failed_trial_callback: Any = None, skip_table_creation: bool = False) -> None:
        if url.startswith("postgresql+") or url.startswith("postgres+"):
            url = "postgresql://" + url.split("://", 1)[1]
        super().__init__(url)


def _resolve(storage: Union[str, BaseStorage, None]) -> BaseStorage:
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, str):
        return RDBStorage(storage)
    raise TypeError(f"storage must be None, a URL string or a ferrotune storage, not {type(storage).__name__}")


__all__ = ["BaseStorage", "InMemoryStorage", "RDBStorage"]
