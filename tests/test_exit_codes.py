from __future__ import annotations

import sys

import pytest

from text2sql_tune.cli import EXIT_CODES, exit_code_for, main
from text2sql_tune.errors import (
    ConfigurationError,
    DataError,
    MissingExtraError,
    ProviderError,
    RateLimitError,
    ResourceBusyError,
    Text2SQLTuneError,
    TooManyRowsError,
    UnsafeSQLError,
)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (Text2SQLTuneError("x"), 1),
        (ConfigurationError("x"), 2),
        (MissingExtraError("torch", "local"), 2),
        (DataError("x"), 3),
        (ProviderError("openai", 500, "x"), 4),
        (RateLimitError("openai", 429, "x"), 4),
        (UnsafeSQLError("SELECT 1", "x"), 5),
        (TooManyRowsError("SELECT 1", 396, "TOO_MANY_ROWS", "x"), 5),
        (ResourceBusyError("x"), 8),
    ],
)
def test_each_error_family_has_its_exit_code(exc: Text2SQLTuneError, code: int) -> None:
    assert exit_code_for(exc) == code


def test_exit_codes_are_distinct_per_family() -> None:
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
    assert 0 not in EXIT_CODES.values() and 1 not in EXIT_CODES.values()


def test_main_prints_one_line_and_exits_with_the_family_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["text2sql-tune", "sql", "SELECT 1", "-d", "postgres://h/db"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
