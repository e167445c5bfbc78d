"""Fixtures for the campaign tests: a fresh copy of the real demo store per test, a clock, a home
(defined in tests/campaign/campaign_support.py, shared by the campaign and scoring tests)."""

from tests.campaign.campaign_support import clock, demo_template, home, store

__all__ = ["clock", "demo_template", "home", "store"]
