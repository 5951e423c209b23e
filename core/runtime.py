"""The process-wide resources every entry point needs: settings, the database and Redis. Built once per process."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core import redis as redis_conn
from core.db import Database
from core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    db: Database
    redis: redis.Redis

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            settings=settings,
            db=Database(settings.database_url, settings.database.echo),
            redis=redis_conn.connect(settings.redis.url, settings.var_dir),
        )

    def close(self) -> None:
        self.db.dispose()
        self.redis.close()
