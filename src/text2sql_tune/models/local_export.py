"""Write a local model for serving: merged weights, the adapter alone, or a de-quantised GGUF.

- vLLM serves a merged folder (``vllm serve DIR``) or the base model with the adapter
  (``vllm serve BASE --enable-lora --lora-modules sql=ADAPTER``);
- llama.cpp serves GGUF: convert a merged folder with llama.cpp's ``convert_hf_to_gguf.py``;
- :func:`dequantize_gguf` goes the other way, once: a GGUF file to a Hugging Face folder you can
  tune (transformers de-quantises it).
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from ..errors import ConfigurationError, MissingExtraError
from ..tuners.local.runtime import import_local, import_peft, load_base_model, load_tokenizer

__all__ = ["dequantize_gguf", "export_local"]


def export_local(
    base_model: str | Path,
    adapter: str | Path | None,
    output_dir: str | Path,
    *,
    merge: bool = True,
) -> Path:
    """Write a base model with its adapter merged in, or copy the adapter, to ``output_dir``.

    Args:
        base_model: The base model folder (or hub id).
        adapter: The LoRA adapter folder; ``None`` re-saves the base model.
        output_dir: The folder to write (created).
        merge: Merge the adapter into the weights (a plain model folder, in the base model's
            own dtype); ``False`` copies the adapter folder.

    Returns:
        The folder written.

    Raises:
        ConfigurationError: ``merge=False`` without an adapter, or an unloadable model.
    """
    out = Path(output_dir)
    if not merge:
        if adapter is None:
            raise ConfigurationError("there is no adapter to export; use merge=True")
        shutil.copytree(adapter, out, dirs_exist_ok=True)
        return out
    torch, _ = import_local()
    source = adapter if adapter and (Path(adapter) / "tokenizer_config.json").is_file() else None
    tokenizer = load_tokenizer(source or base_model)
    model = load_base_model(base_model, dtype="auto", device="cpu")
    if adapter is not None:
        peft = import_peft()
        model = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def dequantize_gguf(gguf_path: str | Path, output_dir: str | Path) -> Path:
    """De-quantise a GGUF model (e.g. a Q4_K_M file) into a Hugging Face folder, once.

    transformers reads the GGUF weights and tokenizer (``gguf_file=``; needs the ``gguf``
    package); the result is saved as safetensors, so later loads take seconds, not minutes.

    Args:
        gguf_path: The ``.gguf`` file.
        output_dir: The folder to write.

    Returns:
        The model folder.

    Raises:
        MissingExtraError: The ``gguf`` package (in the ``local`` extra) is not installed.
        ConfigurationError: The file is missing or transformers cannot read it.
    """
    path = Path(gguf_path)
    if not path.is_file():
        raise ConfigurationError(f"{path}: no such GGUF file")
    torch, transformers = import_local()
    if importlib.util.find_spec("gguf") is None:
        raise MissingExtraError("gguf", "local")
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            str(path.parent), gguf_file=path.name
        )
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigurationError(f"cannot read the tokenizer of {path}: {exc}") from exc
    loaded = load_base_model(path.parent, dtype=torch.float32, device="cpu", gguf_file=path.name)
    # transformers marks a model read from GGUF as quantized and refuses to save it: copy the
    # (already de-quantised) weights into a plain model of the same configuration.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
