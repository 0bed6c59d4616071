"""Shared pytest options: `pytest --slow` also runs the tests marked `@pytest.mark.slow`."""
import pytest


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="also run tests marked slow (large files, many kill points)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test, run only with --slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"): return
    skip = pytest.mark.skip(reason="slow test: run with --slow")
    for item in items:
        if "slow" in item.keywords: item.add_marker(skip)
