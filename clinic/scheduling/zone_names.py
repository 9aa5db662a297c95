"""The names people know time zones by: "UK time", "New York", "Knox, Indiana" (the IANA name stays what
is stored)."""

# Common zones, by the name people know them by, and other words they may search for.
COMMON: dict[str, tuple[str, str]] = {
    "Europe/London": ("UK time", "United Kingdom Britain England Scotland Wales Northern Ireland GB"),
    "Europe/Dublin": ("Ireland", ""),
    "Europe/Lisbon": ("Portugal", ""),
    "Europe/Madrid": ("Spain", ""),
    "Europe/Paris": ("France", ""),
    "Europe/Brussels": ("Belgium", ""),
    "Europe/Amsterdam": ("Netherlands", "Holland"),
    "Europe/Berlin": ("Germany", "Deutschland"),
    "Europe/Zurich": ("Switzerland", ""),
    "Europe/Rome": ("Italy", ""),
    "Europe/Copenhagen": ("Denmark", ""),
    "Europe/Oslo": ("Norway", ""),
    "Europe/Stockholm": ("Sweden", ""),
    "Europe/Warsaw": ("Poland", ""),
    "Europe/Helsinki": ("Finland", ""),
    "Europe/Bucharest": ("Romania", ""),
    "Europe/Athens": ("Greece", ""),
    "Europe/Kyiv": ("Ukraine", "Kiev"),
    "Europe/Istanbul": ("Turkey", "Türkiye"),
    "Europe/Moscow": ("Moscow", "Russia"),
    "Africa/Accra": ("Ghana", ""),
    "Africa/Lagos": ("Nigeria", ""),
    "Africa/Cairo": ("Egypt", ""),
    "Africa/Johannesburg": ("South Africa", ""),
    "Africa/Nairobi": ("Kenya", ""),
    "Asia/Jerusalem": ("Israel", ""),
    "Asia/Riyadh": ("Saudi Arabia", ""),
    "Asia/Dubai": ("United Arab Emirates", "UAE"),
    "Asia/Karachi": ("Pakistan", ""),
    "Asia/Kolkata": ("India", "Calcutta Delhi Mumbai"),
    "Asia/Dhaka": ("Bangladesh", ""),
    "Asia/Bangkok": ("Thailand", ""),
    "Asia/Singapore": ("Singapore", ""),
    "Asia/Hong_Kong": ("Hong Kong", ""),
    "Asia/Shanghai": ("China", "Beijing"),
    "Asia/Manila": ("Philippines", ""),
    "Asia/Tokyo": ("Japan", ""),
    "Australia/Perth": ("Perth", "Australia Western"),
    "Australia/Sydney": ("Sydney", "Australia Melbourne Canberra"),
    "Pacific/Auckland": ("New Zealand", ""),
    "Pacific/Honolulu": ("Honolulu", "Hawaii United States USA"),
    "America/Anchorage": ("Anchorage", "Alaska United States USA"),
    "America/Los_Angeles": ("Los Angeles", "United States USA Pacific California"),
    "America/Phoenix": ("Phoenix", "United States USA Arizona"),
    "America/Denver": ("Denver", "United States USA Mountain"),
    "America/Chicago": ("Chicago", "United States USA Central"),
    "America/Mexico_City": ("Mexico City", "Mexico"),
    "America/New_York": ("New York", "United States USA Eastern"),
    "America/Toronto": ("Toronto", "Canada Ontario"),
    "America/Halifax": ("Halifax", "Canada Atlantic"),
    "America/Jamaica": ("Jamaica", ""),
    "America/Sao_Paulo": ("São Paulo", "Brazil"),
    "America/Argentina/Buenos_Aires": ("Buenos Aires", "Argentina"),
    "UTC": ("UTC", "Universal Coordinated GMT"),
}
_CONTINENTS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Arctic",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def friendly_name(name: str) -> str:
    """A zone as people know it: UK time, New York, "Knox, Indiana", "US Eastern" for the old US/Eastern."""
    if name in COMMON:
        return COMMON[name][0]
    area, _, city = name.replace("_", " ").rpartition("/")
    top, _, region = area.partition("/")
    if region:
        return f"{city}, {region}"
    return city if not area or top in _CONTINENTS else f"{top} {city}"
