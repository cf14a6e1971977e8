"""Imported by the extraction pool's fork server (crawler.pipelines_pool.PRELOAD): the pipeline's models are
loaded there once, and every worker process forks with them instead of loading its own (~0.3 s of CPU each)."""

import logging

from crawler.pipelines_pool import load_models

try:
    load_models()
except Exception:  # a worker then loads them at its start (start_worker), where a failure is reported
    logging.getLogger(__name__).warning("the fork server could not load the pipeline's models", exc_info=True)
