"""Test doubles for this project's own tests (those users need ship in text2sql_tune.testing)."""
