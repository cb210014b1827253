"""movierec catalog: the offline builder of the normalized movie table and its loader."""

from .catalog import Catalog, CatalogNotFoundError, Movie, load_catalog, load_ratings

__all__ = ["Catalog", "CatalogNotFoundError", "Movie", "load_catalog", "load_ratings"]
