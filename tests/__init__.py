"""The test suite (a package, so that `tests.conftest` cannot resolve to another distribution's `tests`)."""
