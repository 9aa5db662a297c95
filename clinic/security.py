"""Security headers on every response, and whose address a request comes from behind reverse proxies."""

from flask import Flask, Response
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def register(app: Flask) -> None:
    _trust_proxies(app, app.config["TRUSTED_PROXIES"])
    hsts = app.config["HSTS_SECONDS"]

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        if hsts:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
        return response


def _trust_proxies(app: Flask, proxies: int) -> None:
    # request.remote_addr (rate limits, sign-in throttle, audit) becomes the address the nearest of
    # `proxies` proxies saw; without trusted proxies X-Forwarded-For is anyone's to forge, so ignored.
    # X-Forwarded-Host is not trusted: links in mails come from PUBLIC_BASE_URL, never from the request.
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
