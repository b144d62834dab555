"""The Feast ``RepoConfig`` of a profile, built from :class:`FeatureStoreSettings`.

The dev config equals ``feature_repo/feature_store.yaml`` with ``CHURN_FEATURES_DATA_DIR``
set (the yaml exists for the ``feast`` CLI; a test keeps the two identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from feast.repo_config import RepoConfig
from psycopg.conninfo import make_conninfo

from churn_features.settings import FeatureStoreSettings

ENTITY_KEY_SERIALIZATION_VERSION = 3


@dataclass(frozen=True)
class PostgresLocation:
    """The parts of a ``postgresql://`` URL, as Feast's PostgreSQL config wants them."""

    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str | None

    @classmethod
    def parse(cls, url: str) -> PostgresLocation:
        parts = urlsplit(url)
        database = parts.path.lstrip("/")
        if not parts.hostname or not database:
            raise ValueError("postgres_url needs a host and a database: postgresql://host/db")
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or 5432,
            database=unquote(database),
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            sslmode=query["sslmode"][0] if "sslmode" in query else None,
        )

    def sqlalchemy_url(self) -> str:
        """URL for Feast's SQL registry (SQLAlchemy with psycopg 3)."""
        credentials = quote(self.user, safe="")
        if self.password:
            credentials += ":" + quote(self.password, safe="")
        query = f"?sslmode={self.sslmode}" if self.sslmode else ""
        return (
            f"postgresql+psycopg://{credentials}@{self.host}:{self.port}/"
            f"{quote(self.database, safe='')}{query}"
        )

    def conninfo(self) -> str:
        """libpq connection string for psycopg."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
        }
        if self.password:
            options["password"] = self.password
        if self.sslmode:
            options["sslmode"] = self.sslmode
        return make_conninfo("", **options)


def redis_connection_string(url: str) -> str:
    """Feast's Redis ``connection_string`` (``host:port,db=N,password=...``) for a URL."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError("redis_url needs a host: redis://host:6379/0")
    options = [f"{parts.hostname}:{parts.port or 6379}"]
    db = parts.path.lstrip("/")
    if db:
        options.append(f"db={int(db)}")
    if parts.username:
        options.append(f"username={unquote(parts.username)}")
    if parts.password:
        options.append(f"password={unquote(parts.password)}")
    if parts.scheme == "rediss":
        options.append("ssl=true")
    return ",".join(options)


def repo_config(settings: FeatureStoreSettings) -> RepoConfig:
    """The Feast configuration of ``settings``'s profile (no I/O)."""
    if settings.profile == "production":
        assert settings.redis_url is not None
        assert settings.postgres_url is not None
        postgres = PostgresLocation.parse(settings.postgres_url.get_secret_value())
        offline: dict[str, Any] = {
            "type": "postgres",
            "host": postgres.host,
            "port": postgres.port,
            "database": postgres.database,
            "user": postgres.user,
            "password": postgres.password,
            "sslmode": postgres.sslmode,
        }
        return RepoConfig(
            project=settings.project,
            provider="local",
            registry={
                "registry_type": "sql",
                "path": postgres.sqlalchemy_url(),
                "cache_ttl_seconds": settings.registry_cache_ttl_s,
                "sqlalchemy_config_kwargs": {"pool_pre_ping": True},
            },
            online_store={
                "type": "redis",
                "connection_string": redis_connection_string(settings.redis_url.get_secret_value()),
                # The feature service is the only writer and always writes a customer's row
                # recomputed from its whole history, so a correction at the *same* event
                # time (after a late record) must replace the stored row; Feast's dedup
                # would drop it as "not newer".
                "skip_dedup": True,
            },
            offline_store=offline,
            entity_key_serialization_version=ENTITY_KEY_SERIALIZATION_VERSION,
            repo_path=settings.data_dir.resolve(),
        )
    return RepoConfig(
        project=settings.project,
        provider="local",
        registry={
            "registry_type": "file",
            "path": str(settings.registry_path),
            "cache_ttl_seconds": settings.registry_cache_ttl_s,
        },
        online_store={"type": "sqlite", "path": str(settings.online_path)},
        offline_store={"type": "file"},
        entity_key_serialization_version=ENTITY_KEY_SERIALIZATION_VERSION,
        repo_path=settings.data_dir.resolve(),
    )
