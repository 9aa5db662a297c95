"""Which client a request is counted as by the request limits: an IPv4 address, or an IPv6 network."""

import ipaddress

from hypothesis import assume, given
from hypothesis import strategies as st

from clinic.client_address import IPV6_PREFIX, counted_as

ipv4 = st.ip_addresses(v=4)
# Not those that write an IPv4 address in IPv6 (::ffff:a.b.c.d), which are that IPv4 client.
ipv6 = st.ip_addresses(v=6).filter(lambda ip: ip.ipv4_mapped is None)


def network(ip: ipaddress.IPv6Address) -> ipaddress.IPv6Network:
    return ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False)


@given(ipv6, ipv6)
def test_two_ipv6_addresses_count_as_one_client_exactly_when_they_share_a_network(first, second):
    same = counted_as(str(first)) == counted_as(str(second))

    assert same == (network(first) == network(second))


@given(ipv6, st.integers(0, 2 ** (128 - IPV6_PREFIX) - 1))
def test_an_ipv6_client_changing_its_address_within_its_network_is_still_counted_as_one(address, host):
    moved = ipaddress.IPv6Address(int(network(address).network_address) | host)
    assume(moved.ipv4_mapped is None)  # ::/64 holds ::ffff:0:0/96, the IPv4 clients written in IPv6

    assert counted_as(str(moved)) == counted_as(str(address)) == counted_as(address.exploded.upper())


@given(ipv4, ipv4)
def test_every_ipv4_address_is_a_client_of_its_own_however_it_is_written(first, second):
    assert counted_as(str(first)) == counted_as(f"::ffff:{first}") == str(first)
    assert (counted_as(str(first)) == counted_as(str(second))) == (first == second)
