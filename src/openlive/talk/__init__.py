"""``openlive talk``: a terminal client for any Live API endpoint (openlive or Google's).

Configured as the SDKs are (``GEMINI_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``,
``SSL_CERT_FILE``) and speaking the wire protocol with the project's own message types
(:mod:`openlive.talk.wire`) over ``websockets``: no SDK needed. Audio comes from the
microphone or a WAV file and goes to the speaker or a WAV file (:mod:`openlive.talk.audio`);
:mod:`openlive.talk.session` runs a conversation and times each turn.
"""
