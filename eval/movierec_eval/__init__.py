"""movierec's offline evaluation harness: ``python -m movierec_eval`` (``make eval``); see eval/README.md."""
