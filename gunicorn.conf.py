"""gunicorn's settings for `gunicorn wsgi:app`, which reads this file from the working folder.

The access log names the path without its query string: a manage or companion link mailed before their
tokens moved after "#" (`/c/<reference>?t=…`) still arrives with the token in the query, and query
strings may carry other personal data.
"""

# gunicorn's default format, with the path alone (%(U)s) where it logged the request line (%(r)s).
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'
