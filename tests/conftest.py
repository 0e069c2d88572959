pytest_plugins = [
    "tests.fixtures.azurite",
    "tests.fixtures.sandbox",
    "tests.fixtures.app",
    "tests.fixtures.clients",
]
