"""What the engines that call other servers share: HTTP error mapping, the Wyoming
connection, the voice mapping and the audio conversions.

The engines themselves live with their kind: :mod:`openlive.engines.asr.openai_audio`,
:mod:`openlive.engines.asr.wyoming`, :mod:`openlive.engines.tts.openai_audio`,
:mod:`openlive.engines.tts.wyoming`.
"""
