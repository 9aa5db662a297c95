"""The address a client's requests are counted by (the request limits, the staff sign-in throttle): its own
for IPv4, its network's for IPv6, where one address stands for little: a home line or a hosted server
holds a /64 of them at least, and a client may send each request from another (privacy addresses change
by themselves)."""

import ipaddress
from functools import lru_cache

from flask import request

IPV6_PREFIX = 64  # the smallest network handed to a line or a server (RFC 6177)


def counted_address() -> str:
    """The request's client, as `counted_as` names it: Flask-Limiter's key."""
    return counted_as(request.remote_addr or "127.0.0.1")


@lru_cache(maxsize=4096)
def counted_as(address: str) -> str:
    """An IPv4 address as it is (also one written in IPv6, ::ffff:192.0.2.1); an IPv6 address as its /64;
    anything else as given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        host_bits = 128 - IPV6_PREFIX
        return str(ipaddress.IPv6Network((int(ip) >> host_bits << host_bits, IPV6_PREFIX)))
    return str(ip)
