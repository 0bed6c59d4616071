"""Shared pytest options: `pytest --slow` also runs the tests marked `@pytest.mark.slow`.
At the end, the fault-injection suites' counts (kill points, bad inputs, data lost) are printed."""
import json, sys
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


def pytest_terminal_summary(terminalreporter):
    for name in ('test_zipstack_faults', 'test_convert_faults', 'test_append_faults'):
        results = getattr(sys.modules.get(name), 'RESULTS', None)
        if results: terminalreporter.write_line(f"{name} counts: {json.dumps(results)}")
