"""Which database errors are an outage (the checks wait for the database) and which are a
failure (retries, then the fail policy): real errors from real databases."""
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from conftest import free_port
from moderation.db import is_outage


def raised(url: str, *statements: str) -> DBAPIError:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    except DBAPIError as error:
        return error
    finally:
        engine.dispose()
    raise AssertionError(f"no error from {statements}")


def test_a_server_that_does_not_answer_is_an_outage():
    assert is_outage(raised(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2", "select 1"))


def test_a_file_that_cannot_be_opened_is_an_outage(tmp_path):
    assert is_outage(raised(f"sqlite:///{tmp_path}/missing/saring.db", "select 1"))


def test_a_statement_timeout_is_not_an_outage(postgresql_url):
    assert not is_outage(raised(postgresql_url, "set local statement_timeout = 10", "select pg_sleep(1)"))


@pytest.mark.parametrize("statement", ["select * from no_such_table", "select no_such_column"])
def test_a_failing_statement_is_not_an_outage(database_url, statement):
    assert not is_outage(raised(database_url, statement))


def test_a_failure_that_a_broken_rollback_hides_is_not_an_outage(tmp_path):
    try:
        try:
            raise TimeoutError("the job's time ran out mid-query")
        except TimeoutError:
            raise raised(f"sqlite:///{tmp_path}/missing/saring.db", "select 1")  # the rollback's own error
    except DBAPIError as error:
        assert not is_outage(error)
