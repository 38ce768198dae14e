"""Settings, read only from the environment (prefix ``LIKENESS_``) and defaults."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Characters per backfill chunk. Each chunk pays about 0.3 s of its own (a transaction, a
# data-check run, a Prefect task, its events): 128 keeps that near 2 ms per image.
BACKFILL_CHUNK_SIZE = 128


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIKENESS_", extra="ignore")

    home: Path = Field(default=Path.home() / ".likeness", description="Data directory.")
    database_url: str | None = Field(
        default=None, description="Unset: an embedded PostgreSQL under HOME/postgres."
    )
    storage_url: str | None = Field(
        default=None,
        description="Where photos live: a folder, or s3://bucket/prefix (with the AWS_* "
        "variables); unset: STORAGE_ROOT.",
    )
    storage_root: Path | None = Field(default=None, description="Unset: HOME/storage.")
    model_pack: str = "buffalo_s"
    model_root: Path | None = Field(default=None, description="Unset: HOME/insightface.")
    providers: list[str] | None = Field(
        default=None, description="onnxruntime providers; unset: CUDA when present, else CPU."
    )
    webhook_secret: str | None = None
    prefect_auth: SecretStr | None = Field(
        default=None,
        description="Prefect's API authentication string (user:password): the server "
        "requires it and every likeness process sends it. Required when the servers listen "
        "beyond loopback.",
    )
    api_token: SecretStr | None = Field(
        default=None, description="When set, every API and UI route requires it."
    )
    session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a UI login lasts."
    )
    trusted_origins: list[str] = Field(
        default=[],
        description="Origins besides the API's own that may send state-changing requests "
        "with the UI's cookie (a reverse proxy's public address).",
    )

    detection_size: int = Field(default=640, ge=160, le=2048)
    min_detection_score: float = Field(default=0.5, gt=0.0, lt=1.0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    max_image_bytes: int = Field(default=30 * 1024 * 1024, gt=0)
    # JPEGs at least twice this size (longer side) are decoded reduced, keeping this many
    # pixels: faces of 1/15 of the frame still get the 112 px recognition crop. 0: full size.
    decode_min_side: int = Field(default=1600, ge=0)
    # Each model call runs on one thread and a batch extracts several images side by side:
    # these models are too small to split well (two 1-thread streams did 1.7x the images of
    # one 2-thread stream here, and one image took as long on 1 thread as on 2).
    intra_op_threads: int = Field(default=1, ge=0, description="0: onnxruntime decides.")
    extraction_streams: int = Field(
        default=0, ge=0, description="Images a batch extracts at once; 0: one per CPU core."
    )
    recognizer_runtime: Literal["openvino", "onnxruntime"] = Field(
        default="openvino",
        description="Runs ArcFace on CPU (OpenVINO: about twice as fast, same embeddings); "
        "with CUDA it always runs on onnxruntime.",
    )

    # Data-quality bounds, from the 35 faces of the sample photos with buffalo_s (see
    # docs/configure.md):
    # mean confidence 0.786, median 0.838, 23% below 0.7, mean cosine between different
    # people 0.036 (a collapsed model gives ~1); `python -m likeness.devtools.calibration` measures.
    dq_confidence_mean_min: float = Field(default=0.65, ge=0, le=1)
    dq_confidence_median_min: float = Field(default=0.7, ge=0, le=1)
    dq_low_confidence_share_max: float = Field(default=0.4, ge=0, le=1)
    dq_mean_cosine_max: float = Field(default=0.2, ge=-1, le=1)

    # Flow runs one warm worker runs at once, in threads sharing its models; background runs
    # (backfill, checks) take at most all but one, so an upload never waits behind them.
    worker_limit: int = Field(default=4, ge=2, le=64)
    # How often an idle worker asks the Prefect server for runs (each ask costs the server
    # about 40 ms of CPU).
    worker_poll_s: float = Field(default=0.25, gt=0, le=60)
    # How long a verify or identify call waits for the pool's answer before it answers
    # 202 with the check to poll instead.
    check_wait_s: float = Field(default=30.0, gt=0, le=600)
    # Slots of the Prefect global concurrency limit "likeness-gpu": one per GPU in the pool.
    gpu_slots: int = Field(default=1, ge=1, le=64)

    # A character pending or extracting this long with no live run (its request or run was
    # lost) is started again by the reconciler, which every worker runs this often.
    stuck_after_s: int = Field(default=20, ge=0)
    reconcile_every_s: float = Field(default=5, gt=0)

    # HNSW candidate list for similarity search; `make bench` measures recall and latency.
    hnsw_ef_search: int = Field(default=40, ge=1, le=1000)

    # How long a command waits for the Prefect server it starts (kept for the next ones).
    prefect_startup_s: float = Field(default=180, gt=0)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    prefect_port: int = 4200

    @field_validator("home", "storage_root", "model_root")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return value.expanduser().resolve() if value is not None else None

    def prefect_auth_env(self) -> dict[str, str]:
        """Prefect's own settings for ``PREFECT_AUTH``: the server's and the clients'."""
        if self.prefect_auth is None:
            return {}
        secret = self.prefect_auth.get_secret_value()
        return {"PREFECT_SERVER_API_AUTH_STRING": secret, "PREFECT_API_AUTH_STRING": secret}

    @property
    def listens_beyond_loopback(self) -> bool:
        return self.api_host not in ("127.0.0.1", "localhost", "::1")

    @property
    def prefect_url(self) -> str:
        """The Prefect server of ``likeness up`` (its API under ``/api``, its UI at ``/``)."""
        return f"http://{self.api_host}:{self.prefect_port}"

    @field_validator("storage_url")
    @classmethod
    def _storage_url(cls, value: str | None) -> str | None:
        if value is None or value.startswith("s3://"):
            if value is not None and not value[len("s3://") :].split("/", 1)[0]:
                raise ValueError("an s3:// URL names a bucket: s3://bucket/prefix")
            return value
        if "://" in value:
            raise ValueError("a folder, or s3://bucket/prefix")
        return str(Path(value).expanduser().resolve())

    @property
    def resolved_storage_root(self) -> Path:
        """The local folder of photos: ``STORAGE_URL`` when it names a folder, else
        ``STORAGE_ROOT``, else ``HOME/storage``."""
        if self.storage_url and not self.storage_url.startswith("s3://"):
            return Path(self.storage_url)
        return self.storage_root or self.home / "storage"

    @property
    def storage_location(self) -> str:
        """The store in use: an ``s3://`` ``STORAGE_URL``, else the local folder."""
        if self.storage_url and self.storage_url.startswith("s3://"):
            return self.storage_url
        return str(self.resolved_storage_root)

    @property
    def resolved_model_root(self) -> Path:
        return self.model_root or self.home / "insightface"

    @property
    def postgres_dir(self) -> Path:
        return self.home / "postgres"

    @property
    def resolved_extraction_streams(self) -> int:
        return self.extraction_streams or len(os.sched_getaffinity(0))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
