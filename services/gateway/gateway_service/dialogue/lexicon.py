# ruff: noqa: E501  (word lists and patterns read best one group per line)
"""The words the rule-based reader knows: genres, tone, negation cues, clause boundaries, numbers,
languages, ordinals. Pure data plus tiny helpers; the meaning rules live in services/gateway/README.md
("Chat understanding") and are applied by :mod:`gateway_service.dialogue.rules`.

Keys are lowercase single tokens or space-joined token sequences (the reader's tokens: words with
inner hyphens/apostrophes kept, e.g. "sci-fi", "kid's").
"""

from __future__ import annotations

import re

# ---- genres ------------------------------------------------------------------------------------
# The fixed word → genre mapping of the chat contract. Only these words are hard genre constraints;
# every other adjective is tone (see TONE_WORDS).
GENRE_WORDS: dict[str, tuple[str, ...]] = {}


def _genre(genres: tuple[str, ...], *words: str) -> None:
    for word in words:
        GENRE_WORDS[word] = genres


_genre(("Horror",), "horror", "horrors", "horror movie", "zombie", "zombies", "slasher", "slashers", "gory", "gore",
       "blood", "bloody", "gruesome", "splatter")
_genre(("Thriller",), "thriller", "thrillers", "suspense", "suspenseful")
_genre(("War",), "war", "war movie", "war movies", "war film", "war films", "wartime")
_genre(("Musical",), "musical", "musicals", "singing")
_genre(("Animation",), "cartoon", "cartoons", "animated", "animation", "anime")
_genre(("Romance",), "romance", "romances", "romantic", "love story", "love stories")
_genre(("Comedy", "Romance"), "rom-com", "rom-coms", "romcom", "romcoms", "rom com", "rom coms", "romantic comedy", "romantic comedies")
_genre(("Comedy",), "funny", "comedy", "comedies", "comedic", "laugh", "laughs", "hilarious")
_genre(("Sci-Fi",), "sci-fi", "scifi", "science fiction", "science-fiction", "space")
_genre(("Documentary",), "documentary", "documentaries", "doc", "docs")
_genre(("Western",), "western", "westerns")
_genre(("Action",), "action", "fights", "fight", "fighting", "explosions", "shootouts")
_genre(("Crime",), "crime", "gangster", "gangsters", "mob", "mafia", "heist", "heists")
_genre(("Mystery",), "mystery", "mysteries", "whodunit", "whodunits", "whodunnit")
_genre(("Fantasy",), "fantasy", "magic", "dragons", "wizards")
_genre(("Children",), "kids movie", "kids movies", "kids' movie", "kid's movie", "children's", "kids film",
       "children's movie", "children's movies", "kiddie")
_genre(("Drama",), "drama", "dramas", "dramatic")
_genre(("Adventure",), "adventure", "adventures")
_genre(("Film-Noir",), "noir", "noirs", "film noir", "film noirs", "films noirs", "film-noir", "film-noirs")
# Fear words: negated ("nothing scary") they exclude Horror AND Thriller; asked for, Horror.
FEAR_WORDS = frozenset({"scary", "scarey", "frightening", "terrifying", "creepy", "spooky", "jump scares",
                        "jump-scares", "jumpscares", "jump scare", "horrifying", "scare", "scares"})
FEAR_GENRES = ("Horror", "Thriller")
GENRE_MAX_WORDS = 3

# Tone words: never a hard constraint; asked for they are vibes, negated they go to avoid_text.
TONE_WORDS = frozenset({
    "brutal", "violent", "violence", "sad", "depressing", "dark", "slow", "gritty", "bleak", "grim", "cheesy",
    "mushy", "sappy", "sentimental", "disturbing", "graphic", "intense", "heavy", "serious", "boring", "predictable",
    "cliche", "cliched", "sex", "nudity", "swearing", "profanity", "cursing", "tearjerker", "tearjerkers", "weird",
    "silly", "stupid", "dumb", "long", "light", "lighthearted", "light-hearted", "uplifting", "feel-good", "wholesome",
    "heartwarming", "cozy", "cosy", "twisty", "mind-bending", "epic", "thrilling", "exciting", "clever", "smart",
    "quirky", "emotional", "inspiring", "inspirational", "fun", "witty", "gentle", "happy", "cheerful", "tense",
    "gruesome", "upsetting", "melancholy", "pretentious", "artsy", "campy", "raunchy", "crude", "vulgar", "preachy",
    "superhero", "superheroes", "christmas", "holiday", "sports", "true story", "based on a true story",
})

# ---- negation ----------------------------------------------------------------------------------
# A cue opens a scope over the coordinated list that follows it (see rules.py). Multi-token cues
# are matched longest first.
NEGATION_CUES = (
    "no", "not", "nothing", "none", "without", "never", "avoid", "avoiding", "skip", "hate", "hates", "except",
    "nor", "neither", "isn't", "aren't", "wasn't", "no more", "not another", "anything but", "rather than",
    "other than", "instead of", "apart from", "besides", "excluding", "tired of", "sick of", "fed up with",
    "enough of", "not into", "not a fan of", "no fan of", "stay away from", "steer clear of", "spare me",
    "don't want", "dont want", "do not want", "don't like", "dont like", "do not like", "don't need",
    "don't love", "doesn't want", "can't stand", "cant stand", "cannot stand", "can't do", "can't handle",
    "don't feel like", "dislike", "detest", "loathe", "less of", "minus", "that's not", "that isn't", "not in the mood for",
    "don't do", "won't watch", "wouldn't watch", "don't wanna", "dont wanna", "rather avoid", "prefer to avoid",
    "rather not", "not really into", "allergic to", "ban", "forbid", "keep away from", "no to",
    "done with", "had enough of", "prefer not", "would rather not", "no thanks to",
)
# Negated verbs: an auxiliary + optional adverbs + a liking/watching verb is a cue ("I don't really
# watch horror", "we don't usually enjoy musicals", "I never really liked westerns").
NEGATING_AUXILIARIES = ("don't", "dont", "do not", "doesn't", "doesnt", "does not", "didn't", "did not", "won't",
                        "wouldn't", "can't", "cant", "cannot", "can not", "never", "rarely", "seldom", "hardly",
                        "no longer")
CUE_ADVERBS = frozenset({"really", "usually", "typically", "generally", "normally", "particularly", "especially",
                         "much", "ever", "often", "tend", "to", "always", "actually", "honestly", "totally",
                         "exactly", "necessarily", "personally", "even", "so", "too", "all", "that", "big",
                         "huge", "great", "massive", "very", "quite", "super", "get", "go", "gonna", "going"})
LIKING_VERBS = frozenset({"watch", "watching", "watched", "like", "liked", "likes", "love", "loved", "enjoy",
                          "enjoyed", "enjoys", "want", "wanna", "need", "dig", "fancy", "stand", "handle", "do",
                          "care for", "go for", "get into", "feel like", "into", "like watching", "appreciate",
                          "see", "prefer",
                          # what the person asks the recommender not to do: "please don't suggest Titanic"
                          "suggest", "recommend", "show", "show me", "give me", "pick", "include", "offer"})
# A cue followed by one of these is not a negation ("not sure", "no worries", "nothing else").
NOT_NEGATION_AFTER = frozenset({"sure", "only", "just", "necessarily", "yet", "really sure", "problem", "worries",
                                "idea", "matter", "thanks", "thank", "else", "much", "bad", "mind", "care", "too sure",
                                "seen", "watched", "heard"})
# Postfix negation: "horror isn't my thing", "gore-free", "zombies are a no".
POSTFIX_NEGATION = ("isn't my thing", "is not my thing", "isn't for me", "is not for me", "aren't my thing",
                    "are not my thing", "aren't for me", "are not for me", "not my thing", "is a no", "are a no",
                    "is a no-go", "are a no-go", "not for me", "isn't my cup of tea", "is not my cup of tea",
                    "not my cup of tea", "turns me off", "scares me", "freaks me out", "gives me nightmares",
                    "please no", "is a hard no", "are a hard no", "not for us", "isn't for us", "aren't for us",
                    "is not for us", "are not for us", "isn't really for me", "aren't really for me",
                    "isn't really my thing", "aren't really my thing", "doesn't do it for me", "don't do it for me",
                    "is not my thing", "are not my thing", "is off the table", "are off the table")
# Postfix cues that also open a scope on what follows ("horror, please no westerns").
POSTFIX_OPENING = frozenset({"please no"})
FREE_SUFFIXES = ("-free", " free")
# Tokens that end a negation scope (a clause boundary or a new request).
CLAUSE_BOUNDARY_TOKENS = frozenset({".", ";", "!", "?", ":", "(", ")", "but", "though", "although", "however",
                                     "instead", "yet", "just", "only", "i", "i'm", "i'd", "i'll", "we", "we're", "we'd",
                                     "something", "maybe", "preferably", "ideally", "please", "because", "since",
                                     "so", "then", "also", "plus", "while", "want", "prefer", "looking", "like",
                                     "rather", "what", "how", "can", "could", "would", "give", "show",
                                     "recommend", "suggest", "it's", "ok", "okay", "thanks", "lol", "unless"})
COORDINATORS = frozenset({"or", "and", "nor", "&", "/", "either", "neither", "any", "too", "much", "a", "an", "the",
                          "of", "that", "that's", "which", "is", "are", "very", "overly", "really", "super",
                          "particularly", "remotely", "at", "all", "with", "from", "stuff", "movies", "movie",
                          "films", "film", "ones", "one", "kind", "sort", "type", "types", "kinds", "sorts", "type of",
                          "kinds of", "lots", "lot", "scenes", "scene", "content", "elements", "anything", "things",
                          "thing", "those", "these", "more", "made", "meant", "for", "in", "excessive", "way", "etc", "genre", "genres", "in it", "there", "involving",
                          "about", "plenty", "heavy", "some", "pure", "straight", "full-on", "real", "graphic"})

# ---- hedges and dialogue words -----------------------------------------------------------------
HEDGES = frozenset({"maybe", "ideally", "preferably", "probably", "perhaps", "possibly", "hopefully", "kinda",
                    "kind of", "sort of", "somewhat", "i guess", "if possible", "if you can", "i think", "i'd say",
                    "i suppose", "ish", "roughly", "around", "about", "approximately"})
# Words that carry no taste (dropped from the residual text).
FILLER_WORDS = frozenset({
    "a", "an", "the", "it", "that", "this", "these", "those", "them", "one", "ones", "again", "anymore", "really",
    "so", "too", "very", "more", "less", "much", "many", "any", "anything", "something", "nothing", "sure", "yet",
    "now", "today", "tonight", "please", "thanks", "thank", "ok", "okay", "yes", "yeah", "no", "not", "and", "or",
    "with", "about", "like", "just", "me", "my", "i", "you", "we", "us", "that's", "it's", "else", "all", "some",
    "other", "another", "either", "neither", "from", "in", "on", "at", "of", "for", "to", "by", "as", "into", "than",
    "then", "when", "where", "who", "what", "movie", "movies", "film", "films", "show", "give", "want", "watch",
    "watching", "see", "recommend", "recommendation", "recommendations", "suggest", "suggestion", "suggestions",
    "maybe", "perhaps", "would", "could", "should", "can", "how", "which", "be", "is", "are", "was", "were", "but",
    "also", "kind", "sort", "type", "i'm", "i'd", "i'll", "i've", "im", "id", "looking", "look", "find", "hi",
    "hello", "hey", "there", "good", "great", "nice", "well", "lol", "oh", "um", "hmm", "do", "does", "did", "have",
    "has", "had", "get", "got", "need", "am", "your", "you're", "our", "let's", "lets", "something's", "here",
    "prefer", "ideally", "preferably", "actually", "tell", "know", "think", "guess", "wanna", "gonna", "mood",
    "feel", "feeling", "evening", "weekend", "night", "time", "watched", "seen", "saw", "loved", "love",
    "liked", "enjoyed", "enjoy", "if", "possible", "probably", "rather", "try", "alright", "cool", "fine",
    "though", "still", "only", "even", "ever", "big", "fan", "fans", "pick", "picks", "option", "options", "stuff",
    "things", "thing", "bit", "little", "lot", "lots", "kinda", "sorta", "mean", "say", "said", "since", "because",
    "its", "up", "out", "after", "starring", "featuring", "newer", "older", "went", "go", "going", "new", "over",
    "under", "minutes", "hours", "hour", "min", "mins", "rated", "rating", "ratings",
})
GREETINGS = frozenset({"hi", "hello", "hey", "thanks", "thank you", "thx", "cheers", "bye", "goodbye", "ok",
                       "okay", "cool", "great", "awesome", "nice", "good", "yes", "no", "sure", "yeah", "yep",
                       "nope", "hiya", "howdy", "good morning", "good evening", "how are you", "i'm fine", "fine"})

# ---- numbers, durations ------------------------------------------------------------------------
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
                "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
                "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                "ninety": 90, "hundred": 100, "a hundred": 100, "one hundred": 100}
NUM = r"(?:\d+(?:\.\d+)?|" + "|".join(sorted((re.escape(w) for w in NUMBER_WORDS), key=len, reverse=True)) + ")"
HOURS = r"(?:h|hr|hrs|hour|hours)\b"
MINUTES = r"(?:m|min|mins|minute|minutes)\b"
DURATION = (rf"(?:(?:{NUM})\s*(?:and\s+a\s+half\s+)?{HOURS}(?:\s*(?:and\s+)?(?:a\s+half|\d+\s*(?:{MINUTES})?))?"
            rf"|(?:{NUM})\s*{MINUTES}|half\s+an\s+hour|\d{{1,2}}h\d{{2}}|(?:a|one)\s+and\s+a\s+half\s+{HOURS}"
            rf"|an\s+hour\s+and\s+a\s+half)")
BARE_MINUTES = r"(?:[4-9]\d|1\d\d|2\d\d)(?!\d|\s*(?:s\b|'s))"  # "under 95": a bare number 40..299 is minutes


def number(token: str) -> float:
    token = token.strip()
    return float(token) if re.fullmatch(r"\d+(?:\.\d+)?", token) else float(NUMBER_WORDS[token])


def minutes(duration: str) -> int | None:
    """"2 hours" → 120, "an hour and a half" → 90, "1h30" → 90, "90 min" → 90, "1.5 hours" → 90."""
    text = re.sub(r"\s+", " ", duration.strip().lower())
    if text == "half an hour":
        return 30
    if re.fullmatch(r"an hour and a half|(?:a|one) and a half (?:h|hr|hrs|hour|hours)", text):
        return 90
    compact = re.fullmatch(r"(\d{1,2})h(\d{2})", text)
    if compact:
        return int(compact.group(1)) * 60 + int(compact.group(2))
    if re.fullmatch(BARE_MINUTES, text):
        return int(text)
    head = re.match(rf"({NUM})\s*", text)
    if not head:
        return None
    value = number(head.group(1))
    rest = text[head.end():]
    if re.match(MINUTES, rest):
        return round(value)
    total = value * 60
    if re.search(r"a half", rest):
        total += 30
    extra = re.search(r"(\d+)\s*(?:" + MINUTES + r")?\s*$", rest)
    if extra and not re.match(r"^\d", rest):
        total += int(extra.group(1))
    return round(total)


# ---- languages ---------------------------------------------------------------------------------
LANGUAGES = {"english": "en", "french": "fr", "spanish": "es", "german": "de", "italian": "it", "japanese": "ja",
             "korean": "ko", "chinese": "zh", "mandarin": "zh", "cantonese": "cn", "hindi": "hi",
             "russian": "ru", "swedish": "sv", "danish": "da", "norwegian": "no", "portuguese": "pt",
             "dutch": "nl", "persian": "fa", "farsi": "fa", "turkish": "tr", "polish": "pl", "thai": "th",
             "hebrew": "he", "arabic": "ar", "greek": "el", "finnish": "fi", "hungarian": "hu", "czech": "cs",
             "icelandic": "is", "romanian": "ro", "indonesian": "id", "tamil": "ta", "telugu": "te",
             "bollywood": "hi"}
LANGUAGE_NAMES = {code: name.capitalize() for name, code in reversed(list(LANGUAGES.items())) if name != "bollywood"}

# ---- years -------------------------------------------------------------------------------------
DECADE_WORDS = {"twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
                "seventies": 1970, "eighties": 1980, "nineties": 1990}
DECADE_PARTS = {"early": (0, 3), "mid": (3, 6), "middle": (3, 6), "late": (6, 9)}
RECENT_SPAN_YEARS = 4  # "recent" → min year = latest catalog year − 4

# ---- runtime words -----------------------------------------------------------------------------
NOT_TOO_LONG_MAX = 120
SHORT_MAX = 99
LONG_MIN = 120

# ---- ordinals (pick references) ----------------------------------------------------------------
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
            "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "ninth": 9, "9th": 9,
            "tenth": 10, "10th": 10, "top": 1}
CARDINAL_REFS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5,
                 "6": 6, "7": 7, "8": 8, "9": 9, "10": 10}
