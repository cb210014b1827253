"""The ranker tier of movierec."""
