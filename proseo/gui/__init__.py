"""The mission operator web GUI (server-rendered pages with htmx), served by ``proseo serve``
beside the REST API (:mod:`proseo.gui.app`)."""
