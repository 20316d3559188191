"""What a person sees (front doors): the window (`window.Viewer`), what it draws (`scene`, `hud`), what it
writes (`video`), and the commands built on it: `watch` (a run, live), `replay` (a checkpoint driving), `play`
(drive yourself).
"""
