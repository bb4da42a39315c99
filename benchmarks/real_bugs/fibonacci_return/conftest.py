"""pytest configuration for this project: markers only (no fixtures that touch the code under test)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "edge: boundary and degenerate inputs")
