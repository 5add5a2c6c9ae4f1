"""The programs: one module per ``sipperc`` sub-command, wiring the layers together.

May import every layer; no layer imports it.
"""
