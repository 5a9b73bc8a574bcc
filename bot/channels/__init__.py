"""Front ends: Telegram, a terminal chat and a local web chat. They know nothing of NLU."""
