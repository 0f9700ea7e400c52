"""Retention and the audit log (DESIGN §9): what the city keeps, for how long, and who looked.

`audit.AuditLog` writes the web process's audit entries in the background; `retention` erases
finished campaigns' free texts and old audit entries (`safetynet privacy purge`, and once a day in
`safetynet serve`); `commands` holds `privacy purge` and `audit export`.
"""
