"""Words for names from the data: the one place an event name becomes a plural or a label.

An event is named in the data's own words (``search``, ``add_to_cart``, ``purchase``); a page
says "searches per user", never "searchs per user". English plurals of the nouns event names end
in, with no dictionary: names that are not nouns ("onboarding_complete") read acceptably either way.
"""

from __future__ import annotations

import re

__all__ = ["per_user", "plural"]

_SIBILANT = re.compile(r"(s|x|z|ch|sh)$", re.IGNORECASE)
_CONSONANT_Y = re.compile(r"[^aeiou]y$", re.IGNORECASE)


def plural(name: str) -> str:
    """The plural of a name's last word: search -> searches, category_query -> category_queries,
    add_to_cart -> add_to_carts, page_view -> page_views; a name ending in no letter
    (level_2) becomes "level_2 events"."""
    if not name:
        return name
    if not name[-1].isalpha():
        return f"{name} events"
    if _SIBILANT.search(name):
        return name + "es"
    if _CONSONANT_Y.search(name):
        return name[:-1] + "ies"
    return name + "s"


def per_user(event: str) -> str:
    """A count metric's name: "searches per user"."""
    return f"{plural(event)} per user"
