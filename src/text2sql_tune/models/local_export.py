"""Write a local model for serving: merged weights, the adapter alone, GGUF, or back from GGUF.

- vLLM serves a merged folder (``vllm serve DIR``) or the base model with the adapter
  (``vllm serve BASE --enable-lora --lora-modules sql=ADAPTER``);
- llama.cpp serves GGUF: :func:`convert_to_gguf` runs llama.cpp's own ``convert_hf_to_gguf.py``
  on a merged folder (it ships in the llama-cpp-python source package on PyPI; see
  :data:`GET_CONVERTER`);
- :func:`dequantize_gguf` goes the other way, once: a GGUF file to a Hugging Face folder you can
  tune (transformers de-quantises it).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigurationError, MissingExtraError
from ..tuners.local.runtime import import_local, import_peft, load_base_model, load_tokenizer

__all__ = [
    "CONVERTER_SCRIPT",
    "GET_CONVERTER",
    "GGUF_OUTTYPES",
    "convert_to_gguf",
    "dequantize_gguf",
    "export_local",
    "find_gguf_converter",
    "gguf_command",
    "gguf_instructions",
]

CONVERTER_SCRIPT = "convert_hf_to_gguf.py"
GGUF_OUTTYPES = ("f32", "f16", "bf16", "q8_0")
"""Output types of llama.cpp's converter (smaller quantisations need llama.cpp's ``quantize``)."""

GET_CONVERTER = (
    "pip download --no-deps --no-binary :all: llama-cpp-python -d llama-src && "
    "tar xzf llama-src/llama_cpp_python-*.tar.gz -C llama-src && pip install sentencepiece"
)
"""How to get llama.cpp's converter from PyPI: the llama-cpp-python source package carries
llama.cpp, whose ``vendor/llama.cpp/convert_hf_to_gguf.py`` needs ``gguf`` (in the ``local``
extra) and ``sentencepiece``."""


def find_gguf_converter(converter: str | Path | None = None) -> Path | None:
    """Find llama.cpp's ``convert_hf_to_gguf.py``.

    Looked for in order: ``converter`` (the script, or a llama.cpp folder holding it), the
    ``LLAMA_CPP_DIR`` environment variable (a llama.cpp folder), then the ``PATH``.

    Raises:
        ConfigurationError: ``converter`` was given but holds no converter.
    """
    if converter is not None:
        given = Path(converter).expanduser()
        script = given / CONVERTER_SCRIPT if given.is_dir() else given
        if not script.is_file():
            raise ConfigurationError(f"{converter}: no llama.cpp {CONVERTER_SCRIPT} there")
        return script
    folder = os.environ.get("LLAMA_CPP_DIR")
    if folder and (Path(folder) / CONVERTER_SCRIPT).is_file():
        return Path(folder) / CONVERTER_SCRIPT
    found = shutil.which(CONVERTER_SCRIPT)
    return Path(found) if found else None


def gguf_command(
    merged: str | Path, outfile: str | Path, *, outtype: str = "q8_0", converter: str | Path
) -> list[str]:
    """The converter's command line for a merged model folder."""
    return [
        *([sys.executable] if str(converter).endswith(".py") else []),
        str(converter),
        str(merged),
        "--outfile",
        str(outfile),
        "--outtype",
        outtype,
    ]


def gguf_instructions(merged: str | Path, outfile: str | Path, *, outtype: str = "q8_0") -> str:
    """The shell commands that get llama.cpp's converter from PyPI and convert ``merged``."""
    script = f"llama-src/llama_cpp_python-*/vendor/llama.cpp/{CONVERTER_SCRIPT}"
    convert = f"python {script} {shlex.quote(str(merged))} --outfile {shlex.quote(str(outfile))}"
    return f"{GET_CONVERTER}\n{convert} --outtype {outtype}"


def convert_to_gguf(
    merged: str | Path,
    outfile: str | Path,
    *,
    outtype: str = "q8_0",
    converter: str | Path | None = None,
) -> Path:
    """Convert a merged model folder to one GGUF file with llama.cpp's converter.

    Args:
        merged: A model folder (e.g. from :func:`export_local` with ``merge=True``).
        outfile: The ``.gguf`` file to write.
        outtype: ``f32``, ``f16``, ``bf16`` or ``q8_0``.
        converter: The converter script or llama.cpp folder (default: :func:`find_gguf_converter`).

    Returns:
        The GGUF file.

    Raises:
        ConfigurationError: No converter was found (the message says how to get one), an unknown
            ``outtype``, or the converter failed (with the end of its output).
    """
    if outtype not in GGUF_OUTTYPES:
        raise ConfigurationError(
            f"outtype must be one of {', '.join(GGUF_OUTTYPES)}, not {outtype!r}"
        )
    script = find_gguf_converter(converter)
    if script is None:
        raise ConfigurationError(
            f"llama.cpp's {CONVERTER_SCRIPT} was not found (give its path, set LLAMA_CPP_DIR, or "
            f"put it on PATH); get it from PyPI with: {GET_CONVERTER}"
        )
    command = gguf_command(merged, outfile, outtype=outtype, converter=script)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not Path(outfile).is_file():
        raise ConfigurationError(
            f"{shlex.join(command)} failed (exit {done.returncode}): {done.stderr[-1500:]}"
        )
    return Path(outfile)


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
