"""The PySide6 operator console."""
