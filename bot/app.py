"""Assemble the bot from its parts: settings → understanding → dialogue → store."""

from __future__ import annotations

from bot.config import Settings
from bot.dialogue.brain import Brain
from bot.dialogue.engine import Engine
from bot.dialogue.flowchart import load_flowchart
from bot.dialogue.responses import load_responses
from bot.dialogue.stories import load_stories
from bot.nlu.understand import Understander
from bot.outreach.quiz import load_quiz
from bot.checks.riskcheck import load_official
from bot.store import Store


def build_brain(settings: Settings, understander: Understander | None = None, retrain: bool = False,
                previous: Brain | None = None) -> Brain:
    """Read nlu/, stories/ and content/ and build what understands and answers (raises on bad files).
    ``previous`` (a reload) lends its trained models when the training data is unchanged."""
    understander = understander or Understander(settings, retrain=retrain,
                                                previous=previous.understander if previous else None)
    flows = load_stories(settings.stories_dir, settings.root)
    responses = load_responses(settings.content_dir / "responses.yml", settings.root)
    scams = set(understander.content.scams)
    quiz = load_quiz(settings.content_dir / "quiz.yml", settings.root, scams)
    guided = load_flowchart(settings.content_dir / "guided.yml", settings.root, scams)
    visit = load_flowchart(settings.content_dir / "visit.yml", settings.root, scams)
    official = load_official(settings.content_dir / "official.yml", settings.root)
    return Brain.build(understander, flows, responses, quiz, guided, visit, official)


def build_engine(settings: Settings, store: Store | None = None, understander: Understander | None = None) -> Engine:
    """An engine reading nlu/, stories/ and content/ of ``settings`` and the database it names."""
    return Engine(settings, build_brain(settings, understander), store or open_store(settings))


def open_store(settings: Settings) -> Store:
    """The database ``settings`` names: the SQLite file, or PostgreSQL when ``BOT_DATABASE_URL`` is set."""
    return Store(settings.database, settings.synchronous, spool_path=settings.spool)
