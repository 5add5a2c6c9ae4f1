"""The programs: one module per ``sipperc`` sub-command, wiring the layers together.

``keyserver`` and ``distributor`` are the PERC servers (also ``twist`` plugins, through
``twist_plugins``); ``serving`` holds what they share.

May import every layer; no layer imports it.
"""
