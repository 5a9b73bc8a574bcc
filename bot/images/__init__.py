"""Pictures residents send — screenshots of an SMS or a chat, photos of a leaflet — read offline.

``decode`` opens an image safely (size, pixel and frame limits), ``layout`` turns the OCR engine's lines into what
was said and by whom (dropping the phone's status bar and the app's chrome), and ``reader`` runs RapidOCR off the
event loop with a bounded queue. The text read goes through the same understanding as typed text, as a forwarded
message.
"""
