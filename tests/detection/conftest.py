"""Fixtures for the detector tests."""

import pytest

from detection import regexset


@pytest.fixture(params=["hyperscan", "python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with Hyperscan's prefilter and again with the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(regexset, "hyperscan", None)
    elif regexset.hyperscan is None:
        pytest.skip("hyperscan is not installed")
    return request.param
