"""The dialogue state: how a message's Understanding folds into the session (pure, no services).

The Understandings here are written by hand (what the understanding step would return for the message
in the comment), so these tests pin the folding rules alone.
"""

from __future__ import annotations

from gateway_helpers import catalog

from gateway_service.dialogue.plan import PeopleIndex, build_filter, resolve_relative
from gateway_service.dialogue.reply import chips, template_reply, understood_line
from gateway_service.dialogue.state import DialogueState, ShownPick, fold
from gateway_service.dialogue.understanding import (
    Act,
    FranchiseRef,
    HardConstraints,
    RelativeConstraint,
    Removal,
    Seeds,
    TitleRef,
    Understanding,
)
from movierec_catalog.filter import Filter

TITANIC = TitleRef(movie_id=1721, title="Titanic", year=1997)
HEAT = TitleRef(movie_id=6, title="Heat", year=1995)


def _state(**constraints) -> DialogueState:
    state = DialogueState.new("u_test")
    state.constraints = HardConstraints(**constraints)
    return state


def _picks(*ids: int) -> list[ShownPick]:
    return [ShownPick(movie_id=i, title=f"Movie {i}", year=2000) for i in ids]


def test_constraints_persist_until_changed_and_a_slot_is_replaced():
    state = _state()
    fold(state, Understanding(constraints=HardConstraints(min_year=1990, max_year=1999, exclude_genres=["Horror"])))
    fold(state, Understanding(constraints=HardConstraints(max_runtime_min=94)))  # "under 95 minutes"
    c = state.constraints
    assert (c.min_year, c.max_year, c.max_runtime_min, c.exclude_genres) == (1990, 1999, 94, ["Horror"])
    fold(state, Understanding(constraints=HardConstraints(min_year=2011)))  # "after 2010": the year range is one slot
    assert (state.constraints.min_year, state.constraints.max_year) == (2011, None)
    fold(state, Understanding(constraints=HardConstraints(max_runtime_min=120)))
    assert state.constraints.max_runtime_min == 120


def test_exclusions_accumulate_and_a_genre_asked_for_leaves_the_exclusions():
    state = _state()
    fold(state, Understanding(constraints=HardConstraints(exclude_genres=["Horror"], exclude_titles=[TITANIC])))
    fold(state, Understanding(constraints=HardConstraints(exclude_genres=["Thriller"], exclude_titles=[HEAT])))
    assert state.constraints.exclude_genres == ["Horror", "Thriller"]
    assert [t.movie_id for t in state.constraints.exclude_titles] == [1721, 6]
    fold(state, Understanding(constraints=HardConstraints(include_genres=["Thriller"])))  # "ok, a thriller"
    assert state.constraints.exclude_genres == ["Horror"] and state.constraints.include_genres == ["Thriller"]
    fold(state, Understanding(constraints=HardConstraints(exclude_genres=["Thriller"])))
    assert state.constraints.include_genres == [] and "Thriller" in state.constraints.exclude_genres


def test_a_new_floor_drops_a_contradicting_cap_and_removals_drop_slots():
    state = _state(max_certification="PG", exclude_genres=["Horror"], min_year=1990, max_year=1999)
    # "ok now something for the adults": the cap removed, a floor set
    fold(state, Understanding(act=Act.REFINE, removals=[Removal(slot="max_certification")],
                              constraints=HardConstraints(min_certification="PG-13", exclude_genres=["Children"])))
    c = state.constraints
    assert (c.min_certification, c.max_certification) == ("PG-13", None)
    assert c.exclude_genres == ["Horror", "Children"]
    fold(state, Understanding(constraints=HardConstraints(max_certification="G")))  # a cap below the floor wins
    assert (state.constraints.min_certification, state.constraints.max_certification) == (None, "G")
    # "actually, older films are fine"
    fold(state, Understanding(act=Act.REMOVE_CONSTRAINT, removals=[Removal(slot="years")]))
    assert (state.constraints.min_year, state.constraints.max_year) == (None, None)
    fold(state, Understanding(act=Act.REMOVE_CONSTRAINT, removals=[Removal(slot="exclude_genres", value="horror")]))
    assert state.constraints.exclude_genres == ["Children"]


def test_reset_clears_then_applies_the_message():
    state = _state(exclude_genres=["Horror"], max_runtime_min=90)
    state.seeds = [HEAT]
    state.passed_movie_ids = [5, 7]
    # "reset. family friendly please, a comedy"
    fold(state, Understanding(act=Act.RESET, constraints=HardConstraints(
        max_certification="PG", exclude_genres=["Horror"], include_genres=["Comedy"])))
    c = state.constraints
    assert (c.max_runtime_min, c.max_certification, c.include_genres) == (None, "PG", ["Comedy"])
    assert state.seeds == [] and state.passed_movie_ids == []


def test_pick_references_more_like_something_else_and_mark_seen():
    state = _state()
    state.last_picks = _picks(11, 12, 13)
    folded = fold(state, Understanding(act=Act.MORE_LIKE_PICK, pick_refs=[2]))  # "more like the second one"
    assert [p.movie_id for p in folded.referenced] == [12]
    assert [t.movie_id for t in state.seeds] == [12]
    fold(state, Understanding(act=Act.SOMETHING_ELSE))
    assert state.passed_movie_ids == [11, 12, 13]
    state.last_picks = _picks(21, 22)
    folded = fold(state, Understanding(act=Act.MARK_SEEN))  # "I've seen those"
    assert [p.movie_id for p in folded.newly_seen] == [21, 22]
    assert state.passed_movie_ids == [11, 12, 13, 21, 22]
    folded = fold(state, Understanding(act=Act.FOLLOW_UP, pick_refs=[5]))
    assert folded.referenced == [] and "no number 5" in folded.notes[0]


def test_a_follow_up_changes_nothing_and_finds_a_pick_by_its_title():
    state = _state(exclude_genres=["Horror"])
    state.last_picks = [ShownPick(movie_id=6, title="Heat", year=1995), *_picks(12)]
    before = state.model_dump()
    # "why Heat?" — the title linked, even if the understanding also saw it as a seed
    folded = fold(state, Understanding(act=Act.FOLLOW_UP, seeds=Seeds(titles=[HEAT])))
    assert [p.movie_id for p in folded.referenced] == [6]
    assert state.model_dump() == before


def test_relative_constraints_resolve_against_the_reference_facts():
    titanic = catalog().get(1721)
    # "loved Titanic but it dragged"
    u = Understanding(relative=[RelativeConstraint(kind="shorter", reference=TITANIC)])
    resolved, notes = resolve_relative(u, catalog())
    assert resolved.constraints.max_runtime_min == titanic.runtime_min - 1 and notes == []
    assert [t.movie_id for t in resolved.seeds.titles] == [1721]
    older, _ = resolve_relative(Understanding(relative=[RelativeConstraint(kind="older", reference=HEAT)]), catalog())
    assert older.constraints.max_year == 1994
    unknown = next(m for m in (catalog().get(i) for i in range(1, 200000)) if m is not None and m.runtime_min is None)
    ref = TitleRef(movie_id=unknown.movie_id, title=unknown.title)
    resolved, notes = resolve_relative(Understanding(relative=[RelativeConstraint(kind="shorter", reference=ref)]),
                                       catalog())
    assert resolved.constraints.max_runtime_min is None, "an unknown fact is never invented"
    assert notes and unknown.title in notes[0]


def test_the_filter_excludes_seeds_franchises_people_and_passed_picks():
    state = _state(exclude_franchises=[FranchiseRef(name="Toy Story", movie_ids=[1, 3114, 78499])],
                   exclude_people=["Michael Mann"], max_certification="PG")
    state.seeds = [HEAT]
    state.passed_movie_ids = [858]
    people = PeopleIndex(catalog())
    hard = build_filter(state, seen={296}, people=people)
    assert {1, 3114, 78499, 6, 858, 296} <= hard.exclude_movie_ids
    mann = people.movies_of("michael mann")
    assert mann and mann <= hard.exclude_movie_ids
    assert hard.max_certification == "PG"
    hanks = _state(require_people=["Tom Hanks"])
    only = build_filter(hanks, seen=set(), people=people).only_movie_ids
    assert 1 in only and all("Tom Hanks" in catalog().get(i).cast or catalog().get(i).director == "Tom Hanks"
                             for i in only)


def test_chips_and_the_reply_say_what_was_understood():
    state = _state(exclude_genres=["Horror"], max_runtime_min=94, max_certification="PG",
                   exclude_titles=[TITANIC])
    labels = [c.label for c in chips(state)]
    assert labels == ["no Horror", "at most 94 min", "rated PG or milder", "not Titanic (1997)"]
    assert understood_line(state) == "no Horror · at most 94 min · rated PG or milder · not Titanic (1997)"
    text = template_reply([], state, filled=False, unresolved=["Foobar Quest"], notes=[])
    assert "I couldn't find a movie called “Foobar Quest”." in text and "no Horror" in text


def test_the_session_remembers_liked_titles_and_people_until_excluded_or_reset():
    state = _state()
    # "I loved Heat" … "and Titanic, I'm a big Tom Hanks fan"
    fold(state, Understanding(act=Act.RECOMMEND, seeds=Seeds(titles=[HEAT])))
    fold(state, Understanding(act=Act.RECOMMEND, seeds=Seeds(titles=[TITANIC], people=["Tom Hanks"])))
    assert state.seeds == [TITANIC], "the seeds are this request's titles"
    assert state.liked_titles == [HEAT, TITANIC] and state.liked_people == ["Tom Hanks"]
    # "not Heat though" / "no Tom Hanks": an exclusion ends the liking
    fold(state, Understanding(act=Act.REFINE, constraints=HardConstraints(exclude_titles=[HEAT],
                                                                          exclude_people=["Tom Hanks"])))
    assert state.liked_titles == [TITANIC] and state.liked_people == []
    fold(state, Understanding(act=Act.RESET))
    assert state.liked_titles == [] and state.liked_people == []


def test_liked_titles_are_capped_to_the_most_recent():
    from gateway_service.dialogue.state import LIKED_MAX

    state = _state()
    titles = [TitleRef(movie_id=i, title=f"Movie {i}", year=2000) for i in range(1, LIKED_MAX + 4)]
    for title in titles:
        fold(state, Understanding(act=Act.RECOMMEND, seeds=Seeds(titles=[title])))
    fold(state, Understanding(act=Act.RECOMMEND, seeds=Seeds(titles=[titles[-3]])))  # named again: most recent
    assert [t.movie_id for t in state.liked_titles] == [t.movie_id for t in [*titles[3:-3], *titles[-2:], titles[-3]]]
    assert len(state.liked_titles) == LIKED_MAX


def test_chat_sources_restrict_the_filter_and_keep_well_known_recent_films():
    import numpy as np

    from gateway_service.dialogue.sources import candidate_queries, well_known_ids, within
    from movierec_catalog.filter import Filter

    movies = catalog().movies
    pool = well_known_ids(catalog(), per_order=200)
    assert 200 <= len(pool) <= 600
    top_rated = int(movies.sort_values("ml_rating_count", ascending=False).movie_id.iloc[0])
    assert top_rated in pool
    latest = int(movies.year.max())
    recent = movies[(movies.year >= latest - 1) & movies.movie_id.isin(pool)]
    assert len(recent) > 0, "the per-year order keeps films of the last years"
    hard = Filter(exclude_movie_ids=frozenset({1}), include_genres=("Comedy",))
    restricted = within(hard, frozenset({1, 2, 3}))
    assert restricted.only_movie_ids == frozenset({2, 3}) and restricted.include_genres == ("Comedy",)
    assert within(Filter(only_movie_ids=frozenset({5})), frozenset({1, 2})) is None
    query = np.ones(4, dtype=np.float32)
    assert len(candidate_queries(hard, query, 20, frozenset({2}), frozenset())) == 2
    searches = candidate_queries(hard, query, 20, frozenset({2}), frozenset({3}))
    assert [k for _, k, _ in searches] == [20, 100, 10] and searches[2][2].only_movie_ids == frozenset({3})


def test_bounds_one_message_states_against_each_other_are_settled_with_a_note():
    # "a grown-up movie my 10-year-old can watch": the cap protects the child, the floor goes
    state = _state(exclude_genres=["Horror"])
    folded = fold(state, Understanding(constraints=HardConstraints(min_certification="PG-13", max_certification="PG")))
    assert (state.constraints.min_certification, state.constraints.max_certification) == (None, "PG")
    assert state.constraints.exclude_genres == ["Horror"]
    assert any("PG-13" in n and "PG or milder" in n for n in folded.notes)
    c = state.constraints  # the Filter retrieval gets validates (an impossible one is INVALID_ARGUMENT)
    Filter.from_proto(Filter(min_certification=c.min_certification, max_certification=c.max_certification).to_proto())
    # "after 2010 but before 2005" / "over 90 but no more than 80 minutes": either may be the slip
    state = _state(min_year=1990, max_year=1999)
    folded = fold(state, Understanding(constraints=HardConstraints(min_year=2011, max_year=2004,
                                                                   min_runtime_min=90, max_runtime_min=80)))
    c = state.constraints
    assert (c.min_year, c.max_year, c.min_runtime_min, c.max_runtime_min) == (1990, 1999, None, None)
    assert len(folded.notes) == 2 and all("say which one you meant" in n for n in folded.notes)


def test_bounds_that_can_hold_together_are_kept_without_a_note():
    state = _state()
    folded = fold(state, Understanding(constraints=HardConstraints(min_certification="PG", max_certification="PG-13",
                                                                   min_year=1990, max_year=1990)))
    assert (state.constraints.min_certification, state.constraints.max_certification) == ("PG", "PG-13")
    assert (state.constraints.min_year, state.constraints.max_year) == (1990, 1990)
    assert folded.notes == []
