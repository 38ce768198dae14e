"""How extractions are run: starting and reading Prefect runs (runs), turning a request
into a run (requests), registering the deployments (deploy), the reconciler that restarts
lost work, the warm worker, and the local stack of `likeness up`. The flows and tasks
themselves are in ``likeness.flows`` and ``likeness.tasks``. See docs/architecture.md.
"""
