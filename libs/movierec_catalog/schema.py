"""Arrow schemas of the catalog artifacts (the column contract other tiers read)."""

import pyarrow as pa

_STR_LIST = pa.list_(pa.string())

MOVIES_SCHEMA = pa.schema(
    [
        pa.field("movie_id", pa.int64(), nullable=False),
        pa.field("canonical_key", pa.string(), nullable=False),
        pa.field("tmdb_id", pa.int64()),
        pa.field("imdb_id", pa.string()),
        pa.field("title", pa.string(), nullable=False),
        pa.field("year", pa.int64()),
        pa.field("genres", _STR_LIST, nullable=False),
        pa.field("overview", pa.string()),
        pa.field("keywords", _STR_LIST, nullable=False),
        pa.field("tags", _STR_LIST, nullable=False),
        pa.field("director", pa.string()),
        pa.field("cast", _STR_LIST, nullable=False),
        pa.field("runtime_min", pa.int64()),
        pa.field("certification", pa.string()),
        pa.field("certification_source", pa.string()),
        pa.field("vote_average", pa.float64()),
        pa.field("vote_count", pa.int64()),
        pa.field("popularity", pa.float64()),
        pa.field("imdb_rating", pa.float64()),
        pa.field("ml_rating_mean", pa.float64()),
        pa.field("ml_rating_count", pa.int64(), nullable=False),
        pa.field("poster_url", pa.string()),
        pa.field("original_language", pa.string()),
        pa.field("embedding_text", pa.string(), nullable=False),
    ]
)

MOVIE_COLUMNS = tuple(MOVIES_SCHEMA.names)
LIST_COLUMNS = tuple(f.name for f in MOVIES_SCHEMA if pa.types.is_list(f.type))
# Columns of the maturity estimates artifact, joined onto the movies at load time when it exists
# (optional: a catalog without estimates has them all None).
ESTIMATE_COLUMNS = ("certification_estimate", "certification_confidence",
                    "certification_estimate_max", "certification_estimate_min")

RATINGS_SCHEMA = pa.schema(
    [
        pa.field("user_id", pa.int64(), nullable=False),
        pa.field("movie_id", pa.int64(), nullable=False),
        pa.field("rating", pa.float64(), nullable=False),
        pa.field("timestamp", pa.int64(), nullable=False),
    ]
)
