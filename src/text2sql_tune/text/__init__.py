"""Question text: words, the keys questions are compared by, terms, and similarity indexes.

- :mod:`~text2sql_tune.text.tokens`: ``question_words`` (one Unicode-aware tokenizer),
  ``question_tokens``, ``normalize_question``.
- :mod:`~text2sql_tune.text.terms`: content terms, stemming, synonyms and the one list of
  calendar and number words (``DISTINGUISHING_WORDS``).
- :mod:`~text2sql_tune.text.index`: ``JaccardIndex`` (near duplicates) and ``LexicalIndex``
  (TF-IDF ranking).
- :mod:`~text2sql_tune.text.paraphrase`: ``paraphrase_words`` / ``paraphrase_similarity``
  (content words after stemming and analytics synonyms) and ``ParaphraseIndex``.
"""

import lazy_loader

# The names are listed once, in __init__.pyi; importing them lazily keeps numpy (the TF-IDF
# index) out of the modules that only need words.
__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
