"""The profile tier of movierec."""
