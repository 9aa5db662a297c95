"""How long until a consultation starts, in the plain words its waiting room shows."""

from datetime import timedelta


def duration_words(delta: timedelta) -> str:
    """A wait to the minute, largest units first: "2 days 3 hours", "1 hour 5 minutes", "4 minutes".

    `clinic/static/waiting_room.js` words the same wait the same way as it counts down.
    """
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "less than a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        parts = [(days, "day"), (hours, "hour")]
    elif hours:
        parts = [(hours, "hour"), (minutes, "minute")]
    else:
        parts = [(minutes, "minute")]
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in parts if n)
