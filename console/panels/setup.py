"""Call setup: schema (or plain Pipecat flow, with its handlers and state), patient, responder, mode and
audio devices; Start and Stop.

Every choice is saved in the injected QSettings. Invalid data lists every
located problem and keeps Start disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from console.dialogs import Dialogs
from console.panels import CallSetup, Choice
from console.panels.flow_box import FlowBox
from console.slots import async_slot
from console.widgets import Panel

if TYPE_CHECKING:
    from console.controllers import CallController, VoiceAdapter

OPEN_FILE = "\0open"  # the item data of the "Open … file…" entries
RESPONDERS = [("Scripted (offline)", "scripted"), ("OpenAI-compatible", "openai")]
MODES = [("Text", "text"), ("Voice", "voice")]


class SetupPanel(Panel):
    outputDeviceChanged = Signal(str)  # the chosen speaker's name ("" = the default)

    def __init__(self, controller: CallController, voice: VoiceAdapter, settings: QSettings,
                 dialogs: Dialogs, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._controller, self._voice = controller, voice
        self._settings, self._dialogs = settings, dialogs
        self.problems: list[str] = []
        self._restoring = False
        self._build()
        self._fill_voice()
        controller.callStateChanged.connect(self._update_enabled)
        controller.callStateChanged.connect(self._update_monitor)
        controller.busyChanged.connect(self._update_enabled)
        controller.pastCallShown.connect(self.show_call)
        voice.inputLevel.connect(self.set_input_level)

    # ----- building ----------------------------------------------------------------------------

    def _build(self) -> None:
        self.schema_box, self.patient_box = QComboBox(), QComboBox()
        self.flow_box = FlowBox(self._dialogs, self._controller.file_folders()[0])
        self.flow_box.changed.connect(self._on_flow_files_changed)
        self.problem_list = QListWidget()
        self.problem_list.setWordWrap(True)
        self.problem_list.setStyleSheet("color: #b71c1c;")
        self.problem_list.setMaximumHeight(120)
        self.ready_label = QLabel()
        self.ready_label.setWordWrap(True)
        self.responder_box = _combo(RESPONDERS)
        self.url_edit, self.model_edit = QLineEdit(), QLineEdit()
        self.url_edit.setPlaceholderText("required, e.g. http://127.0.0.1:8000/v1")
        self.url_edit.setToolTip("The OpenAI-compatible server's base URL. Empty: $VOICE_CONSOLE_LLM_URL "
                                 "or $OPENAI_BASE_URL is used if set")
        self.model_edit.setPlaceholderText("empty: gpt-4.1-mini")
        self.mode_box = _combo(MODES)
        self.voice_label = QLabel()
        self.voice_label.setWordWrap(True)
        self.voice_label.setStyleSheet("color: #6d4c41;")
        self.input_box, self.output_box = QComboBox(), QComboBox()
        self.record_box = QCheckBox("Record audio")
        self.record_box.setToolTip("Voice mode: save the caller's, the bot's and the mixed audio as WAV "
                                   "files in the call's data folder (they hold the patient's voice)")
        self.level_meter = QProgressBar()
        self.level_meter.setRange(0, 100)
        self.level_meter.setTextVisible(False)
        self.level_meter.setMaximumHeight(8)
        self.start_button, self.stop_button = QPushButton("Start"), QPushButton("Stop")
        self.start_button.setToolTip("Start a call (Ctrl+R)")
        self.stop_button.setToolTip("End the call (Ctrl+.)")
        self._lay_out()
        self._connect()

    def _lay_out(self) -> None:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Schema", self.schema_box)
        form.addRow("Patient", self.patient_box)
        form.addRow(self.flow_box)
        form.addRow(self.problem_list)
        form.addRow(self.ready_label)
        form.addRow("Responder", self.responder_box)
        form.addRow("LLM URL", self.url_edit)
        form.addRow("Model", self.model_edit)
        form.addRow("Mode", self.mode_box)
        form.addRow(self.voice_label)
        self._device_rows = [self.input_box, self.output_box, self.level_meter, self.record_box]
        form.addRow("Input", self.input_box)
        form.addRow("Output", self.output_box)
        form.addRow("Level", self.level_meter)
        form.addRow(self.record_box)
        self._form = form
        buttons = QHBoxLayout()
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.schema_box.activated.connect(self._on_schema_chosen)
        self.patient_box.activated.connect(self._on_patient_chosen)
        self.responder_box.currentIndexChanged.connect(self._on_responder_changed)
        for edit in (self.url_edit, self.model_edit):
            edit.editingFinished.connect(self._save)
        for box in (self.mode_box, self.input_box, self.output_box):
            box.activated.connect(self._save)
        self.input_box.activated.connect(self._update_monitor)
        self.mode_box.currentIndexChanged.connect(self._update_enabled)
        self.record_box.toggled.connect(self._save)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)

    def _fill_voice(self) -> None:
        available, reason = self._voice.status()
        inputs, outputs = self._voice.devices() if available else ([], [])
        _fill(self.input_box, inputs)
        _fill(self.output_box, outputs)
        model = self.mode_box.model()
        assert isinstance(model, QStandardItemModel)
        voice_item = model.item(self.mode_box.findData("voice"))
        voice_item.setEnabled(available)
        voice_item.setToolTip("" if available else f"Voice mode is unavailable: {reason}")
        self.voice_label.setText("" if available else f"Voice mode is unavailable: {reason}.")
        self.voice_label.setVisible(not available)
        for widget in self._device_rows:
            self._form.setRowVisible(widget, available)
        self.voice_available = available

    # ----- selection -----------------------------------------------------------------------

    def restore(self, schema: str = "", patient: str = "", handlers: str = "", state: str = "") -> None:
        """Select `schema` and `patient`; without a schema, the saved choices, else the defaults. A plain
        flow's `handlers` module is named only if the operator agrees to import it."""
        self._restoring = True
        try:
            self._restore(schema, patient)
            if handlers and not self.flow_box.offer_handlers(handlers):
                self._controller.notify(f"The handlers module {handlers} was not imported")
            self.flow_box.set_files(self.flow_box.handlers, state)
        finally:
            self._restoring = False
        self._refresh()
        self._update_monitor()

    def _restore(self, schema: str, patient: str) -> None:
        settings = self._settings
        if not schema:
            saved = str(settings.value("setup/schema", ""))
            schema, patient = self._controller.default_selection()
            if saved and Path(saved).is_file():
                schema, patient = saved, str(settings.value("setup/patient", ""))
        self._fill_schemas(schema)
        self._fill_patients(patient)
        _select(self.responder_box, str(settings.value("setup/responder", "scripted")))
        self.url_edit.setText(str(settings.value("setup/llm_url", "")))
        self.model_edit.setText(str(settings.value("setup/llm_model", "")))
        mode = str(settings.value("setup/mode", "text"))
        _select(self.mode_box, mode if self.voice_available else "text")
        _select(self.input_box, str(settings.value("setup/input_device", "")))
        _select(self.output_box, str(settings.value("setup/output_device", "")))
        self.record_box.setChecked(str(settings.value("setup/record", "false")).lower() == "true")
        self._on_responder_changed()

    def _fill_schemas(self, chosen: str) -> None:
        choices = self._controller.bundled_schemas()
        if chosen and all(Path(path) != Path(chosen) for _label, path in choices):
            choices.append((Path(chosen).stem, chosen))
        _fill(self.schema_box, choices + [("Open schema file…", OPEN_FILE)])
        _select_path(self.schema_box, chosen)

    def _fill_patients(self, chosen: str) -> None:
        choices = self._controller.patients_for(self.schema_path)
        if chosen and Path(chosen).is_file() and all(Path(p) != Path(chosen) for _label, p in choices):
            choices.append((Path(chosen).stem, chosen))
        _fill(self.patient_box, choices + [("Open patient file…", OPEN_FILE)])
        if not _select_path(self.patient_box, chosen):
            self.patient_box.setCurrentIndex(0)

    def show_call(self, schema_name: str, patient_id: str) -> None:
        """Select a shown call's schema and patient (a replay), when they are among the choices."""
        schema = next((path for label, path in self._controller.bundled_schemas() if label == schema_name),
                      self.schema_path if Path(self.schema_path).stem == schema_name else "")
        if not schema:
            return
        self._fill_schemas(schema)
        patients = self._controller.patients_for(schema)
        self._fill_patients(next((path for label, path in patients if label == patient_id), ""))
        self._refresh()

    def _on_schema_chosen(self) -> None:
        if self.schema_box.currentData() == OPEN_FILE:
            path = self._dialogs.open_file("Open a schema or a Pipecat flow",
                                           self._controller.file_folders()[0],
                                           "Schemas and Pipecat flows (*.yaml *.yml *.json)")
            if path is None:
                _select_path(self.schema_box, str(self._settings.value("setup/schema", "")))
                return
            self._fill_schemas(path)
        self._restoring = True  # another file: the last flow's handlers and state are not its own
        self.flow_box.set_files("", "")
        self._restoring = False
        self._fill_patients("")
        self._refresh()

    def _on_flow_files_changed(self) -> None:
        if not self._restoring:
            self._refresh()

    def open_schema_file(self) -> None:
        """Ask for a schema file and select it (File ▸ Open schema file…)."""
        self.schema_box.setCurrentIndex(self.schema_box.findData(OPEN_FILE))
        self._on_schema_chosen()

    def _on_patient_chosen(self) -> None:
        if self.patient_box.currentData() == OPEN_FILE:
            path = self._dialogs.open_file("Open patient file", self._controller.file_folders()[1],
                                           "Patients (*.json)")
            self._fill_patients(path or str(self._settings.value("setup/patient", "")))
        self._refresh()

    def _on_responder_changed(self) -> None:
        uses_llm = self.responder_box.currentData() == "openai"
        self.url_edit.setEnabled(uses_llm)
        self.model_edit.setEnabled(uses_llm)
        self._save()

    def _refresh(self) -> None:
        self.problems = self._controller.select(self.schema_path, self.patient_path, self.flow_box.handlers,
                                                self.flow_box.state)
        is_flow = self._controller.selected_is_flow
        self._form.setRowVisible(self.flow_box, is_flow)
        self._form.setRowVisible(self.patient_box, not is_flow)
        self.problem_list.clear()
        self.problem_list.addItems(self.problems)
        self.problem_list.setVisible(bool(self.problems))
        ready = "✓ The flow is ready." if is_flow else "✓ The patient meets the schema's data contract."
        self.ready_label.setText("" if self.problems else ready)
        self.ready_label.setVisible(not self.problems)
        self._save()
        self._update_enabled()

    # ----- state ---------------------------------------------------------------------------

    @property
    def schema_path(self) -> str:
        data = self.schema_box.currentData()
        return "" if data in (None, OPEN_FILE) else str(data)

    @property
    def patient_path(self) -> str:
        data = self.patient_box.currentData()
        return "" if data in (None, OPEN_FILE) else str(data)

    def setup(self) -> CallSetup:
        return CallSetup(schema=self.schema_path, patient=self.patient_path,
                         responder=str(self.responder_box.currentData()),
                         llm_url=self.url_edit.text().strip(),
                         llm_model=self.model_edit.text().strip(), mode=str(self.mode_box.currentData()),
                         input_device=str(self.input_box.currentData() or ""),
                         output_device=str(self.output_box.currentData() or ""),
                         record=self.record_box.isChecked() and self.mode_box.currentData() == "voice",
                         handlers=self.flow_box.handlers, state=self.flow_box.state)

    @property
    def output_device(self) -> str:
        return str(self.output_box.currentData() or "")

    @property
    def can_start(self) -> bool:
        return not self.problems and not self._controller.is_live

    def _update_enabled(self) -> None:
        live = self._controller.is_live
        self.start_button.setEnabled(self.can_start)
        self.stop_button.setEnabled(live)
        for widget in (self.schema_box, self.patient_box, self.flow_box, self.responder_box, self.mode_box,
                       self.input_box, self.output_box):
            widget.setEnabled(not live)
        self.record_box.setEnabled(self.mode_box.currentData() == "voice" and not live)
        uses_llm = self.responder_box.currentData() == "openai"
        self.url_edit.setEnabled(uses_llm and not live)
        self.model_edit.setEnabled(uses_llm and not live)

    def _save(self) -> None:
        """Remember every choice; a schema or patient only once one is chosen."""
        if self._restoring:
            return
        self.outputDeviceChanged.emit(self.output_device)
        for key, value in self.setup().items():
            if key in ("handlers", "state"):  # never imported again unasked
                continue
            if value or key not in ("schema", "patient"):
                self._settings.setValue(f"setup/{key}", value)
        self._settings.setValue("setup/record", self.record_box.isChecked())  # kept while in text mode

    def _update_monitor(self) -> None:
        """Meter the chosen microphone while voice is available and no call holds it."""
        if self.voice_available and not self._controller.is_live:
            self._voice.monitor_input(str(self.input_box.currentData() or ""))
        else:
            self._voice.monitor_input(None)
            self.level_meter.setValue(0)

    def set_input_level(self, level: float) -> None:
        self.level_meter.setValue(round(max(0.0, min(level, 1.0)) * 100))

    # ----- actions -------------------------------------------------------------------------

    @async_slot()
    async def start(self) -> None:
        if self.can_start:
            self._save()
            await self._controller.start(self.setup())

    @async_slot()
    async def stop(self) -> None:
        await self._controller.stop()


def _combo(choices: list[Choice]) -> QComboBox:
    box = QComboBox()
    _fill(box, choices)
    return box


def _fill(box: QComboBox, choices: list[Choice]) -> None:
    box.blockSignals(True)
    box.clear()
    for label, value in choices:
        box.addItem(label, value)
        box.setItemData(box.count() - 1, value if value != OPEN_FILE else "", Qt.ItemDataRole.ToolTipRole)
    box.blockSignals(False)


def _select(box: QComboBox, value: str) -> bool:
    index = box.findData(value)
    if index >= 0:
        box.setCurrentIndex(index)
    return index >= 0


def _select_path(box: QComboBox, path: str) -> bool:
    for index in range(box.count()):
        data = box.itemData(index)
        if data not in (None, OPEN_FILE) and path and Path(str(data)).resolve() == Path(path).resolve():
            box.setCurrentIndex(index)
            return True
    return False
