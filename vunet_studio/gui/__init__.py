"""VUNet Studio's PySide6 GUI: the only package that imports Qt.

Entry point: `vunet_studio.gui.app.main(argv)`.
"""
