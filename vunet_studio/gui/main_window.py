"""The main window: composes the views, docks, actions and status bar, and hands the
wiring to the controllers (`editor.py`, `files.py`). It holds no editing logic itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from vunet_studio.gui import settings
from vunet_studio.gui.animation_dialog import PREVIEW_SIDE, AnimationDialog, AnimationOptions
from vunet_studio.gui.canvas import PoseCanvas
from vunet_studio.gui.composite_view import CompositeView
from vunet_studio.gui.document import StudioDocument
from vunet_studio.gui.editor import EditController
from vunet_studio.gui.files import FileController, sample_photos
from vunet_studio.gui.keyframes import KeyframeController, KeyframeStrip
from vunet_studio.gui.people_layer import PeopleController
from vunet_studio.gui.pose_finder import EstimatorFactory, PoseFinder, default_estimator_factory
from vunet_studio.gui.preferences import PreferencesDialog
from vunet_studio.gui.recovery import REASON_TERMINATED
from vunet_studio.gui.render_view import RenderView
from vunet_studio.gui.render_worker import RenderService
from vunet_studio.gui.scene_worker import SceneService, SceneView
from vunet_studio.gui.sources_panel import AppearancePanel, PhotosPanel
from vunet_studio.renderer import RendererFactory

log = logging.getLogger(__name__)

APP_NAME = "VUNet Studio"


class EmptyState(QWidget):
    """What a first start shows instead of a blank canvas."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h2>Re-pose people in photos</h2>")
        text = QLabel(
            "Open a photo of a person. Their skeleton is found for you;<br>"
            "drag its joints and watch the person re-render in the new pose.<br><br>"
            "You can also drop photos or a workspace onto this window."
        )
        for w in (title, text):
            w.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setStyleSheet("color: gray")
        self.open_button = QPushButton("Open photos…")
        self.samples_button = QPushButton("Open samples")
        for b in (self.open_button, self.samples_button):
            b.setMinimumWidth(180)
            b.setMinimumHeight(32)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(text)
        layout.addSpacing(16)
        for b in (self.open_button, self.samples_button):
            layout.addWidget(b, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)


#: The first start's window size, on a screen with room for it.
DEFAULT_SIZE = QSize(1440, 900)


def fitted(wanted: QSize, room: QSize) -> QSize:
    """`wanted`, shrunk to fit `room` (the screen's free area) with space left for the window's
    frame and title bar: a 1440 x 900 window on a 1366 x 768 laptop hid its status bar and the
    keyframes dock's buttons below the screen's edge, with no way to reach them but maximising."""
    return QSize(min(wanted.width(), room.width() - 16), min(wanted.height(), room.height() - 40))


def scrolling(panel: QWidget) -> QScrollArea:
    """`panel` in a frameless scroll area that scrolls only when the panel does not fit."""
    area = QScrollArea()
    area.setWidget(panel)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class MainWindow(QMainWindow):
    def __init__(
        self,
        engine_factory: RendererFactory | None = None,
        estimator_factory: EstimatorFactory | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self._terminating = False  # closing because the system asked (SIGTERM), not the user
        self.prefs = settings.Preferences.load()
        self.setAcceptDrops(True)
        self.resize(fitted(DEFAULT_SIZE, self.screen().availableGeometry().size()))

        # --- views ---
        self.doc = StudioDocument(self)
        self.canvas = PoseCanvas()
        self.render_view = RenderView()
        self.empty = EmptyState()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.canvas)
        self.splitter.addWidget(self.render_view)
        # The photo (with its person re-posed in it) is the main view; the square render beside
        # it is for inspection, so it gets the smaller share (a saved layout overrides this).
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([1000, 330])
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)

        self.photos_panel = PhotosPanel()
        self.appearance_panel = AppearancePanel()
        self.photos_dock = self._dock("Photos", self.photos_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        # Scrolls when the window is short (a laptop's 768 lines, the keyframes dock open):
        # squeezed below its height, the panel drew its last rows over the dock beneath it.
        self.appearance_dock = self._dock(
            "Appearance", scrolling(self.appearance_panel), Qt.DockWidgetArea.RightDockWidgetArea
        )
        self.keyframe_strip = KeyframeStrip()
        self.keyframes_dock = self._dock(
            "Keyframes", self.keyframe_strip, Qt.DockWidgetArea.BottomDockWidgetArea
        )

        # --- services and controllers ---
        self.render_service = RenderService(engine_factory, self)
        self.finder = PoseFinder(estimator_factory or self._estimator_factory(self.prefs), self)
        self.editor = EditController(
            self.doc,
            self.canvas,
            self.render_view,
            self.photos_panel,
            self.appearance_panel,
            self.render_service,
            self,
        )
        self.files = FileController(
            self.doc, self.editor, self.render_view, self.render_service, self.finder, self, self.prefs, self
        )
        self.keyframes = KeyframeController(self.doc, self.keyframe_strip, self)
        self.people = PeopleController(self.doc, self.canvas, self.finder)  # several people per photo
        self.scenes = SceneService(self.doc, self)  # each photo's person mask and empty scene
        self.scene_view = SceneView(self.doc, self.canvas, self.scenes, self)
        # The photo with its person re-posed in place (the square render stays in its dock).
        self.composite_view = CompositeView(
            self.doc, self.canvas, self.scenes, self.render_service, self.editor.request_render, self
        )
        self.editor.composite_job = self.composite_view.job_for
        self.files.export_composite = self.composite_view.export_job
        self._loop_animation, self._animation_suffix = True, ".gif"  # the last export's choices
        self._engine_notice = ""

        self._build_status_bar()
        self._build_actions()
        self._wire()
        self._restore_layout()
        self._update_title()

    # --- composition ---------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title}Dock")
        dock.setWidget(widget)
        dock.setMinimumWidth(250)
        self.addDockWidget(area, dock)
        return dock

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(180)
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.engine_label = QLabel("Model: loading…")
        self.frame_label = QLabel("")
        self.frame_label.setMinimumWidth(150)
        self.frame_label.setToolTip("Render time of the last frame / mouse-to-screen latency")
        self.zoom_label = QLabel("")
        # Which estimator found the shown photo's pose and how long it took; the reasons a
        # preferred one was skipped are in its tooltip, so the status line stays short.
        self.pose_label = QLabel("")
        # Shown while an animation is exported, next to its progress: a long export (tens of
        # seconds on a slow CPU) can be stopped without waiting for it.
        self.cancel_export = QPushButton("Cancel export")
        self.cancel_export.setVisible(False)
        self.cancel_export.setToolTip("Stop the animation export after the frame being rendered; nothing is written")
        widgets = (self.progress, self.cancel_export, self.pose_label, self.engine_label, self.frame_label, self.zoom_label)
        for w in widgets:
            bar.addPermanentWidget(w)

    def _action(
        self,
        text: str,
        slot: Callable[..., object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        icon: QStyle.StandardPixmap | None = None,
        tip: str = "",
    ) -> QAction:
        act = QAction(text, self)
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.triggered.connect(slot)
        self.addAction(act)  # shortcuts work even when the menu bar is hidden
        return act

    def _build_actions(self) -> None:
        S, K = QStyle.StandardPixmap, QKeySequence.StandardKey
        f, e = self.files, self.editor
        self.act_open = self._action(
            "&Open photos…", f.open_dialog, K.Open, S.SP_DialogOpenButton, "Open photos or a workspace"
        )
        self.act_samples = self._action("Open &samples", f.open_samples)
        self.act_open_ws = self._action("Open &workspace…", f.open_workspace_dialog)
        self.act_new = self._action("&New workspace", f.new_workspace, K.New, S.SP_FileIcon)
        self.act_save = self._action("&Save", f.save, K.Save, S.SP_DialogSaveButton, "Save the workspace")
        self.act_save_as = self._action("Save &as…", lambda: f.save_as(), K.SaveAs)
        self.act_export_render = self._action(
            "Export &render…",
            lambda: f.export_render(),
            "Ctrl+E",
            S.SP_ArrowDown,
            "Save the photo with the person re-posed, at full resolution (PNG or JPEG)",
        )
        self.act_export_square = self._action(
            "Export s&quare render…",
            lambda: f.export_render(square=True),
            None,
            None,
            "Save the model's square render as it is, without the photo",
        )
        self.act_export_pose = self._action("Export &pose…", lambda: f.export_pose(), "Ctrl+Shift+E")
        self.act_export_anim = self._action("Export &animation…", self.show_animation_dialog, "Ctrl+Alt+E")
        self.act_prefs = self._action("&Preferences…", self.show_preferences, K.Preferences)
        self.act_quit = self._action("&Quit", self.close, K.Quit)

        self.act_undo = self.doc.undo.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence(K.Undo))
        self.act_undo.setIcon(self.style().standardIcon(S.SP_ArrowBack))
        # The toolbar says just "Undo"/"Redo" and its tooltip what: with the step's text it
        # grew with every edit ("Undo Use the look of astronaut.png") and pushed the last
        # buttons into the » menu. The Edit menu keeps the whole text, as apps do.
        self.act_undo.setIconText("Undo")
        self.act_redo = self.doc.undo.createRedoAction(self, "&Redo")
        self.act_redo.setIconText("Redo")
        # Ctrl+Y as well as the platform's redo (Ctrl+Shift+Z here): users bring either habit.
        redo_keys = [QKeySequence(K.Redo), QKeySequence("Ctrl+Y"), QKeySequence("Ctrl+Shift+Z")]
        self.act_redo.setShortcuts(list({k.toString(): k for k in redo_keys if not k.isEmpty()}.values()))
        self.act_redo.setIcon(self.style().standardIcon(S.SP_ArrowForward))
        self.addActions([self.act_undo, self.act_redo])
        self.act_mirror = self._action(
            "&Mirror left/right", e.mirror, "M", S.SP_BrowserReload, "Swap the left and right side"
        )
        self.act_reset = self._action(
            "Reset to &detected pose", e.reset_pose, "Ctrl+Shift+R", S.SP_DialogResetButton
        )
        self.act_hide = self._action(
            "&Hide/show joint", e.toggle_selected_joint, None, None, "Hide or show the selected joint (H)"
        )
        self.act_own_pose = self._action("Use as the photo's own pose", e.set_as_source_pose)
        self.act_shuffle = self._action(
            "S&huffle appearance",
            e.shuffle,
            "Ctrl+R",
            S.SP_MediaSeekForward,
            "A random person from the model's prior",
        )
        self.act_keyframe = self._action("Add &keyframe", lambda: self.keyframes.add(), "K")
        self.act_clear_keys = self._action("Clear keyframes", e.clear_keyframes)

        self.act_fit = self._action("&Fit to window", self.canvas.fit, "Ctrl+0", S.SP_TitleBarMaxButton)
        self.act_zoom_in = self._action("Zoom &in", lambda: self.canvas.zoom_by(1.25), K.ZoomIn)
        self.act_zoom_out = self._action("Zoom &out", lambda: self.canvas.zoom_by(0.8), K.ZoomOut)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addActions([self.act_open, self.act_samples])
        self.recent_menu = m.addMenu("Open &recent")
        m.addActions([self.act_open_ws, self.act_new])
        m.addSeparator()
        m.addActions([self.act_save, self.act_save_as])
        m.addSeparator()
        m.addActions([self.act_export_render, self.act_export_square, self.act_export_pose, self.act_export_anim])
        m.addSeparator()
        m.addActions([self.act_prefs, self.act_quit])
        m = mb.addMenu("&Edit")
        m.addActions([self.act_undo, self.act_redo])
        m.addSeparator()
        m.addActions([self.act_mirror, self.act_hide, self.act_reset, self.act_own_pose])
        m.addSeparator()
        m.addActions([self.act_shuffle, self.act_keyframe, self.act_clear_keys])
        m = mb.addMenu("&View")
        m.addActions([self.act_fit, self.act_zoom_in, self.act_zoom_out])
        m.addSeparator()
        m.addAction(self.composite_view.act_show)
        m.addAction(self.composite_view.act_keep)
        m.addAction(self.composite_view.act_limbs)
        m.addAction(self.composite_view.act_borrow)
        m.addAction(self.composite_view.act_body)
        m.addActions(self.scene_view.actions)
        m.addSeparator()
        m.addActions([self.photos_dock.toggleViewAction(), self.appearance_dock.toggleViewAction(),
                      self.keyframes_dock.toggleViewAction()])  # fmt: skip
        m = mb.addMenu("&Help")
        m.addAction("&Keys and mouse").triggered.connect(self.show_help)
        m.addAction("&About").triggered.connect(
            lambda: QMessageBox.about(
                self, APP_NAME, f"<b>{APP_NAME}</b><br>Re-pose people with the Variational U-Net."
            )
        )

        tb = QToolBar("Main")
        tb.setObjectName("MainToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setMovable(False)
        tb.addActions([self.act_open, self.act_save])
        tb.addSeparator()
        tb.addActions([self.act_undo, self.act_redo])
        tb.addSeparator()
        tb.addActions([self.act_mirror, self.act_reset, self.act_fit])
        tb.addSeparator()
        tb.addActions([self.act_shuffle, self.act_export_render])
        self.addToolBar(tb)
        self._rebuild_recent()

    def _wire(self) -> None:
        self.empty.open_button.clicked.connect(self.files.open_dialog)
        self.empty.samples_button.clicked.connect(self.files.open_samples)
        self.empty.samples_button.setEnabled(bool(sample_photos()))
        for c in (self.editor, self.files, self.keyframes, self.scene_view, self.people, self.composite_view):
            c.message.connect(self.show_message)
        self.people.sourceChanged.connect(self._on_pose_source)
        self.keyframe_strip.playRequested.connect(self.show_animation_dialog)
        self.files.recentChanged.connect(self._rebuild_recent)
        self.photos_panel.removeRequested.connect(self.files.close_photo)
        self.render_service.renderFailed.connect(self._on_render_failed)
        self.editor.frameShown.connect(self._on_frame_shown)
        self.canvas.zoomChanged.connect(self._on_zoom)
        self.doc.photosChanged.connect(self._on_photos_changed)
        self.doc.keyframesChanged.connect(self._update_actions)
        self.doc.undo.cleanChanged.connect(self._update_title)
        self.doc.pathChanged.connect(self._update_title)
        for signal in (self.doc.photosChanged, self.doc.currentChanged, self.doc.poseChanged):
            signal.connect(self._update_actions)
        self._update_actions()
        app = QApplication.instance()
        if app is not None:
            # Threads must stop before Qt tears down, also when the app quits without closing us.
            app.aboutToQuit.connect(self.shutdown)
        self.render_service.engineProgress.connect(self._on_engine_progress)
        self.render_service.engineReady.connect(self._on_engine_ready)
        self.render_service.engineFailed.connect(self._on_engine_failed)
        self.render_service.engineNotice.connect(self._on_engine_notice)
        self.render_service.animationNotice.connect(self._on_animation_notice)
        self.render_service.animationProgress.connect(self._on_animation_progress)
        self.render_service.animationDone.connect(self._end_export_progress)
        self.render_service.animationCancelled.connect(self._on_animation_cancelled)
        self.render_service.stillStarted.connect(self._on_still_started)
        self.render_service.stillDone.connect(self._end_export_progress)
        self.cancel_export.clicked.connect(self.render_service.cancel_animation)

    # Slots are methods, not lambdas, so Qt disconnects them when the window goes away.
    def show_message(self, text: str) -> None:
        bar = self.statusBar()
        room = bar.width() - sum(w.width() for w in bar.findChildren(QLabel) if w.isVisible()) - 40
        fm = bar.fontMetrics()
        shown = text.replace("\n", " ")
        if fm.horizontalAdvance(shown) > room > 0:
            # Too long for the line: cut at a word with "…" and keep all of it in the tooltip,
            # never a line that stops mid-word with the rest lost.
            words = shown.split(" ")
            head = " ".join(words[:-1]) + " " if len(words) > 1 else ""
            if ("/" in words[-1] or "\\" in words[-1]) and fm.horizontalAdvance(head) < room // 2:
                # A message that ends in a path ("Render exported to /…/render.png") keeps the
                # file's name: the folder's middle goes, not the whole path.
                tail = room - fm.horizontalAdvance(head)
                shown = head + fm.elidedText(words[-1], Qt.TextElideMode.ElideMiddle, tail)
            else:
                while len(words) > 1 and fm.horizontalAdvance(" ".join(words) + " …") > room:
                    words.pop()
                shown = " ".join(words) + " …"
        bar.setToolTip(text if shown != text else "")
        bar.showMessage(shown, 8000)

    def _on_pose_source(self, text: str, details: str) -> None:
        self.pose_label.setText(text)
        self.pose_label.setToolTip(details)

    def _on_frame_shown(self, ms: float, latency: float) -> None:
        self.frame_label.setText(f"render {ms:.0f} ms · latency {latency:.0f} ms")

    def _update_actions(self, *_: object) -> None:
        photo = self.doc.current
        has_pose = photo is not None and photo.pose is not None
        for act in (self.act_mirror, self.act_reset, self.act_hide, self.act_own_pose, self.act_keyframe,
                    self.act_export_pose, self.act_export_render, self.act_export_square, self.act_export_anim,
                    self.act_shuffle,
                    self.act_fit, self.act_zoom_in, self.act_zoom_out):  # fmt: skip
            act.setEnabled(has_pose)
        self.act_clear_keys.setEnabled(bool(self.doc.ws.keyframes))
        # Nothing to save in an empty workspace.
        self.act_save.setEnabled(bool(self.doc.photos))
        self.act_save_as.setEnabled(bool(self.doc.photos))
        self.keyframe_strip.add_button.setEnabled(has_pose)

    def _on_render_failed(self, message: str) -> None:
        self.statusBar().showMessage(f"Render failed: {message}", 10000)

    def _on_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"zoom {zoom * 100:.0f} %")

    def _on_photos_changed(self) -> None:
        self.stack.setCurrentIndex(1 if self.doc.photos else 0)

    # --- engine status -----------------------------------------------------------------
    def load_engine(self) -> None:
        self.engine_label.setText("Model: loading…")
        # Indeterminate: most of the wait is importing torch, which reports no progress, and
        # the engine's steps are not proportional to time (a bar at 0 % then 70 % misleads).
        self.progress.setRange(0, 0)
        self.progress.setVisible(True)
        self.render_view.set_message("Loading the model…")
        self.render_service.load_engine(self.prefs.checkpoint, self.prefs.device)

    def _on_engine_progress(self, fraction: float, message: str) -> None:
        self.progress.setVisible(True)
        self.progress.setFormat(message)
        self.statusBar().showMessage(message, 4000)

    def _on_engine_ready(self, info: str) -> None:
        self.progress.setVisible(False)
        self.engine_label.setText(f"Model: {info}")
        notice, self._engine_notice = self._engine_notice, ""
        # A fallback (CUDA missing: on the CPU) is what the user must read, not "ready".
        self.statusBar().showMessage(notice or f"Model ready: {info}", 20000 if notice else 5000)
        self.render_view.set_message("Rendering…")

    def _on_engine_failed(self, message: str) -> None:
        self.progress.setVisible(False)
        self.engine_label.setText("Model: not loaded")
        self.render_view.clear(f"No render: {message}\n\nChoose another model in File ▸ Preferences.")
        self.statusBar().showMessage(f"Model failed to load: {message}", 15000)

    def _on_engine_notice(self, message: str) -> None:
        self.engine_label.setToolTip(message)
        self._engine_notice = message  # shown when the model is ready, which comes next

    def _on_animation_progress(self, path: str, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        # The bar is narrow: the file's name goes in its tooltip (and the status message).
        # After the last frame the file is encoded: seconds for a long GIF, not cancellable.
        self.progress.setFormat("frame %v of %m" if done < total else "writing the file…")
        self.progress.setToolTip(f"Exporting {path}")
        self.progress.setVisible(True)
        self.cancel_export.setVisible(done < total)

    def _on_still_started(self, path: str) -> None:
        # One step of unknown length (a 12 MP still: 2-3 s on a CPU without bf16): a busy bar.
        self.progress.setRange(0, 0)
        self.progress.setFormat("exporting…")
        self.progress.setToolTip(f"Exporting {path}")
        self.progress.setVisible(True)

    def _end_export_progress(self) -> None:
        self.progress.setVisible(False)
        self.progress.setToolTip("")
        self.cancel_export.setVisible(False)

    def _on_animation_cancelled(self, path: str) -> None:
        self._end_export_progress()
        self.show_message(f"Export of {Path(path).name} cancelled: nothing was written.")

    def _on_animation_notice(self, message: str) -> None:
        self.statusBar().showMessage(message, 20000)
        QMessageBox.information(self, "Animation exported", message)

    # --- dialogs -----------------------------------------------------------------------
    def show_animation_dialog(self) -> AnimationDialog | None:
        """Options and a playing preview; Export asks for the file and renders it."""
        keys = self.files.animation_poses()
        photo = self.doc.current
        if photo is None or len(keys) < 2:
            self.files.export_animation()  # it tells the user why there is nothing to animate
            return None
        dialog = AnimationDialog(
            keys,
            lambda: self.editor.appearance_job(self.doc.appearance, photo),
            self.render_service,
            AnimationOptions(
                int(self.prefs.fps), self.prefs.frames_between, self._loop_animation, self._animation_suffix
            ),
            self,
            composite=lambda poses: self.composite_view.export_job(photo, poses, PREVIEW_SIDE * 2),
        )
        self.animation_dialog = dialog  # tests and the screenshot script reach it here
        dialog.accepted.connect(lambda: self._export_animation(dialog.options()))
        dialog.open()
        return dialog

    def _export_animation(self, options: AnimationOptions) -> None:
        self.prefs.fps, self.prefs.frames_between = float(options.fps), options.frames_between
        self.prefs.save()
        self._loop_animation, self._animation_suffix = options.loop, options.suffix
        self.files.export_animation(loop=options.loop, suffix=options.suffix)

    def show_preferences(self) -> None:
        from vunet_studio.renderer import default_checkpoint

        dialog = PreferencesDialog(self.prefs, default_checkpoint(), self)
        if dialog.exec():
            self.apply_preferences(dialog.preferences())

    @staticmethod
    def _estimator_factory(prefs: settings.Preferences) -> EstimatorFactory:
        return default_estimator_factory(prefs.device, prefs.estimator, prefs.pose_checkpoint)

    def apply_preferences(self, prefs: settings.Preferences) -> None:
        reload = (prefs.checkpoint, prefs.device) != (self.prefs.checkpoint, self.prefs.device)
        if (prefs.estimator, prefs.pose_checkpoint, prefs.device) != (
            self.prefs.estimator, self.prefs.pose_checkpoint, self.prefs.device
        ):  # fmt: skip
            self.finder.set_factory(self._estimator_factory(prefs))
        self.prefs.__dict__.update(prefs.__dict__)  # controllers share this object
        self.prefs.save()
        self.files.autosaver.set_interval(prefs.autosave_s)
        if reload:
            self.load_engine()

    def show_help(self) -> None:
        QMessageBox.information(
            self,
            "Keys and mouse",
            "Drag a joint to move it; drag a bone or Shift+drag a joint to move the whole skeleton.\n"
            "Wheel: zoom under the cursor. Drag the background or use the middle button: pan.\n"
            "H: hide/show the joint under the cursor. Arrows: nudge the selected joint (Shift: ×10).\n"  # noqa: RUF001 - a multiplication sign
            "M: mirror. K: add keyframe. Ctrl+R: shuffle appearance. Ctrl+0: fit. Ctrl+Y: redo.\n"
            "Photos: click one to pick it for Use its look / Copy its pose; double-click or Enter edits it.\n"
            "Keyframes: double-click or Enter puts a keyframe's pose on the photo; Delete removes it.\n"
            "Right-click the canvas or a photo for more.",
        )

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = settings.recent_files()
        for path in recent:
            act = self.recent_menu.addAction(Path(path).name)
            act.setToolTip(path)
            act.triggered.connect(lambda _=False, p=path: self.files.open_paths([p]))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self._clear_recent)

    def _clear_recent(self) -> None:
        settings.clear_recent()
        self._rebuild_recent()

    # --- window state ------------------------------------------------------------------
    def _update_title(self, *_: object) -> None:
        name = self.doc.path.name if self.doc.path else "Untitled"
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(self.doc.is_dirty())

    def _restore_layout(self) -> None:
        s = QSettings()
        geometry, state = s.value("window/geometry"), s.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
            # Saved on a bigger monitor, the window would hang off this one's edges.
            room = self.screen().availableGeometry()
            if not self.isMaximized() and not room.contains(self.frameGeometry()):
                self.resize(fitted(self.size(), room.size()))
                self.move(room.topLeft())
        if isinstance(state, QByteArray):
            self.restoreState(state)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    def _save_layout(self) -> None:
        s = QSettings()
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            # Let the drag source finish before dialogs or long loads start.
            QTimer.singleShot(0, lambda: self.files.open_paths(paths))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._terminating:
            # Told to stop (SIGTERM): nobody can answer a prompt, so unsaved work stays in
            # the recovery file, brought up to date, and the next start offers it back.
            if self.doc.is_dirty():
                self.files.autosaver.save_now(REASON_TERMINATED)
            else:
                self.files.autosaver.discard()
        elif not self.files.maybe_save():
            event.ignore()
            return
        else:
            self.files.autosaver.discard()  # a clean exit: nothing to recover next time
        self._save_layout()
        self.shutdown()
        event.accept()

    def terminate(self) -> bool:
        """Close as a normal exit would, without prompts (the system asked us to stop)."""
        log.info("asked to stop: closing")
        self._terminating = True
        return self.close()

    def shutdown(self) -> None:
        self.files.autosaver.release()
        self.render_service.shutdown()
        self.finder.shutdown()
        self.scenes.shutdown()

    def window_icon(self) -> QIcon:
        return self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
