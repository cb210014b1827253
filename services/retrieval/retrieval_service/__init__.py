"""The retrieval tier of movierec."""
