"""Drawing the atlas with PyVista/VTK (shared by the off-screen renderer and the GUI; no Qt)."""
