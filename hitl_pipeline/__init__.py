"""hitl-pipeline: human review campaigns as code for LLM traces in Langfuse."""

__version__ = "0.1.0"
