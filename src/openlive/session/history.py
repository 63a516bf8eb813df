"""The conversation as the language model will see it."""

from __future__ import annotations

from dataclasses import replace

import orjson

from openlive.chat import ChatMessage, Role
from openlive.errors import InvalidArgument, PolicyViolation
from openlive.protocol.types import Content, Part
from openlive.session.seeing import image_from_blob, is_image

_ROLES: dict[str, Role] = {"user": "user", "model": "assistant"}


def part_text(part: Part) -> str:
    """The text a part contributes to the model's context.

    Function calls and responses prefilled by the client become readable text, so the
    model keeps their meaning; media a text-only model cannot take is refused.
    """
    if part.text is not None:
        return "" if part.thought else part.text
    if part.function_call is not None:
        args = orjson.dumps(part.function_call.args or {}).decode()
        return f"[called {part.function_call.name}({args})]"
    if part.function_response is not None:
        result = orjson.dumps(part.function_response.response or {}).decode()
        return f"[{part.function_response.name or 'function'} returned {result}]"
    if part.inline_data is not None or part.file_data is not None:
        mime = (part.inline_data or part.file_data).mime_type  # type: ignore[union-attr]
        raise PolicyViolation(
            f"{mime} input needs a multimodal language model; the configured one takes text only."
        )  # images reach here only without one: content_message takes them otherwise
    return ""


def content_message(content: Content, image_detail: str | None = None) -> ChatMessage | None:
    """A ``Content`` as one chat message, or None when it carries nothing.

    Image parts become the message's images when the model can see (``image_detail`` is
    then the detail level to ask for); otherwise they are refused with 1008.
    """
    role = _ROLES.get((content.role or "user").lower())
    if role is None:
        # the hosted API answers a role it does not know as a bad argument (1007)
        raise InvalidArgument(f"Unknown role '{content.role}': use 'user' or 'model'.")
    images = tuple(
        image_from_blob(p.inline_data, image_detail)
        for p in content.parts
        if image_detail is not None and p.inline_data is not None and is_image(p.inline_data)
    )
    text = "".join(
        part_text(p) for p in content.parts
        if not (images and p.inline_data is not None and is_image(p.inline_data))
    )
    if not text and not images:
        return None
    return ChatMessage(role=role, content=text, images=images)


class History:
    """Ordered user and model turns; merges consecutive plain turns of the same role.

    Function calls and their results are never merged: each ``tool`` message must stay
    right after the ``assistant`` message whose call it answers.
    """

    def __init__(self) -> None:
        self._messages: list[ChatMessage] = []

    def append(self, message: ChatMessage) -> None:
        if message.images:
            self._forget_images()  # a vision model is shown the newest picture only
        last = self._messages[-1] if self._messages else None
        if last is not None and _plain(last) and _plain(message) and last.role == message.role:
            self._messages.pop()
            message = ChatMessage(role=message.role, content=f"{last.content}\n{message.content}")
        self._messages.append(message)

    def _forget_images(self) -> None:
        """Older pictures cost image tokens on every turn: keep a note of them instead."""
        for index, message in enumerate(self._messages):
            if message.images:
                note = f"[{len(message.images)} image(s) shown earlier]"
                content = f"{message.content} {note}".strip()
                self._messages[index] = replace(message, content=content, images=())

    def messages(self, system_instruction: str | None) -> tuple[ChatMessage, ...]:
        """The context for the model: the system instruction first, then every turn."""
        head = (ChatMessage("system", system_instruction),) if system_instruction else ()
        return head + tuple(self._messages)

    def messages_with(self, system_instruction: str | None,
                      message: ChatMessage) -> tuple[ChatMessage, ...]:
        """The context as it will be once ``message`` is appended (to answer ahead)."""
        ahead = History()
        ahead._messages = list(self._messages)
        ahead.append(message)
        return ahead.messages(system_instruction)

    def last_reply(self) -> str | None:
        """The model's most recent spoken or written words, if any."""
        return next((m.content for m in reversed(self._messages)
                     if m.role == "assistant" and m.content.strip()), None)

    def drop_oldest(self, count: int) -> None:
        """Forget the ``count`` oldest turns (context window compression)."""
        del self._messages[:count]

    def turns(self) -> tuple[ChatMessage, ...]:
        """The user and model turns, oldest first (no system instruction)."""
        return tuple(self._messages)

    def __len__(self) -> int:
        return len(self._messages)


def _plain(message: ChatMessage) -> bool:
    return message.role != "tool" and not message.tool_calls and not message.images
