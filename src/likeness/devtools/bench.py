"""``likeness bench``: throughput of the pipeline against its baselines, and similarity search.

(a) the seed script's way: one process per image (`python -m likeness extract IMAGE`);
(b) a warm InsightFace ``FaceAnalysis`` loop (models loaded once, per-face recognition);
(c) ``likeness`` backfill end to end, database writes included (scratch database), in
    steady state and as a whole run;
(d) the model-only floor: the engine alone as the backfill runs it, nothing else.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import psutil  # type: ignore[import-untyped]

from likeness.config import Settings, get_settings
from likeness.devtools.scratch_photos import project_photos_removed_after
from likeness.storage.image_formats import IMAGE_SUFFIXES

SCRATCH_DATABASE = "likeness_bench"


@dataclass(frozen=True)
class Measurement:
    name: str
    images: int
    seconds: float
    peak_rss_mb: float

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds

    @property
    def ms_per_image(self) -> float:
        return 1000 * self.seconds / self.images


@contextmanager
def peak_rss() -> Iterator[list[float]]:
    """Peak resident memory (MB) of this process while the block runs, sampled."""
    process = psutil.Process()
    peak = [process.memory_info().rss]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], process.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = [0.0]
    try:
        yield result
    finally:
        done.set()
        sampler.join()
        result[0] = peak[0] / 2**20


def timed(name: str, images: int, work: Callable[[], None]) -> Measurement:
    with peak_rss() as peak:
        started = time.perf_counter()
        work()
        seconds = time.perf_counter() - started
    return Measurement(name, images, seconds, peak[0])


def image_files(folder: Path | None, work_dir: Path) -> list[Path]:
    if folder is not None:
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return studio_photos(work_dir)


# The bench set: studio source images are 1 to 4 MP photos, mostly of one person.
STUDIO_MEGAPIXELS = (1.0, 1.4, 1.8, 2.2, 2.6, 3.0, 3.5, 4.0)
STUDIO_PORTRAITS = 13
STUDIO_GROUPS = ("t1.jpg", "gdp.jpg", "players.jpg")


def studio_photos(work_dir: Path) -> list[Path]:
    """16 photos of 1 to 4 MP made from the sample photos: 13 portraits (a crop around each
    clear face of t1, gdp and yaoming, upscaled) and the 3 group photos, re-encoded at
    varied JPEG qualities; every 4th is stored sideways with an EXIF orientation tag."""
    from PIL import Image

    from likeness.face.engine import get_face_engine
    from likeness.face.image_loading import load_configured
    from likeness.face.model_pack import sample_photos

    photos, engine, settings = sample_photos(), get_face_engine(), get_settings()
    portraits = []
    for name in ("t1.jpg", "gdp.jpg", "yaoming.jpg"):
        with Image.open(photos[name]) as photo:
            image = photo.convert("RGB")
        for face in engine.detect_image(load_configured(photos[name], settings)):
            if face.confidence >= 0.8:
                box = face.bounding_box
                centre_x, centre_y = box.x + box.width / 2, box.y + 0.45 * box.height
                reach = 1.1 * max(box.width, box.height)
                portraits.append(
                    image.crop(
                        (
                            round(centre_x - 0.8 * reach),
                            round(centre_y - reach),
                            round(centre_x + 0.8 * reach),
                            round(centre_y + 1.1 * reach),
                        )
                    )
                )
    groups = []
    for name in STUDIO_GROUPS:
        with Image.open(photos[name]) as photo:
            groups.append(photo.convert("RGB"))
    sources = [portraits[i % len(portraits)] for i in range(STUDIO_PORTRAITS)] + groups
    made = []
    for index, source in enumerate(sources):
        megapixels = STUDIO_MEGAPIXELS[index % len(STUDIO_MEGAPIXELS)]
        factor = (megapixels * 1e6 / (source.width * source.height)) ** 0.5
        image = source.resize(
            (round(source.width * factor), round(source.height * factor)),
            Image.Resampling.BICUBIC,
        )
        exif = Image.Exif()
        if index % 4 == 3:
            image = image.rotate(90, expand=True)  # orientation 6 turns it upright again
            exif[0x0112] = 6
        target = work_dir / f"studio-{index:02d}.jpg"
        image.save(target, quality=85 + index % 10, exif=exif)
        made.append(target)
    return made


def varied_photos(work_dir: Path, count: int) -> list[Path]:
    """``count`` different photos of 1 to 2.5 MP made from the sample photos (upscaled,
    mirrored, re-encoded), as studio source images are."""
    from PIL import Image, ImageOps

    from likeness.face.model_pack import sample_photos

    sources = [path for name, path in sorted(sample_photos().items()) if name.endswith(".jpg")]
    made = []
    for index in range(count):
        with Image.open(sources[index % len(sources)]) as photo:
            image = photo.convert("RGB")
        long_side = 1400 + 150 * (index % 8)
        factor = long_side / max(image.size)
        image = image.resize((round(image.width * factor), round(image.height * factor)))
        if index // len(sources) % 2:
            image = ImageOps.mirror(image)
        target = work_dir / f"varied-{index:03d}.jpg"
        image.save(target, quality=85 + index % 10)
        made.append(target)
    return made


def one_process_per_image(paths: list[Path]) -> Measurement:
    """(a): a fresh interpreter per image, loading the models each time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    for path in paths:
        subprocess.run(
            [sys.executable, "-m", "likeness", "extract", str(path)],
            check=True,
            capture_output=True,
        )
    seconds = time.perf_counter() - started
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    return Measurement("(a) one process per image", len(paths), seconds, peak)


def face_analysis_loop(paths: list[Path], settings: Settings, rounds: int) -> Measurement:
    """(b): InsightFace's own FaceAnalysis, warm, one recognizer call per face."""
    from likeness.devtools.face_analysis_loop import face_analysis

    app = face_analysis(settings)

    def work() -> None:
        for _ in range(rounds):
            for path in paths:
                app.get(cv2.imread(str(path)))

    return timed("(b) warm FaceAnalysis loop", len(paths) * rounds, work)


def model_floor(paths: list[Path], rounds: int) -> Measurement:
    """(d): the engine alone as the backfill runs it (decode, detector, batched recognizer,
    images side by side), without database, checks or Prefect."""
    from likeness.face.engine import get_face_engine
    from likeness.face.image_loading import load_configured
    from likeness.pipeline import side_by_side

    settings, engine = get_settings(), get_face_engine()

    def extract(path: Path) -> object:
        return engine.detect_image(load_configured(path, settings))

    def work() -> None:
        for _ in side_by_side(paths * rounds, extract, settings.resolved_extraction_streams):
            pass

    return timed("(d) model-only floor", len(paths) * rounds, work)


def backfill_end_to_end(
    paths: list[Path], rounds: int, url: str, chunk_size: int, project: str = "bench"
) -> list[Measurement]:
    """(c): import as characters in a scratch database, then the backfill flow: its steady
    state (from the first chunk's commit to the last's) and the whole run."""
    from sqlalchemy import func, select

    from likeness.db.models import BackfillItem, BackfillJob
    from likeness.db.session import engine_for, transaction
    from likeness.extraction_requests import import_files
    from likeness.flows.backfill import backfill_embeddings

    # Source images are copies in the store; they go when the bench ends.
    with project_photos_removed_after(project):
        import_files(paths * rounds, project=project)
        backfill_embeddings("missing", project="bench-warmup")  # starts Prefect before timing

        def work() -> None:
            backfill_embeddings("missing", project=project, chunk_size=chunk_size)

        whole = timed("(c) likeness backfill, whole run", len(paths) * rounds, work)
    with transaction() as session:
        # Each chunk's items carry the start time of the transaction that wrote them.
        commits = session.execute(
            select(BackfillItem.processed_at, func.count())
            .join(BackfillJob, BackfillJob.id == BackfillItem.job_id)
            .where(BackfillJob.project == project)
            .group_by(BackfillItem.processed_at)
            .order_by(BackfillItem.processed_at)
        ).all()
    engine_for(url).dispose()
    # Steady state: from the first chunk's write to the last but one's (to the last one's
    # with 3 chunks or fewer). Before the first write nothing was looked ahead (start-up);
    # the last chunk's begin and checks have no next chunk to extract beside them
    # (wind-down): both are paid once per run.
    if len(commits) < 2:
        return [whole]
    inner = commits[:-1] if len(commits) > 3 else commits
    images = sum(count for _, count in inner[1:])
    seconds = (inner[-1][0] - inner[0][0]).total_seconds()
    steady = Measurement("(c) likeness backfill, steady state", images, seconds, whole.peak_rss_mb)
    return [steady, whole]


@dataclass(frozen=True)
class FloorAndBackfill:
    """(d) and (c), each the median of its repeats, and d/c of each repeat (a floor and
    the backfill right after it)."""

    floor: Measurement
    backfill: list[Measurement]  # steady state, whole run
    ratios: list[float]

    @property
    def median_ratio(self) -> float:
        """d/c as measured: the median of the repeats' own ratios."""
        return statistics.median(self.ratios)


def floor_and_backfill(
    paths: list[Path], rounds: int, url: str, chunk_size: int, repeats: int
) -> FloorAndBackfill:
    """(d) then (c), ``repeats`` times: on a shared machine either moves by 5 to 15 % from
    one run to the next, so they alternate (a slow spell slows both) and each reports its
    median run (a disturbed run is left out of both)."""
    floors, backfills = [], []
    for repeat in range(1, repeats + 1):
        floors.append(model_floor(paths, rounds))
        backfills.append(
            backfill_end_to_end(paths, rounds, url, chunk_size, project=f"bench-{repeat}")
        )
    return FloorAndBackfill(
        floor=median(floors),
        backfill=[median(list(runs)) for runs in zip(*backfills, strict=True)],
        ratios=[
            floor.images_per_second / backfill[0].images_per_second
            for floor, backfill in zip(floors, backfills, strict=True)
        ],
    )


def median(runs: list[Measurement]) -> Measurement:
    """The middle run by images per second (the slower middle one of an even number)."""
    return sorted(runs, key=lambda run: run.images_per_second)[(len(runs) - 1) // 2]


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh, migrated database on the configured server for the run, dropped afterwards."""
    from likeness.db import migrate
    from likeness.db.databases import create_database, drop_database
    from likeness.db.session import database_url

    admin_url = database_url()
    url = create_database(admin_url, SCRATCH_DATABASE, fresh=True)
    migrate.upgrade(url)
    previous = os.environ.get("LIKENESS_DATABASE_URL")
    os.environ["LIKENESS_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("LIKENESS_DATABASE_URL")
        else:
            os.environ["LIKENESS_DATABASE_URL"] = previous
        get_settings.cache_clear()
        drop_database(admin_url, SCRATCH_DATABASE)


def machine() -> str:
    from likeness.face.engine import get_face_engine

    engine = get_face_engine()
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB; provider {engine.providers[0]}, "
        f"recognizer on {engine.recognizer_runtime}; model pack {get_settings().model_pack}"
    )


# Face embeddings are far from uniform on the 512-d sphere: identities form clusters in a
# space of low intrinsic dimension. Uniform random vectors are the worst case no index
# serves (all distances concentrate near 1), so the synthetic set mimics that structure.
LATENT_DIMENSIONS = 64
SAMPLES_PER_IDENTITY = 4
IDENTITY_NOISE = 0.6  # same-identity cosine about 0.7, as ArcFace gives for one person


def synthetic_embeddings(rng: np.random.Generator, count: int) -> np.ndarray:
    """Normalised 512-d vectors: identities in a 64-d latent space, a few samples each."""
    identities = -(-count // SAMPLES_PER_IDENTITY)
    basis = rng.standard_normal((LATENT_DIMENSIONS, 512)).astype(np.float32)
    centres = rng.standard_normal((identities, LATENT_DIMENSIONS)).astype(np.float32)
    latent = np.repeat(centres, SAMPLES_PER_IDENTITY, axis=0)[:count]
    latent += IDENTITY_NOISE * rng.standard_normal(latent.shape).astype(np.float32)
    data = latent @ basis
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


@dataclass(frozen=True)
class SearchMeasurement:
    ef_search: int
    p50_ms: float
    p99_ms: float
    recall_at_10: float


def similarity_search(
    url: str, *, vectors: int, queries: int, ef_values: list[int]
) -> tuple[float, list[SearchMeasurement]]:
    """Synthetic normalised 512-d embeddings as characters; the app's similar query against
    exact search. Returns the HNSW build time and one row per ef_search."""
    import psycopg
    from pgvector.psycopg import register_vector
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from likeness.db import repository
    from likeness.db.session import search_options, transaction

    rng = np.random.default_rng(42)
    data = synthetic_embeddings(rng, vectors)
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as connection:
        register_vector(connection)
        project = connection.execute(
            "INSERT INTO projects (name) VALUES ('bench-similarity') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        # The index as the migrations define it, built once the rows are in (far faster).
        index_definition = connection.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_characters_face_embedding_hnsw'"
        ).fetchone()[0]  # type: ignore[index]
        connection.execute("DROP INDEX ix_characters_face_embedding_hnsw")
        with connection.cursor().copy(
            "COPY characters (project_id, name, face_embedding, embedding_model, "
            "embedding_status_id) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "varchar", "vector", "varchar", "int2"])
            for index, vector in enumerate(data):
                copy.write_row((project, f"synthetic-{index}", vector, "buffalo_s", 3))
        ids = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM characters WHERE project_id = %s ORDER BY id", (project,)
            )
        ]
        connection.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        connection.execute(index_definition)
        build_seconds = time.perf_counter() - started
        connection.execute("ANALYZE characters")
    picks = rng.choice(vectors, size=queries, replace=False)
    truth = []
    for pick in picks:
        similarity = data @ data[pick]
        similarity[pick] = -np.inf  # the character itself is never an answer
        truth.append({ids[i] for i in np.argpartition(-similarity, 10)[:10]})
    rows = []
    for ef in ef_values:
        engine = create_engine(url, connect_args=search_options(ef))
        latencies, hits = [], 0
        for pick, expected in zip(picks, truth, strict=True):
            started = time.perf_counter()  # the whole call, as the API makes it
            with transaction(engine) as session:
                found = repository.similar_characters(
                    session, character_id=ids[pick], k=10, max_distance=None
                )
            latencies.append(1000 * (time.perf_counter() - started))
            hits += len(expected & {f.id for f in found})
        engine.dispose()
        rows.append(
            SearchMeasurement(
                ef,
                float(np.percentile(latencies, 50)),
                float(np.percentile(latencies, 99)),
                hits / (10 * queries),
            )
        )
    return build_seconds, rows
