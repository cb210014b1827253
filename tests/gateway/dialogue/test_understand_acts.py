"""Dialogue acts, pick references, removals, residual text, the LLM merge rule."""

import asyncio

import pytest

from gateway_service.dialogue.llm_understand import merge, understand_with_llm
from gateway_service.dialogue.understand import DialogueContext
from gateway_service.dialogue.understanding import Act, FranchiseRef, HardConstraints, TitleRef, Understanding

PICKS = (6, 1, 2)  # Heat (1995), Toy Story (1995), Jumanji (1995)


@pytest.mark.parametrize("message, act, refs", [
    ("why the second one?", Act.FOLLOW_UP, [2]),
    ("why Heat?", Act.FOLLOW_UP, [1]),
    ("tell me about the third one", Act.FOLLOW_UP, [3]),
    ("what is the last one about?", Act.FOLLOW_UP, [3]),
    ("more like the second one", Act.MORE_LIKE_PICK, [2]),
    ("something else", Act.SOMETHING_ELSE, []),
    ("show me other options", Act.SOMETHING_ELSE, []),
    ("I've seen those", Act.MARK_SEEN, [1, 2, 3]),
    ("seen them all", Act.MARK_SEEN, [1, 2, 3]),
    ("already watched the first one", Act.MARK_SEEN, [1]),
    ("start over", Act.RESET, []),
    ("reset", Act.RESET, []),
    ("thanks!", Act.SMALLTALK, []),
    ("save the second one", Act.SAVE, [2]),
    ("can you add the first one to my watchlist?", Act.SAVE, [1]),
    ("put Jumanji on my list for later", Act.SAVE, [3]),
    ("save them all", Act.SAVE, [1, 2, 3]),
    ("remind me to watch the last one", Act.SAVE, [3]),
])
def test_acts(read, message, act, refs):
    u = read(message, picks=PICKS)
    assert u.act == act
    assert u.pick_refs == refs


def test_follow_up_does_not_move_the_taste(read):
    u = read("why the second one?", picks=PICKS)
    assert u.residual_text == "" and u.seeds.titles == []


def test_mark_seen_excludes_the_picks(read):
    u = read("I've seen those", picks=PICKS)
    assert {t.movie_id for t in u.constraints.exclude_titles} == set(PICKS)


def test_older_films_are_fine_removes_years(read):
    u = read("actually, older films are fine", picks=PICKS, active=HardConstraints(min_year=2000))
    assert u.act == Act.REFINE
    assert [r.slot for r in u.removals] == ["years"]


def test_now_for_the_adults_replaces_the_cap_with_a_floor(read):
    u = read("ok now something for the adults", picks=PICKS, active=HardConstraints(max_certification="PG"))
    assert u.act == Act.REFINE
    assert u.constraints.min_certification == "PG-13"
    assert "max_certification" in [r.slot for r in u.removals]


def test_horror_is_fine_drops_the_exclusion(read):
    u = read("horror is fine actually", picks=PICKS, active=HardConstraints(exclude_genres=["Horror"]))
    assert [(r.slot, r.value) for r in u.removals] == [("exclude_genres", "Horror")]


def test_residual_keeps_taste_words_only(read):
    u = read("something funny and heartwarming from the 90s, under 2 hours, not Titanic")
    assert "heartwarming" in u.residual_text and "funny" in u.residual_text
    for word in ("90s", "hours", "Titanic", "under"):
        assert word not in u.residual_text


def _u(**constraints) -> Understanding:
    return Understanding(constraints=HardConstraints(**constraints))


def test_merge_is_never_looser_than_the_rules():
    rules = _u(exclude_genres=["Horror"], max_certification="PG-13", max_runtime_min=100, include_genres=["Comedy"])
    llm = _u(exclude_genres=["Thriller"], max_certification="R", max_runtime_min=90, min_certification="G",
             include_genres=["Drama"])
    merged = merge(rules, llm, 0).constraints
    assert merged.exclude_genres == ["Horror", "Thriller"]
    assert merged.max_certification == "PG-13"
    assert merged.max_runtime_min == 90
    assert merged.include_genres == ["Comedy"]
    assert merged.min_certification == "G"


def test_the_llm_never_excludes_a_title_the_rules_read_as_wanted():
    # the real 0.5B model read "something like Toy Story for a family night, nothing scary" as "not Toy Story"
    toy_story = TitleRef(movie_id=1, title="Toy Story")
    rules = _u(exclude_genres=["Horror"])
    rules.seeds.titles.append(toy_story)
    llm = _u(exclude_titles=[toy_story, TitleRef(movie_id=6, title="Heat")],
             exclude_franchises=[FranchiseRef(name="Toy Story", movie_ids=[1, 3114, 78499])])
    merged = merge(rules, llm, 0)
    assert [t.movie_id for t in merged.seeds.titles] == [1]
    assert [t.movie_id for t in merged.constraints.exclude_titles] == [6]  # the LLM's other exclusion stands
    assert merged.constraints.exclude_franchises == []


def test_merge_takes_llm_positives_when_rules_have_none():
    llm = _u(include_genres=["Drama"])
    llm.seeds.titles.append(TitleRef(movie_id=1, title="Toy Story"))
    merged = merge(_u(), llm, 0)
    assert merged.constraints.include_genres == ["Drama"]
    assert [t.movie_id for t in merged.seeds.titles] == [1]


class _FakeResult:
    def __init__(self, ok, data=None, failure=""):
        self.ok, self.data, self.failure = ok, data, failure


class _FakeClient:
    def __init__(self, result):
        self.result = result
        self.calls = []

    async def complete_json(self, use, messages, schema, timeout_s=None, max_tokens=None):
        self.calls.append((use, messages, schema))
        return self.result


def _answer(**overrides):
    data = {"act": "recommend", "include_genres": [], "exclude_genres": [], "max_certification": "",
            "min_certification": "", "max_runtime_min": 0, "min_runtime_min": 0, "min_year": 0, "max_year": 0,
            "language": "", "exclude_titles": [], "seed_titles": [], "exclude_franchises": [], "pick_refs": [],
            "taste_text": "", "avoid_text": ""}
    data.update(overrides)
    return data


def test_llm_titles_are_relinked_and_unknown_ones_reported(resources):
    client = _FakeClient(_FakeResult(True, _answer(seed_titles=["hot fuzz", "Not A Real Film Xyz"],
                                                   exclude_genres=["Horror"])))
    ctx = DialogueContext(resources=resources)
    u, by, fallback = asyncio.run(understand_with_llm("something in the style of that Simon Pegg cop comedy", ctx,
                                                      client))
    assert by == "rules+llm" and fallback is None
    assert [t.title for t in u.seeds.titles] == ["Hot Fuzz"]
    assert u.unresolved_titles == [], "the model's unlinkable guess is not echoed back as the person's words"
    assert u.constraints.exclude_genres == [], "nothing in the message is a cue for Horror"


def test_an_unlinked_title_the_person_wrote_is_reported(resources):
    client = _FakeClient(_FakeResult(True, _answer(seed_titles=["Zorblax Returns"])))
    u, _, _ = asyncio.run(understand_with_llm("something like Zorblax Returns", DialogueContext(resources=resources),
                                              client))
    assert "Zorblax Returns" in u.unresolved_titles


def test_llm_exclusions_the_person_never_said_are_dropped(resources):
    # recorded from the real 0.5B model: it answered a Toy Story request with a reset and "no Marvel"
    client = _FakeClient(_FakeResult(True, _answer(act="reset", exclude_franchises=["no Marvel"],
                                                   exclude_titles=["Alien"], exclude_genres=["Horror"])))
    message = "Hi! I'm after something like Toy Story for a family night, nothing scary"
    u, by, _ = asyncio.run(understand_with_llm(message, DialogueContext(resources=resources), client))
    assert by == "rules+llm"
    assert u.act == Act.RECOMMEND, "the rules read a request: the model's reset must not wipe it"
    assert [t.movie_id for t in u.seeds.titles] == [1]
    assert u.constraints.exclude_franchises == [] and u.constraints.exclude_titles == []
    assert "Horror" in u.constraints.exclude_genres
    assert u.unresolved_titles == []


def test_llm_exclusions_the_person_said_are_kept(resources):
    client = _FakeClient(_FakeResult(True, _answer(exclude_titles=["Alien"])))
    u, _, _ = asyncio.run(understand_with_llm("a space movie, just not Alien please",
                                              DialogueContext(resources=resources), client))
    assert 1214 in [t.movie_id for t in u.constraints.exclude_titles]


@pytest.mark.parametrize("llm_act", ["reset", "smalltalk", "follow_up"])
def test_the_llm_act_never_overrides_a_request_the_rules_read(llm_act):
    rules = _u(exclude_genres=["Horror"])
    merged = merge(rules, Understanding(act=Act(llm_act)), 3)
    assert merged.act == Act.RECOMMEND and merged.constraints.exclude_genres == ["Horror"]


def test_the_llm_act_applies_when_the_rules_read_nothing():
    assert merge(Understanding(), Understanding(act=Act.SOMETHING_ELSE), 3).act == Act.SOMETHING_ELSE
    assert merge(Understanding(), Understanding(act=Act.RESET), 3).act == Act.RECOMMEND, "only words reset"


def test_llm_failure_falls_back_to_rules(resources):
    client = _FakeClient(_FakeResult(False, failure="timeout: 6.0 s"))
    u, by, fallback = asyncio.run(understand_with_llm("no horror", DialogueContext(resources=resources), client))
    assert by == "rules" and fallback == "timeout: 6.0 s"
    assert u.constraints.exclude_genres == ["Horror"]


def test_no_llm_configured(resources):
    u, by, fallback = asyncio.run(understand_with_llm("no horror", DialogueContext(resources=resources), None))
    assert by == "rules" and fallback == "not configured"
    assert u.constraints.exclude_genres == ["Horror"]


def test_a_question_about_a_pick_sets_no_constraint(read):
    u = read("is the first one scary?", picks=PICKS)
    assert u.act == Act.FOLLOW_UP and u.pick_refs == [1]
    assert u.constraints == HardConstraints() and u.seeds.titles == []


def test_merge_adds_nothing_to_a_follow_up():
    rules = Understanding(act=Act.FOLLOW_UP, pick_refs=[2])
    llm = _u(exclude_genres=["Horror"])
    llm.residual_text = "scary"
    merged = merge(rules, llm, 3)
    assert merged.act == Act.FOLLOW_UP and merged.constraints == HardConstraints() and merged.residual_text == ""


@pytest.mark.parametrize("message, name, field", [
    ("nothing with Tom Cruise", "Tom Cruise", "exclude_people"),
    ("no Adam Sandler movies please", "Adam Sandler", "exclude_people"),
    ("something starring Tom Hanks", "Tom Hanks", "require_people"),
])
def test_people(read, message, name, field):
    assert getattr(read(message).constraints, field) == [name]


def test_llm_constraints_without_a_cue_in_the_message_are_dropped(resources):
    # recorded from the real 0.5B model on this message: include Action, exclude Thriller/Sci-Fi, the 1990s
    client = _FakeClient(_FakeResult(True, _answer(include_genres=["Action"], exclude_genres=["Thriller", "Sci-Fi"],
                                                   min_year=1990, max_year=1999, max_certification="PG",
                                                   min_certification="PG")))
    message = "Hi! I'm after something like Toy Story for a family night, nothing scary"
    u, _, _ = asyncio.run(understand_with_llm(message, DialogueContext(resources=resources), client))
    c = u.constraints
    assert c.include_genres == [] and "Sci-Fi" not in c.exclude_genres
    assert c.min_year is None and c.max_year is None
    assert "Thriller" in c.exclude_genres, "'scary' is a cue for Thriller"
    assert c.max_certification == "PG", "'family' is an audience cue"
    assert c.min_certification is None, "a floor needs an adult word"


@pytest.mark.parametrize("message, data, kept", [
    ("something that won't give the kids nightmares", {"exclude_genres": ["Horror"]}, "exclude_genres"),
    ("a film from when my parents were young, the seventies maybe", {"min_year": 1970}, "min_year"),
    ("nothing that takes all evening, an hour and a half tops", {"max_runtime_min": 90}, "max_runtime_min"),
    ("something with subtitles would be nice, Korean ideally", {"language": "ko"}, "language"),
])
def test_llm_constraints_with_a_cue_are_kept(resources, message, data, kept):
    client = _FakeClient(_FakeResult(True, _answer(**data)))
    u, _, _ = asyncio.run(understand_with_llm(message, DialogueContext(resources=resources), client))
    assert getattr(u.constraints, kept), (kept, u.constraints)


@pytest.mark.parametrize("message", ["keep it under two hours", "a list of good heist films", "save me from boredom",
                                     "add some comedy to it"])
def test_words_near_saving_are_not_a_save(read, message):
    assert read(message, picks=PICKS).act != Act.SAVE


def test_a_save_changes_no_constraint_and_no_taste(read):
    u = read("save the second one", picks=PICKS)
    assert u.constraints == HardConstraints() and u.residual_text == "" and u.seeds.titles == []
