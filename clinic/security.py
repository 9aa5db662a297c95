"""Security headers on every response, and whose address a request comes from behind reverse proxies."""

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# On every response that has not set its own (a download may set its Cache-Control, say).
HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
)


def register(app: Flask) -> None:
    _trust_proxies(app, app.config["TRUSTED_PROXIES"])
    hsts = app.config["HSTS_SECONDS"]
    wanted = HEADERS + ((("Strict-Transport-Security", f"max-age={hsts}"),) if hsts else ())
    # Names lowered once: each response is read once for the names it has, not searched per header.
    keyed = tuple((name.lower(), name, value) for name, value in wanted)

    @app.after_request
    def headers(response: Response) -> Response:
        present = {name.lower() for name, _ in response.headers}
        for key, name, value in keyed:
            if key not in present:
                response.headers.add(name, value)
        return response


def _trust_proxies(app: Flask, proxies: int) -> None:
    # request.remote_addr (rate limits, sign-in throttle, audit) becomes the address the nearest of
    # `proxies` proxies saw; without trusted proxies X-Forwarded-For is anyone's to forge, so ignored.
    # X-Forwarded-Host is not trusted: links in mails come from PUBLIC_BASE_URL, never from the request.
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
