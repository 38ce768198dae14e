"""Names shared by deployments/prefect.yaml, the API and the workers (no Prefect import)."""

WORK_POOL = "gpu"
EXTRACT_DEPLOYMENT = "extract-character-embedding/extract"
REPLACE_DEPLOYMENT = "handle-source-image-replaced/replace"
