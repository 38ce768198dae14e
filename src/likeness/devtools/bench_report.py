"""The tables `likeness bench` prints."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table


def print_throughput(console: Console, a: Any, bb: Any, dc: Any) -> None:
    table = Table("measure", "images", "images/s", "ms/image", "peak RSS MB")
    c, d = dc.backfill[0], dc.floor  # c: the steady state, when the run had several chunks
    for m in (a, bb, *dc.backfill, d):
        table.add_row(
            m.name,
            str(m.images),
            f"{m.images_per_second:.2f}",
            f"{m.ms_per_image:.1f}",
            f"{m.peak_rss_mb:.0f}",
        )
    console.print(table)
    ratios = Table("ratio", "measured", "target")
    ratios.add_row("c / a", f"{c.images_per_second / a.images_per_second:.1f}x", ">= 15x")
    ratios.add_row("c / b", f"{c.images_per_second / bb.images_per_second:.2f}x", ">= 1.3x")
    ratios.add_row("d / c", f"{dc.median_ratio:.2f}x", "<= 1.15x")
    console.print(ratios)
    console.print(
        f"(c) and (d): the median of {len(dc.ratios)} alternated runs each; d / c: the median "
        "of each run's floor against the backfill right after it: "
        + ", ".join(f"{ratio:.2f}" for ratio in dc.ratios)
    )


def print_search(
    console: Console, vectors: int, queries: int, build: float, search: list[Any]
) -> None:
    search_table = Table("hnsw.ef_search", "p50 ms", "p99 ms", "recall@10")
    for row in search:
        search_table.add_row(
            str(row.ef_search), f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}", f"{row.recall_at_10:.3f}"
        )
    console.print(
        f"similarity: {vectors} synthetic 512-d vectors, HNSW build {build:.0f}s, "
        f"{queries} queries (targets p50 ≤ 3 ms, p99 ≤ 10 ms, recall@10 ≥ 0.95)"
    )
    console.print(search_table)


def print_latency(console: Console, results: list[Any]) -> None:
    console.print(
        "latency: 20 different photos (1-2.5 MP) uploaded one at a time, POST to terminal "
        "status read through the API; one warm worker (targets p50 ≤ 1.0 s, p90 ≤ 1.5 s)"
    )
    table = Table("uploads", "p50 s", "p90 s", "max s")
    for result in results:
        table.add_row(
            result.label,
            f"{result.percentile(50):.2f}",
            f"{result.percentile(90):.2f}",
            f"{max(result.seconds):.2f}",
        )
    console.print(table)
    steps = Table("step (median of the runs alone)", "s")
    for name, seconds in results[0].steps.items():
        steps.add_row(name, f"{seconds:.3f}")
    console.print(steps)


def print_load(console: Console, load: Any, workers: int) -> None:
    console.print(
        f"load: {load.uploads} uploads sent at once through the API on loopback, "
        f"{workers} warm worker(s); the same photos through the backfill: "
        f"{load.backfill_per_second:.2f} characters/s"
    )
    table = Table("accepted", "terminal", "lost", "duplicate runs", "uploads/s", "p50 s", "p95 s")
    table.add_row(
        str(load.accepted),
        str(load.terminal),
        str(load.lost),
        str(load.extra_runs),
        f"{load.uploads_per_second:.2f}",
        f"{load.percentile(50):.1f}",
        f"{load.percentile(95):.1f}",
    )
    console.print(table)
    console.print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(load.statuses.items())))


def print_identity(console: Console, studies: list[Any]) -> None:
    """One table per study: each single reference, then the template of them all."""
    for study in studies:
        agreement = study.agreement
        console.print(
            study.title
            + (
                f" (references agree: lowest {agreement[0]:.3f}, mean {agreement[1]:.3f})"
                if agreement
                else ""
            )
        )
        table = Table("matched by", "new photos: lowest", "mean", "nearest other", "margin")
        for row in [*study.references, study.template]:
            table.add_row(
                row.name,
                f"{min(row.same_person):.3f}",
                f"{sum(row.same_person) / len(row.same_person):.3f}",
                f"{row.nearest_other:.3f}",
                f"{row.margin:.3f}",
            )
        console.print(table)


def print_verify(console: Console, labelled: Any, timings: Any) -> None:
    from likeness.identity.verdicts import MEASURED_THRESHOLDS

    console.print(
        f"verify thresholds: {len(labelled.genuine)} genuine pairs (lowest "
        f"{min(labelled.genuine):.3f}), {len(labelled.impostor)} impostor pairs (highest "
        f"{max(labelled.impostor):.3f}) of labelled real photos"
    )
    table = Table("threshold", "false match rate", "false non-match rate")
    for rates in labelled.rates:
        table.add_row(
            f"{rates.threshold:.2f}",
            f"{100 * rates.false_match_rate:.2f} %",
            f"{100 * rates.false_non_match_rate:.2f} %",
        )
    console.print(table)
    suggested = labelled.suggested
    console.print(
        f"the rule gives match ≥ {suggested.match:.2f}, no_match < {suggested.no_match:.2f}; "
        f"buffalo_s default: {MEASURED_THRESHOLDS.get('buffalo_s')}"
    )
    console.print(
        f"one verify of a 1-2.5 MP photo (POST to answer, {len(timings.seconds)} in a row, one "
        f"warm worker): p50 {timings.percentile(50):.2f} s, p90 {timings.percentile(90):.2f} s "
        "(target p50 ≤ 1.0 s)"
    )
    ratio = timings.batch.images_per_second / timings.floor.images_per_second
    console.print(
        f"batch check: {timings.batch.images} images at {timings.batch.images_per_second:.1f}/s; "
        f"model-only floor {timings.floor.images_per_second:.1f}/s: {ratio:.2f}x (target ≥ 0.9x)"
    )


def print_quality(console: Console, evidence: Any) -> None:
    from likeness.devtools.bench_quality import DISCARDED

    console.print(
        f"quality: error versus discard over {len(evidence.pairs)} genuine pairs of real photos "
        f"and degraded variants ({evidence.missed} variants without a detected face left out); "
        "false non-match rate at the match threshold once the lowest-ranked pairs are discarded"
    )
    table = Table("discarded", *evidence.curves)
    for index, fraction in enumerate(DISCARDED):
        table.add_row(
            f"{fraction:.0%}",
            *(f"{100 * curve[index]:.1f} %" for curve in evidence.curves.values()),
        )
    console.print(table)
    rolls = np.abs(np.asarray(evidence.roll_errors))
    yaws = np.abs(np.asarray(evidence.mirrored_yaw_sums))
    console.print(
        f"head pose: roll off by {rolls.mean():.1f}° on average (at most {rolls.max():.1f}°) on "
        f"{len(rolls)} photos turned by a known angle; yaw of a photo plus yaw of its mirror "
        f"image {yaws.mean():.1f}° on average (0 ideal, at most {yaws.max():.1f}°)"
    )
    console.print(
        f"cost: the components take {evidence.ms_per_face:.2f} ms per face; decoding and "
        f"detecting an image with them {evidence.ms_per_image:.1f} ms"
    )


def print_startup(console: Console, startup: Any) -> None:
    console.print(
        "startup: whole processes, from the shell to exit; likeness on a fresh LIKENESS_HOME "
        "without `likeness up` (the import before the backfill starts the Prefect server kept "
        "for commands; it loads Prefect's schema from the snapshot that `make install` "
        "keeps; the first status: the median of fresh homes, each in brackets; the last "
        "column: a first home without a snapshot, whose server migrates and keeps one)"
    )
    table = Table(
        "photos",
        "FaceAnalysis loop s",
        "likeness backfill s",
        "target s",
        "first status s (≤ 5): median (each home)",
        "next backfill s",
        "after `likeness stop` s (first status)",
        "import s",
        "first status s, no snapshot yet",
    )
    for run in startup.casts:
        target = 1.2 * run.loop_s if run.images >= 128 else run.loop_s + 5
        table.add_row(
            str(run.images),
            f"{run.loop_s:.1f}",
            f"{run.backfill_s:.1f}",
            f"{target:.1f}",
            f"{run.first_status_s:.1f} ({' / '.join(f'{s:.1f}' for s in run.first_statuses_s)})",
            f"{run.again_s:.1f}",
            f"{run.cold_s:.1f} ({run.cold_first_status_s:.1f})",
            f"{run.import_s:.1f}",
            f"{run.no_snapshot_first_status_s:.1f}",
        )
    console.print(table)
    commands = Table("command", "whole process s")
    for label, seconds in startup.commands.items():
        commands.add_row(label, f"{seconds:.1f}")
    console.print(commands)
