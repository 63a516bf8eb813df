"""How the llama.cpp backend puts a conversation in front of a small local model.

Pure (no model is run here): the chat template's formatter, the choice between the
template's own tool rendering and a guarded system prompt that lists the tools and
renders earlier calls and results as text, and the last round of function results told
as facts after the user's question, which the small default model answers where it
would repeat the call when shown the template's ``<tool_response>`` turn (see the
theory of operation in :mod:`~openlive.engines.llm.llamacpp`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from openlive.engines.llm.base import ChatMessage, ToolSpec
from openlive.engines.llm.tools import openai_tool
from openlive.errors import ConfigError

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

# How tools reach the model: "template" = the chat template's own tool rendering,
# "guarded" = our system prompt, "auto" = the template when it renders tools.
ToolPrompt = Literal["auto", "template", "guarded"]


def chat_formatter(llama: Llama, template: str | None) -> Jinja2ChatFormatter:
    """The formatter both ``stream`` and ``count_tokens`` use, so their counts agree."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = template or llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError(f"{llama.model_path} has no chat template; set chat_template")
    eos, bos = llama.token_eos(), llama.token_bos()
    return Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
        bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        stop_token_ids=[eos],
    )


def resolve_tool_prompt(choice: ToolPrompt, template: str) -> Literal["template", "guarded"]:
    if choice == "auto":
        return "template" if re.search(r"\btools\b", template) else "guarded"
    if choice not in ("template", "guarded"):
        raise ConfigError(f"tool_prompt must be auto, template or guarded, not {choice!r}")
    return choice


def as_dicts(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Messages as chat templates expect them (HF convention: arguments as an object)."""
    return [_as_dict(message) for message in messages]


def _as_dict(message: ChatMessage) -> dict[str, Any]:
    rendered: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        rendered["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        rendered["tool_call_id"] = message.tool_call_id
        rendered["name"] = message.name
    return rendered


GUARDED_TOOL_PROMPT = """\
# Tools

You can call these functions (their arguments are described as JSON Schema):
<tools>
{tools}
</tools>

When the user's request needs one of these functions, reply with only the call:
<tool_call>
{{"name": "<function name>", "arguments": {{<argument values>}}}}
</tool_call>
Call a function only when the user asks for what it does, and only once, unless the user \
asks for several things. Use only the functions and arguments listed above. Otherwise \
answer in plain text and do not mention the functions."""


def guarded_messages(
    messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
) -> list[dict[str, Any]]:
    """Plain-text messages for a template that cannot render tools.

    The tools go into the system message (a new one first if there is none); earlier
    calls are written as ``<tool_call>`` blocks and results as ``<tool_response>`` blocks
    in a user message, so any chat template can render the conversation.
    """
    rendered: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role == "tool":
            block = _tool_response_block(message)
            if index > 0 and messages[index - 1].role == "tool":  # results of one turn
                rendered[-1]["content"] += "\n" + block
            else:
                rendered.append({"role": "user", "content": block})
            continue
        content = message.content
        if message.tool_calls:
            blocks = [_tool_call_block(call.name, call.arguments) for call in message.tool_calls]
            content = "\n".join(filter(None, [content, *blocks]))
        rendered.append({"role": message.role, "content": content})
    if tools:
        _add_tool_prompt(rendered, tools)
    return rendered


def _tool_call_block(name: str, arguments: dict[str, Any]) -> str:
    call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    return f"<tool_call>\n{call}\n</tool_call>"


def _tool_response_block(message: ChatMessage) -> str:
    try:
        response: Any = json.loads(message.content)
    except ValueError:
        response = message.content
    result = json.dumps({"name": message.name, "response": response}, ensure_ascii=False)
    return f"<tool_response>\n{result}\n</tool_response>"


def _add_tool_prompt(rendered: list[dict[str, Any]], tools: Sequence[ToolSpec]) -> None:
    listing = "\n".join(
        json.dumps(openai_tool(tool)["function"], ensure_ascii=False) for tool in tools
    )
    _add_to_system(rendered, GUARDED_TOOL_PROMPT.format(tools=listing))


ANSWER_PROMPT = "Tell the user the outcome in one short sentence."


def answer_round(
    messages: Sequence[ChatMessage],
) -> tuple[Sequence[ChatMessage], str]:
    """Split off the last round of calls and results, told as facts to answer from.

    ``messages`` ends with ``tool`` messages, usually after the ``assistant`` message
    whose calls they answer. Returns the messages before that round and the facts
    ("You called X with {...}; it returned {...}.") followed by :data:`ANSWER_PROMPT`.
    """
    end = len(messages)
    while end > 0 and messages[end - 1].role == "tool":
        end -= 1
    results, caller = messages[end:], None
    if end > 0 and messages[end - 1].tool_calls:
        end, caller = end - 1, messages[end - 1]
    facts = " ".join(_fact(result, caller) for result in results)
    return messages[:end], f"{facts} {ANSWER_PROMPT}"


def _fact(result: ChatMessage, caller: ChatMessage | None) -> str:
    calls = caller.tool_calls if caller is not None else ()
    call = next((c for c in calls if c.id == result.tool_call_id), None)
    name = result.name or (call.name if call else "a function")
    arguments = json.dumps(call.arguments, ensure_ascii=False) if call else "{}"
    outcome = _outcome(result.content)
    return f"You called {name} with {arguments}; {outcome}."


def _outcome(content: str) -> str:
    """``{"output": X}`` → "it returned X", ``{"error": E}`` → "it failed: E"."""
    try:
        response: Any = json.loads(content)
    except ValueError:
        return f"it returned {content}"
    if isinstance(response, dict) and len(response) == 1 and "error" in response:
        return f"it failed: {json.dumps(response['error'], ensure_ascii=False)}"
    if isinstance(response, dict) and len(response) == 1 and "output" in response:
        response = response["output"]
    return f"it returned {json.dumps(response, ensure_ascii=False)}"


def add_to_last_user(rendered: list[dict[str, Any]], text: str) -> None:
    """Guarded prompts: the facts end the user's message (any template accepts that)."""
    if rendered and rendered[-1]["role"] == "user":
        rendered[-1] = {**rendered[-1], "content": f"{rendered[-1]['content']}\n\n{text}"}
    else:
        rendered.append({"role": "user", "content": text})


def _add_to_system(rendered: list[dict[str, Any]], text: str) -> None:
    if rendered and rendered[0]["role"] == "system":
        rendered[0] = {**rendered[0], "content": f"{rendered[0]['content']}\n\n{text}"}
    else:
        rendered.insert(0, {"role": "system", "content": text})
