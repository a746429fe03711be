from tests.storage.conftest import db_url, pg_schema_url  # noqa: F401  (fixtures)
