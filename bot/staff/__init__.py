"""What outreach staff do with their files: check them, reload them into the running bot, export them to Rasa."""
