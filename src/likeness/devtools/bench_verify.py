"""``likeness bench --only verify``: the match thresholds measured on labelled real photos,
one verify's latency on a stack like ``likeness up``'s, and a batch check's images per
second against the model-only floor on the same photos.

Labelled photos (every set the project can obtain here): Yao Ming's portrait and his face
cut from the team photo (sample photos), Barack Obama's three different photos
(``published_photos``), each with the variants of ``identity_evidence.VARIANTS``
(mirrored, darker, brighter, tilted, half size). Genuine pairs: two photos of one person
taken apart (never a photo with its own variant). Impostor pairs: faces of different people
among every face of the sample and published photos.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from likeness.devtools.bench import Measurement, model_floor
from likeness.devtools.bench_load import load_stack
from likeness.devtools.identity_evidence import YAO_MING, embed_variants, labelled_faces
from likeness.devtools.published_photos import published_photos
from likeness.devtools.samples import YAO_MING_IN_PLAYERS, crop_square
from likeness.devtools.scratch_photos import remove_project_photos
from likeness.face.model_pack import sample_photos
from likeness.identity.verdicts import ErrorRates, MatchThresholds, error_rates, grid
from likeness.identity.verdicts import suggest_thresholds as rule
from likeness.storage import get_store

PROJECT = "bench-verify"


@dataclass(frozen=True)
class Labelled:
    genuine: list[float]  # similarity of two photos of one person
    impostor: list[float]  # similarity of two different people

    @property
    def rates(self) -> list[ErrorRates]:
        return error_rates(self.genuine, self.impostor, grid(0.1, 0.7))

    @property
    def suggested(self) -> MatchThresholds:
        return rule(self.genuine, self.impostor)


def labelled_similarities(work_dir: Path) -> Labelled:
    """Genuine and impostor similarities over every labelled photo this machine has."""
    published = published_photos()
    photos = sample_photos()
    team = crop_square(photos["players.jpg"], YAO_MING_IN_PLAYERS, 1.0, work_dir / "yao.png")
    sets = {
        (YAO_MING, "portrait"): embed_variants(photos["yaoming.jpg"], work_dir, "yao-a"),
        (YAO_MING, "team"): embed_variants(team, work_dir, "yao-b"),
    }
    for person, paths in published.items():
        for path in paths:
            sets[(person, path.name)] = embed_variants(path, work_dir, path.stem)
    genuine = [
        float(a @ b)
        for first, second in itertools.combinations(sets, 2)
        if first[0] == second[0]
        for a in sets[first].values()
        for b in sets[second].values()
    ]
    impostor = [
        float(a @ b)
        for (who, a), (other, b) in itertools.combinations(labelled_faces(published), 2)
        if who != other or not who  # unnamed faces of the sample photos: all different people
    ]
    return Labelled(genuine, impostor)


@dataclass(frozen=True)
class VerifyTimings:
    seconds: list[float]  # one verify each: POST sent to the answer
    batch: Measurement  # a batch check's flow run, first to last image
    floor: Measurement  # the model-only floor on the same photos, measured just before

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.seconds, q))


def verify_timings(
    url: str, probes: list[Path], batch_photos: list[Path], rounds: int
) -> VerifyTimings:
    """One verify after another of each probe, then the batch photos ``rounds`` times as
    one batch check, on a stack like ``likeness up``'s (one warm worker)."""
    floor = model_floor(batch_photos, rounds)
    store = get_store()
    keys = []
    for photo in batch_photos:
        with store.new_photo(PROJECT, photo.suffix) as (key, out):
            out.write(photo.read_bytes())
        keys.append(key)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="likeness-verify-") as scratch,
            load_stack(url, 1, Path(scratch)) as (api, prefect_api),
            httpx.Client(base_url=api, timeout=120) as client,
        ):
            character = _extracted_character(client, sample_photos()["yaoming.jpg"])
            seconds = []
            for probe in probes:
                sent = time.monotonic()
                with probe.open("rb") as body:
                    answer = client.post(
                        f"/api/characters/{character}/verify", files={"image": (probe.name, body)}
                    )
                answer.raise_for_status()
                seconds.append(time.monotonic() - sent)
            batch = _batch(client, prefect_api, character, keys * rounds)
    finally:
        remove_project_photos(PROJECT)
    return VerifyTimings(seconds, batch, floor)


def _extracted_character(client: httpx.Client, photo: Path) -> int:
    with photo.open("rb") as body:
        created = client.post(
            "/api/characters",
            data={"name": "verify", "project": PROJECT},
            files={"image": (photo.name, body)},
        ).json()
    status_url = f"/api/characters/{created['id']}/embedding-status"
    while client.get(status_url).json()["status"] in ("pending", "extracting"):
        time.sleep(0.05)
    return int(created["id"])


def _batch(client: httpx.Client, prefect_api: str, character: int, keys: list[str]) -> Measurement:
    """A batch check of ``keys``: images per second of its flow run, start to end."""
    started = client.post(
        f"/api/characters/{character}/likeness-checks", json={"image_keys": keys}
    ).json()
    while client.get(started["url"]).json()["status"] in ("queued", "running"):
        time.sleep(0.5)
    run = httpx.get(f"{prefect_api}/flow_runs/{started['flow_run_id']}", timeout=30).json()
    return Measurement("batch likeness check (flow run)", len(keys), run["total_run_time"], 0.0)
