"""Timeline: a replayed call's events under a scrubber; step by event or by turn, or play it.

The panels follow the cursor (see `ReplayCursor`). Playing waits between events as long as the
call did (quiet stretches shortened), divided by the chosen speed. At 1× a call's recording plays
along, from the cursor's moment, and then no pause is shortened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QWidget

from console.widgets import ElidedLabel

if TYPE_CHECKING:
    from console.controllers import ReplayCursor

SPEEDS = [("1×", 1.0), ("2×", 2.0), ("4×", 4.0), ("10×", 10.0)]


class ReplayAudio(Protocol):
    """Plays a replayed call's recording (`HistoryController` is one)."""

    def play_along(self, call_id: str, start_s: float) -> None: ...

    def stop_playback(self) -> None: ...


class TimelinePanel(QWidget):
    def __init__(self, cursor: ReplayCursor, audio: ReplayAudio | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._cursor = cursor
        self._audio = audio
        self.with_audio = False  # playing, the recording plays along
        self._play_timer = QTimer(self)
        self._play_timer.setSingleShot(True)
        self._play_timer.timeout.connect(self._play_next)
        self._build()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        cursor.moved.connect(self._on_moved)
        self._on_moved(cursor.position, cursor.total)

    def _build(self) -> None:
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Replay: drag through the call's events")
        self.slider.valueChanged.connect(self._on_slider)
        self.buttons: dict[str, QPushButton] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for key, text, tip, action in (
                ("turn_back", "«", "Back one turn (Alt+Up)", lambda: self._cursor.step_turn(-1)),
                ("event_back", "‹", "Back one event (Alt+Left)", lambda: self._cursor.step_event(-1)),
                ("play", "▶", "Play the call from here", self.toggle_play),
                ("event_forward", "›", "Forward one event (Alt+Right)", lambda: self._cursor.step_event(1)),
                ("turn_forward", "»", "Forward one turn (Alt+Down)", lambda: self._cursor.step_turn(1))):
            button = QPushButton(text)
            button.setToolTip(tip)
            button.setFixedWidth(36)
            button.clicked.connect(lambda _checked=False, act=action: act())
            layout.addWidget(button)
            self.buttons[key] = button
        self.speed_box = QComboBox()
        for label, speed in SPEEDS:
            self.speed_box.addItem(label, speed)
        self.speed_box.setToolTip("Playing speed")
        self.position_label = ElidedLabel()
        self.position_label.setFixedWidth(190)
        self.position_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.speed_box)
        title = QLabel("Replay")
        title.setStyleSheet("color: #546e7a; font-weight: bold;")
        layout.insertWidget(0, title)
        layout.addWidget(self.position_label)
        layout.addWidget(self.slider, 1)

    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def toggle_play(self) -> None:
        if self.playing or not self._cursor.total:
            self.stop_playing()
            return
        if self._cursor.position >= self._cursor.total:
            self._cursor.to(0)
        self.buttons["play"].setText("■")
        self.with_audio = (self._audio is not None and self._cursor.has_audio
                           and float(self.speed_box.currentData()) == 1.0)
        if self._audio is not None and self.with_audio:
            self._audio.play_along(self._cursor.call_id, self._cursor.elapsed_s)
        self._schedule()

    def stop_playing(self) -> None:
        self._play_timer.stop()
        self.buttons["play"].setText("▶")
        if self._audio is not None and self.with_audio:
            self._audio.stop_playback()
        self.with_audio = False

    def _schedule(self) -> None:
        speed = float(self.speed_box.currentData())
        pause = self._cursor.pause_before_next(whole=self.with_audio)
        self._play_timer.start(round(pause * 1000 / speed))

    def _play_next(self) -> None:
        self._cursor.step_event(1)
        if self._cursor.position < self._cursor.total:
            self._schedule()
        else:
            self.stop_playing()

    def _on_slider(self, value: int) -> None:
        if value != self._cursor.position:
            self.stop_playing()  # the recording would no longer match the cursor
            self._cursor.to(value)

    def _on_moved(self, position: int, total: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, total)
        self.slider.setValue(position)
        self.slider.blockSignals(False)
        for widget in (*self.buttons.values(), self.slider, self.speed_box):
            widget.setEnabled(total > 0)
        if total == 0:
            self.stop_playing()
        self.position_label.set_full_text(self._cursor.describe())
