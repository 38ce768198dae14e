"""The warm extraction worker that ``likeness worker`` starts: one process per GPU machine.

Before it takes work it loads the face models, Great Expectations and the flows once. It
then claims flow runs of work pool "gpu" from the Prefect server and runs each in one of
its threads with Prefect's own flow engine, so every extraction stays a flow run with its
task runs, logs, per-task retries and states, but costs the models' time and a few API
calls instead of a fresh interpreter. Runs of the "interactive" queue (uploads,
replacements) go first, and background runs (backfills, checks) never take the last free
slot. Several workers on several machines share the work through the Prefect server and
PostgreSQL alone: claiming a run is a state change the server grants to one of them.

It heartbeats as a Prefect worker (the pool's Workers tab), reconciles lost requests every
few seconds (``orchestration.reconciler``), and on SIGTERM or Ctrl-C stops claiming,
finishes the runs it has and exits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import Flow, flow_engine, get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import WorkerFlowRunResponse
from prefect.flow_engine import run_flow

from likeness.config import Settings
from likeness.face.model_pack import ModelPackError
from likeness.orchestration.deploy import package_flows
from likeness.orchestration.deployment_names import INTERACTIVE_QUEUE, WORK_POOL
from likeness.orchestration.runs import (
    WORKER_HEARTBEAT_S,
    WORKER_SILENT_S,
    RunNotStarted,
    claim_run,
    crash_runs,
)

log = logging.getLogger("likeness.worker")

DRAIN_TIMEOUT_S = 60.0


class WarmWorker:
    def __init__(self, settings: Settings, name: str | None = None) -> None:
        self.settings = settings
        self.name = name or f"likeness-{socket.gethostname()}-{os.getpid()}"
        self.limit = settings.worker_limit
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._active: dict[UUID, bool] = {}  # run id -> interactive
        self._entrypoints: dict[UUID, str] = {}  # deployment id -> entrypoint
        self._runs = ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="flow-run")
        # Replaced in the engine's own namespace, where it looks the observer up per run.
        flow_engine.observe_flow_run_suspension = _no_suspension_observer  # type: ignore[attr-defined]

    # -- start and stop -------------------------------------------------------------

    def warm_up(self) -> float:
        """Load the models, Great Expectations and every deployed flow; returns seconds."""
        from likeness.expectations.face_checks import warm_up as warm_up_checks
        from likeness.face.engine import get_face_engine

        started = time.perf_counter()
        try:
            warm_up_checks(get_face_engine(self.settings), self.settings)
        except ModelPackError as error:
            # Serve anyway: each run fails its character with this reason (and loads the
            # models again, so replacing the files mends the worker without a restart).
            log.error("face model could not be loaded: %s; runs fail until it can", error)
        package_flows()
        return time.perf_counter() - started

    def stop(self, *_: Any) -> None:
        """Stop claiming runs; the ones in hand finish (SIGTERM, SIGINT)."""
        if not self.stopping.is_set():
            log.warning("worker %s: stopping after %d run(s) in hand", self.name, self.running)
        self.stopping.set()

    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        seconds = self.warm_up()
        for loop in (self._heartbeat_loop, self._reconcile_loop):
            threading.Thread(target=loop, name=loop.__name__, daemon=True).start()
        log.warning(
            "worker %s ready in %.1f s: %s loaded, %d slot(s), pool %r",
            self.name,
            seconds,
            self.settings.model_pack,
            self.limit,
            WORK_POOL,
        )
        with get_client(sync_client=True) as client:
            while not self.stopping.is_set():
                try:
                    self._claim_and_submit(client)
                except Exception as error:  # the server restarting: keep trying
                    log.warning("worker %s: could not poll for runs: %s", self.name, error)
                    self.stopping.wait(1.0)
                self.stopping.wait(self.settings.worker_poll_s)
        self._drain()

    def _drain(self) -> None:
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while self.running and time.monotonic() < deadline:
            time.sleep(0.1)
        left = self.active_runs()
        if left:  # their characters' locks go with this process; the reconciler takes them
            self._crash(left, f"worker {self.name} stopped before the run finished")
        self._runs.shutdown(wait=False, cancel_futures=True)
        log.warning("worker %s stopped", self.name)

    # -- claiming runs ---------------------------------------------------------------

    @property
    def running(self) -> int:
        with self._lock:
            return len(self._active)

    def active_runs(self) -> list[UUID]:
        with self._lock:
            return list(self._active)

    def _claim_and_submit(self, client: SyncPrefectClient) -> None:
        with self._lock:
            free = self.limit - len(self._active)
            background = sum(1 for interactive in self._active.values() if not interactive)
        if free <= 0:
            return
        # The last free slot is kept for interactive runs.
        background_room = max(0, min(free, self.limit - 1 - background))
        queues = None if background_room else [INTERACTIVE_QUEUE]
        offered = self._scheduled(client, free, queues)
        offered.sort(key=lambda item: not self._is_interactive(item))
        for item in offered:
            interactive = self._is_interactive(item)
            if free <= 0 or not (interactive or background_room > 0):
                continue
            with self._lock:
                if item.flow_run.id in self._active:  # still ours from an earlier poll
                    continue
            if not claim_run(client, item.flow_run, self.name):
                continue  # another worker got it
            with self._lock:
                self._active[item.flow_run.id] = interactive
            free -= 1
            background_room -= 0 if interactive else 1
            self._runs.submit(self.execute, item.flow_run)

    def _scheduled(
        self, client: SyncPrefectClient, limit: int, queues: list[str] | None
    ) -> list[WorkerFlowRunResponse]:
        body: dict[str, Any] = {
            "scheduled_before": datetime.now(UTC).isoformat(),
            "limit": limit,
        }
        if queues:
            body["work_queue_names"] = queues
        response = client.request(
            "POST",
            "/work_pools/{name}/get_scheduled_flow_runs",
            path_params={"name": WORK_POOL},
            json=body,
        )
        response.raise_for_status()
        return [WorkerFlowRunResponse.model_validate(item) for item in response.json()]

    def _is_interactive(self, item: WorkerFlowRunResponse) -> bool:
        return item.flow_run.work_queue_name == INTERACTIVE_QUEUE

    # -- running one --------------------------------------------------------------

    def execute(self, flow_run: FlowRun) -> None:
        """Run one flow run this worker has claimed, to its end (never raises)."""
        started = time.perf_counter()
        try:
            flow = self._flow_of(flow_run)
            state = run_flow(flow, flow_run=flow_run, return_type="state")
            log.info(
                "run %s (%s): %s in %.2f s",
                flow_run.name,
                flow_run.id,
                getattr(state, "type", state),
                time.perf_counter() - started,
            )
        except BaseException as error:  # the engine records flow errors; this is the rest
            log.exception("run %s (%s) could not run", flow_run.name, flow_run.id)
            self._crash([flow_run.id], f"worker {self.name} could not run the flow: {error}")
        finally:
            with self._lock:
                self._active.pop(flow_run.id, None)

    def _flow_of(self, flow_run: FlowRun) -> Flow[..., Any]:
        if flow_run.deployment_id is None:
            raise ValueError("not a deployment run")
        entrypoint = self._entrypoints.get(flow_run.deployment_id)
        if entrypoint is None:
            with get_client(sync_client=True) as client:
                deployment = client.read_deployment(flow_run.deployment_id)
            entrypoint = deployment.entrypoint or ""
            self._entrypoints[flow_run.deployment_id] = entrypoint
        # Only the package's own flows run here, looked up, never loaded from the
        # entrypoint: anyone who can reach the Prefect API can create a deployment.
        flow = package_flows().get(entrypoint)
        if flow is None:
            raise ValueError(f"entrypoint {entrypoint!r} is not one of likeness's flows")
        return flow

    def _crash(self, run_ids: list[UUID], message: str) -> None:
        try:
            crash_runs(run_ids, message)
        except RunNotStarted as error:  # deleted, or the server is gone: the reconciler sees to it
            log.warning("%s", error)

    # -- background loops -----------------------------------------------------------

    def _heartbeat_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                with get_client(sync_client=True) as client:
                    client.send_worker_heartbeat(
                        work_pool_name=WORK_POOL,
                        worker_name=self.name,
                        heartbeat_interval_seconds=int(WORKER_HEARTBEAT_S),
                    )
            except Exception as error:
                log.warning("worker %s: heartbeat failed: %s", self.name, error)
            self.stopping.wait(WORKER_HEARTBEAT_S)

    def _reconcile_loop(self) -> None:
        """Lost requests and likeness checks started again, runs a dead worker left running
        after their work was done closed, and photos queued for deletion (an erasure's)
        deleted where the store refused them before."""
        from likeness.orchestration.reconciler import (
            complete_orphaned_runs,
            log_reaped,
            requeue_lost_checks,
            requeue_lost_extractions,
        )
        from likeness.services.erasure import delete_queued_photos

        grace = timedelta(seconds=self.settings.stuck_after_s)
        while not self.stopping.wait(self.settings.reconcile_every_s):
            try:
                log_reaped(requeue_lost_extractions(grace), log)
                silent = timedelta(seconds=WORKER_SILENT_S)
                for run_id in complete_orphaned_runs(silent):
                    log.warning("run %s: its worker died after its work was done", run_id)
                for check_id, run_id in requeue_lost_checks(grace, silent).items():
                    log.warning(
                        "likeness check %d: its run was lost, started again as %s", check_id, run_id
                    )
                delete_queued_photos()
            except Exception as error:  # the database restarting: next pass
                log.warning("reconcile pass failed: %s", error)


@contextmanager
def _no_suspension_observer(
    flow_run_id: UUID, suspension_request: Any, polling_interval: float = 10
) -> Iterator[None]:
    """Stands in for Prefect's per-run pause/suspend observer in this worker.

    For every deployment run the engine starts a thread that reads the run and waits for
    that read with no timeout: a run deleted after this worker claimed it (from the UI, or
    by the tests' clean-up) hung its thread and its slot for good, and the worker could no
    longer stop. likeness flows never pause or suspend, and the observer costs about 0.16 s
    per run."""
    yield
