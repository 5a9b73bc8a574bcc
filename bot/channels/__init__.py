"""Messengers around the engine: the web chat, the terminal, Telegram (residents and the staff chat), the WeChat
official account and the WeCom group robot. They know nothing of NLU."""
