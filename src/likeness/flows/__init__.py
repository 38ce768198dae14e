"""Prefect flows: they orchestrate tasks and hold no logic of their own."""
