"""The duty desk (值班台): escalation records, the outbox of staff alerts and its follow-ups, the desk's messages
to residents, reports and the dashboard."""
