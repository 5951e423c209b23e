"""The alumni databank: the golden record of the association's graduates, and every rule about it.

Modules: ``keys`` (encryption and blind indexes), ``names`` (name forms), ``roster`` (reading and validating
registrar files), ``importer`` (batches, upserts, rollback), ``search``, ``duplicates`` and ``merge``, ``privacy``
(masking, reveal, exports and data-subject requests, consent), ``verification`` (identity claims), ``audit`` and
``demo`` (a generated roster). Like every service, these take a SQLAlchemy Session and raise ``core.errors``.
"""
