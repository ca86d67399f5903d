"""Many inputs: the output planner, the batch pipeline (threads, torchrun ranks, SIGTERM),
the report (records, summary and exit code, notes, progress) and the video runner."""
