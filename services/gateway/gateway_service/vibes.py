"""Vibe tags offered during onboarding.

A vibe's ``description`` is what gets embedded: the profile tier embeds the vibes as text, and a
short descriptive phrase lands closer to the right movies than a one-word tag. Vibes a client
sends that are not in this list are passed on as written (they are free text too).
"""

from __future__ import annotations

from gateway_service.schemas import Vibe

VIBES: tuple[Vibe, ...] = tuple(Vibe(id=i, label=label, description=description) for i, label, description in (
    ("feel-good", "Feel-good", "uplifting, warm, funny, happy ending"),
    ("cozy", "Cozy", "gentle, comforting, small-scale, charming"),
    ("mind-bending", "Mind-bending", "twisty, puzzling plot about reality, memory or time"),
    ("dark", "Dark", "bleak, morally grey, violent, noir"),
    ("thrilling", "Edge-of-your-seat", "suspense, tension, chases, high stakes"),
    ("epic", "Epic", "grand adventure, sweeping battles, larger-than-life heroes"),
    ("romantic", "Romantic", "love story, chemistry, heartfelt relationships"),
    ("funny", "Laugh-out-loud", "comedy, witty, absurd, hilarious"),
    ("thought-provoking", "Thought-provoking", "philosophical, social issues, ideas that stay with you"),
    ("tearjerker", "Tearjerker", "emotional, moving drama, grief and hope"),
    ("spooky", "Spooky", "horror, supernatural, haunted, creepy"),
    ("family", "Family night", "animated, kids and parents together, wholesome adventure"),
    ("true-story", "True story", "based on real events, biography, history"),
    ("stylish", "Stylish", "striking visuals, cool soundtrack, auteur director"),
    ("space", "Space & sci-fi", "space travel, aliens, robots, the future"),
    ("crime", "Heists & crime", "gangsters, heists, detectives, crime world"),
))

_BY_ID = {vibe.id: vibe for vibe in VIBES}


def vibe_texts(vibes: list[str]) -> list[str]:
    """The text to embed for each vibe: a known tag's description, anything else as written."""
    out = []
    for vibe in vibes:
        known = _BY_ID.get(vibe.strip().lower())
        out.append(f"{known.label}: {known.description}" if known else vibe.strip())
    return out
