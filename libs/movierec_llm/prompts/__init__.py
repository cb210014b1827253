"""Every LLM prompt of the system, one module per use: ``VERSION``, the message builder, the JSON schema
sent as ``response_format``, and the validator that turns a valid answer into typed values.

Uses: ``rerank`` (ranker listwise order + one checkable reason per pick), ``explain`` (prose from
verified factors), ``taste`` (the taste normalizer). The dialogue team adds ``understand`` and
``chat_reply`` here. A prompt change that alters answers bumps ``VERSION`` (it is logged with every
call, recorded in fixtures and in fine-tune manifests).
"""
