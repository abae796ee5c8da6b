"""Shared pytest set-up; each family of fixtures lives in its own module."""

pytest_plugins = [
    "tests.fixtures.node",
    "tests.fixtures.mongo",
    "tests.fixtures.emulator",
]
