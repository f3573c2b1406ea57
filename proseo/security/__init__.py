"""Users, roles and API tokens (:mod:`.accounts`) and the principal every check uses
(:mod:`.principal`)."""
