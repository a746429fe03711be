from tests.storage.conftest import pg_schema_url  # noqa: F401  (a fixture)
