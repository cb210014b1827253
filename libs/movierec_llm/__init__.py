"""One LLM client, its settings, the local runtime, and the prompts + schemas of every LLM use.

See README.md in this folder for the API and configuration.
"""

from movierec_llm.client import LlmClient, LlmResult, TextStream, parse_and_validate
from movierec_llm.settings import LlmSettings

__all__ = ["LlmClient", "LlmResult", "LlmSettings", "TextStream", "parse_and_validate"]
