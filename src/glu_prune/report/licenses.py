"""What the base model's license asks of a published derivative: its Hugging Face license id, the
card's License section, and the files that must travel with the weights.

Llama 3.2 (Community License, section 1.b) asks for "Built with Llama" and the license notice.
Gemma (Terms of Use, section 3.1) asks for a copy of the terms, notice of the use restrictions of
section 3.2, prominent notice that the files were modified, and a "Notice" text file.
"""

from __future__ import annotations

from pathlib import Path

from ..packages import gemma_terms_html

# license id (Hugging Face metadata) of each registry model's weights
LICENSES = {
    "smollm2-135m-instruct": "apache-2.0",
    "gemma-3-270m": "gemma",
    "llama-3.2-1b": "llama3.2",
    "llama-3.2-1b-instruct": "llama3.2",
    "llama-3.2-3b": "llama3.2",
    "llama-3.2-3b-instruct": "llama3.2",
}
LLAMA_NOTICE = (
    "Built with Llama. Llama 3.2 is licensed under the Llama 3.2 Community License, "
    "Copyright © Meta Platforms, Inc. All Rights Reserved. Use of this model is subject to that "
    "license and to Meta's Acceptable Use Policy."
)
GEMMA_NOTICE = (
    "Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms"
)
GEMMA_SECTION = (
    f"{GEMMA_NOTICE}. This is a modified version of Gemma: the weight files were changed by "
    "structured pruning (see above). Its use is subject to the use restrictions of section 3.2 of those "
    "terms, including the Gemma Prohibited Use Policy (ai.google.dev/gemma/prohibited_use_policy). A copy "
    "of the terms (`GEMMA_TERMS.html`) and the `NOTICE` file travel with the weights."
)


def license_section(lic: str, base: str) -> str:
    """The card's License section."""
    if lic.startswith("llama"):
        return "## License\n\n" + LLAMA_NOTICE
    if lic == "gemma":
        return "## License\n\n" + GEMMA_SECTION
    return f"## License\n\n{lic}, as the base model [{base}](https://huggingface.co/{base})."


def license_files(lic: str) -> dict[str, str | Path]:
    """Files the license asks to ship beside the weights: name -> text, or a file to copy."""
    if lic == "gemma":
        return {"NOTICE": GEMMA_NOTICE + "\n", "GEMMA_TERMS.html": gemma_terms_html()}
    return {}
