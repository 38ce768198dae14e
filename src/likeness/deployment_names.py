"""Names shared by deployments/prefect.yaml, the API and the workers (no Prefect import)."""

WORK_POOL = "gpu"
EXTRACT_DEPLOYMENT = "extract-character-embedding/extract"
REPLACE_DEPLOYMENT = "handle-source-image-replaced/replace"
BACKFILL_CHUNK_DEPLOYMENT = "backfill-chunk/chunk"
# Global concurrency limit: its slots are the GPUs of the pool (one model busy per GPU).
GPU_CONCURRENCY_LIMIT = "likeness-gpu"
