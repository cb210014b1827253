"""The embedding tier of movierec."""
