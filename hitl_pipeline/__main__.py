"""``python -m hitl_pipeline`` runs the ``hitl`` command line."""

from hitl_pipeline.cli import main

main()
