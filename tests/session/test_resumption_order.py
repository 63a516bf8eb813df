"""The resumption handle that includes a turn comes before that turn's turnComplete, and
says which client messages it includes (``lastConsumedClientMessageIndex``)."""

from __future__ import annotations

from openlive.session.actions import SaveSnapshot, TurnComplete
from openlive.session.config import ServerCapabilities
from openlive.session.events import SnapshotSaved
from openlive.session.resumption import Snapshot
from tests.session.conversation import Conversation, sent, starts

RESUMABLE = ServerCapabilities(resumption=True)


def resumable() -> Conversation:
    c = Conversation(RESUMABLE)
    [save] = [a for a in c.setup(sessionResumption={}) if isinstance(a, SaveSnapshot)]
    assert save.consumed == 0  # the setup is message 0
    return c


def test_the_snapshot_of_a_turn_is_saved_before_its_turn_complete() -> None:
    c = resumable()
    [start] = starts(c.client({"realtimeInput": {"text": "My name is Ada Lovelace."}}))
    c.delta(start.generation_id, "Hello Ada.")
    out = c.finish(start.generation_id)
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("SaveSnapshot") < kinds.index("TurnComplete"), kinds
    [save] = [a for a in out if isinstance(a, SaveSnapshot)]
    history = [(m.role, m.content) for m in Snapshot.decode(save.data).history]
    assert history == [("user", "My name is Ada Lovelace."), ("assistant", "Hello Ada.")]
    assert save.consumed == 1  # setup, then the text: the handle includes both


def test_the_update_names_the_last_client_message_it_includes() -> None:
    c = resumable()
    c.client({"clientContent": {"turns": [{"role": "user", "parts": [{"text": "a"}]}]}})
    [start] = starts(c.client({"clientContent": {"turnComplete": True}}))
    [save] = [a for a in c.finish(start.generation_id) if isinstance(a, SaveSnapshot)]
    assert save.consumed == 2
    [update] = sent(c.feed(SnapshotSaved("handle-1", save.consumed)))
    # an int64: a string in proto3 JSON, as both SDKs read it
    assert update == {"sessionResumptionUpdate": {
        "newHandle": "handle-1", "resumable": True, "lastConsumedClientMessageIndex": "2"}}


def test_turn_complete_says_the_session_is_idle() -> None:
    c = resumable()
    [start] = starts(c.client({"realtimeInput": {"text": "hi"}}))
    [done] = [a for a in c.finish(start.generation_id) if isinstance(a, TurnComplete)]
    assert done.status == "IDLE"
    assert sent([done])[0]["serverContent"]["interactionStatus"] == "IDLE"


def test_a_queued_turn_answered_at_once_is_in_progress() -> None:
    c = Conversation()
    c.setup(realtimeInputConfig={"activityHandling": "NO_INTERRUPTION"})
    [first] = starts(c.client({"realtimeInput": {"text": "one"}}))
    assert c.client({"realtimeInput": {"text": "two"}}) == []  # queued behind the reply
    out = c.finish(first.generation_id)
    [done] = [a for a in out if isinstance(a, TurnComplete)]
    assert done.status == "IN_PROGRESS" and len(starts(out)) == 1
