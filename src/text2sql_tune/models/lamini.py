"""Ask a Lamini model (tuned or base) for SQL, with the prompt its training data used."""

from __future__ import annotations

from pydantic import SecretStr

from ..interfaces import Text2SQLModel
from ..prompts import llama3_prompt
from ..records import Prediction, Usage
from ..schema import DatabaseSchema
from ..tuners._lamini_sdk import LaminiSDK
from ._common import predict_with, resolve_system_prompt

__all__ = ["LaminiModel"]


class LaminiModel(Text2SQLModel):
    """A text-to-SQL model served by Lamini (optional extra ``lamini``).

    The question is formatted exactly like the training data written by
    :func:`text2sql_tune.exports.lamini_records`: the Llama 3 chat template with the answering
    system prompt. The SQL is extracted from the answer with
    :func:`text2sql_tune.sql.extract.extract_sql`.

    Args:
        model_name: A tuned model id (from :class:`~text2sql_tune.records.TuningJob`
            ``.model_name``) or a base model's Hugging Face id (e.g.
            ``meta-llama/Meta-Llama-3.1-8B-Instruct``, to compare with the untuned model).
        system_prompt_or_schema: The answering system prompt, or the schema to build it from;
            use the one the training data was formatted with.
        api_key: Lamini API key (default ``LAMINI_API_KEY`` or ``~/.lamini/configure.yaml``).
        api_url: Lamini API URL.
        max_new_tokens: Longest answer, in tokens.
        timeout_s: Time limit of one call.
        max_retries: Retries after 429 / 5xx / network errors.
        retry_backoff_s: First wait between retries.
        keep_format: Keep a trailing ``FORMAT`` clause in the extracted SQL.
    """

    def __init__(
        self,
        model_name: str,
        system_prompt_or_schema: str | DatabaseSchema,
        *,
        api_key: str | SecretStr | None = None,
        api_url: str | None = None,
        max_new_tokens: int = 256,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        retry_backoff_s: float = 1.0,
        keep_format: bool = False,
    ) -> None:
        self.model_name = model_name
        self.name = f"lamini:{model_name}"
        self.system_prompt = resolve_system_prompt(system_prompt_or_schema)
        self.max_new_tokens = max_new_tokens
        self.keep_format = keep_format
        self._sdk = LaminiSDK(
            api_key=api_key,
            api_url=api_url,
            timeout_s=timeout_s,
            max_retries=max_retries,
            retry_backoff_s=retry_backoff_s,
        )

    def prompt(self, question: str) -> str:
        """The exact prompt sent for ``question`` (same as the tuning data's ``input``)."""
        return llama3_prompt(question, self.system_prompt)

    async def apredict(self, question: str) -> Prediction:
        """Generate SQL for ``question``; provider errors go in ``Prediction.error``."""

        async def call() -> tuple[str, Usage | None]:
            client = await self._sdk.aclient(self.model_name)
            prompt = self.prompt(question)
            # The SDK's async_generate is broken (NameError); run the sync call in a thread.
            output = await self._sdk.call(
                f"generate with {self.model_name}",
                lambda: client.generate(
                    prompt, model_name=self.model_name, max_new_tokens=self.max_new_tokens
                ),
            )
            return str(output), Usage(calls=1)

        return await predict_with(question, call, keep_format=self.keep_format)
