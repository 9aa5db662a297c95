"""Reports for the admin area: figures per ISO week or day in the hospital's time zone, aggregated in SQL.

`weeks` holds what every report shares (the period, its weeks and days, the department filter) and `sql`
the SQL they compute with (Unix seconds, nearest-rank percentiles); each report is one module returning
dataclasses (`consultations`: bookings, cancellations, no-shows, utilisation and lead time per week;
`walk_in`: callers joined, taken and abandoned, and their waits, per queue and day), and `exports` turns
their tables into CSV. A further report is a module of its own beside them, taking the same
`ReportFilter`, with its tables added to `exports.TABLES`.
"""
