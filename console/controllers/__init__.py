"""The console's controllers: Qt view-models over the engine, handing panels plain data.

`CallController` owns the one call at a time and builds the others: `TestRunController`
(the shown schema's test cases), `HistoryController` (past calls, replay, recordings) and
`VoiceAdapter` (devices, Speak, playback, the microphone's level).
"""

from console.controllers.call import CallController
from console.controllers.history import HistoryController, HistorySupport
from console.controllers.replay import ReplayCursor
from console.controllers.state import TRANSITIONS, CallState
from console.controllers.tests import TestRunController
from console.controllers.voice import VoiceAdapter

__all__ = ["TRANSITIONS", "CallController", "CallState", "HistoryController", "HistorySupport",
           "ReplayCursor", "TestRunController", "VoiceAdapter"]
