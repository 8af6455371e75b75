"""Names of text2sql_tune.text, imported on first use (see __init__.py)."""

from .index import JaccardIndex as JaccardIndex
from .index import LexicalIndex as LexicalIndex
from .paraphrase import ParaphraseIndex as ParaphraseIndex
from .paraphrase import paraphrase_similarity as paraphrase_similarity
from .paraphrase import paraphrase_words as paraphrase_words
from .terms import DISTINGUISHING_WORDS as DISTINGUISHING_WORDS
from .terms import distinguishing_tokens as distinguishing_tokens
from .terms import masked_words as masked_words
from .terms import question_terms as question_terms
from .terms import stem as stem
from .tokens import normalize_question as normalize_question
from .tokens import question_tokens as question_tokens
from .tokens import question_words as question_words
