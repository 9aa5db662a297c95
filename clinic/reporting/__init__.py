"""Reports for the admin area: figures per ISO week in the hospital's time zone, aggregated in SQL.

`weeks` holds what every report shares (the period, its weeks, the department filter); each report is
one module returning dataclasses (`consultations`: bookings, cancellations, no-shows, utilisation and
lead time), and `exports` turns their tables into CSV. A further report (e.g. walk-in queue figures
per day) is a module of its own beside `consultations`, taking the same `ReportFilter`, with its tables
added to `exports.TABLES`.
"""
