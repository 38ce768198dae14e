"""Names shared by deployments/prefect.yaml, the API and the workers (no Prefect import)."""

WORK_POOL = "gpu"
EXTRACT_DEPLOYMENT = "extract-character-embedding/extract"
REPLACE_DEPLOYMENT = "handle-source-image-replaced/replace"
REFERENCE_DEPLOYMENT = "extract-reference-embedding/reference"
BACKFILL_CHUNK_DEPLOYMENT = "backfill-chunk/chunk"
SOURCE_IMAGE_CHECK_DEPLOYMENT = "check-source-image/check"
# One image a caller waits for goes first; a batch of frames waits behind uploads.
LIKENESS_CHECK_NOW_DEPLOYMENT = "likeness-check/verify-now"
LIKENESS_CHECK_BATCH_DEPLOYMENT = "likeness-check/batch"
# Global concurrency limit: its slots are the GPUs of the pool (one model busy per GPU).
GPU_CONCURRENCY_LIMIT = "likeness-gpu"
# Work queues of pool "gpu": uploads and replacements are taken before background work.
INTERACTIVE_QUEUE = "interactive"
BACKGROUND_QUEUE = "background"
QUEUE_PRIORITIES = {INTERACTIVE_QUEUE: 1, BACKGROUND_QUEUE: 10}
