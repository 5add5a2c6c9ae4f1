"""sipperc's ``twist`` plugins (perc-keyserver, perc-distributor, perc-focus): see twist_plugins.

This directory must have no ``__init__.py``: Twisted gathers every ``twisted/plugins`` on the
Python path into its own plugin package.
"""

from sipperc.apps.twist_plugins import distributor, focus, keyserver

__all__ = ["distributor", "focus", "keyserver"]
