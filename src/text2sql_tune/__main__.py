"""``python -m text2sql_tune`` runs the CLI (e.g. under ``accelerate launch -m text2sql_tune``)."""

from .cli import main

if __name__ == "__main__":
    main()
