"""Test support code (fakes of external services). Not product code."""
