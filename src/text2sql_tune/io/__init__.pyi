"""Names of text2sql_tune.io, imported on first use (see __init__.py)."""

from .files import FileLock as FileLock
from .files import atomic_open as atomic_open
from .files import atomic_write_json as atomic_write_json
from .files import atomic_write_text as atomic_write_text
from .files import read_json_model as read_json_model
from .files import write_json_model as write_json_model
from .paths import refuse_overwriting as refuse_overwriting
from .paths import same_file as same_file
from .records import JsonlAppender as JsonlAppender
from .records import iter_pairs as iter_pairs
from .records import iter_records as iter_records
from .records import read_cases as read_cases
from .records import read_pairs as read_pairs
from .records import read_records as read_records
from .records import write_jsonl as write_jsonl
