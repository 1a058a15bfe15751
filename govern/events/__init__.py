"""Audits that follow the registry: MLflow's webhooks received, queued durably, and handled.

``signature`` checks a delivery is MLflow's, ``queue`` keeps it until it is handled (sqlite, so a
crash loses nothing), ``app`` is the ASGI app ``govern serve`` runs, ``worker`` does the work
(audit a new version, guard protected aliases) and ``reconcile`` is the backstop for deliveries
MLflow gave up on.
"""
