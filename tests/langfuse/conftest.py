"""Fixtures for the Langfuse backend tests: the local fake server and sources talking to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hitl_pipeline.sources.demo import DemoData, generate_demo
from hitl_pipeline.sources.langfuse import LangfuseSource
from tests.support.langfuse_fake import LangfuseFake

FakeFactory = Callable[..., LangfuseFake]


@pytest.fixture(scope="session")
def small_demo() -> DemoData:
    """60 demo traces (October 2026): enough for every target and filter, fast to load."""
    return generate_demo(seed=0, traces=60)


@pytest.fixture
def make_fake(small_demo: DemoData) -> Iterator[FakeFactory]:
    """Start fakes loaded with the small demo (``load=False`` for an empty one); all stop at the end."""
    started: list[LangfuseFake] = []

    def make(*, load: bool = True, **kwargs: Any) -> LangfuseFake:
        fake = LangfuseFake(**kwargs).start()
        started.append(fake)
        if load:
            fake.load_demo(small_demo)
        return fake

    yield make
    for fake in started:
        fake.stop()


@pytest.fixture
def source_for() -> Iterator[Callable[..., LangfuseSource]]:
    """``source_for(fake, **kw)``: a source on ``fake`` with its keys (built directly: one SDK client
    per server). Closed at the end of the test."""
    made: list[LangfuseSource] = []

    def make(fake: LangfuseFake, **kwargs: Any) -> LangfuseSource:
        src = LangfuseSource(
            base_url=fake.url, public_key=fake.public_key, secret_key=fake.secret_key, **kwargs
        )
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


@pytest.fixture
def v4(make_fake: FakeFactory) -> LangfuseFake:
    return make_fake(mode="v4")


@pytest.fixture
def v3(make_fake: FakeFactory) -> LangfuseFake:
    return make_fake(mode="v3")
