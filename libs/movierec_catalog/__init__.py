"""movierec catalog: the offline builder of the normalized movie table and its loader."""

from .catalog import NON_CONTENT_GENRES, Catalog, CatalogNotFoundError, Movie, load_catalog, load_ratings

__all__ = ["NON_CONTENT_GENRES", "Catalog", "CatalogNotFoundError", "Movie", "load_catalog", "load_ratings"]
