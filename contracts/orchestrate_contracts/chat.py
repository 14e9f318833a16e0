"""The OpenAI chat-completions wire format, as far as Orchestrate's agents use it.

Any OpenAI-compatible endpoint speaks it (OpenAI, Azure OpenAI, vLLM, Ollama,
LM Studio, ...). Unknown fields are ignored: servers add their own.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ChatMessage(_Wire):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(_Wire):
    model: str
    messages: list[ChatMessage]
    temperature: float = 0.0
    # {"type": "json_object"} asks for a JSON answer where the server supports it.
    response_format: dict[str, str] | None = None


class ChatUsage(_Wire):
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class _AnswerMessage(_Wire):
    content: str | None = None


class ChatChoice(_Wire):
    message: _AnswerMessage


class ChatResponse(_Wire):
    choices: list[ChatChoice] = Field(min_length=1)
    usage: ChatUsage | None = None
