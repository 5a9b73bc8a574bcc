"""The brain: everything built from nlu/, stories/ and content/, swapped whole on reload."""

from __future__ import annotations

from dataclasses import dataclass

from bot.dialogue.policy import Policy
from bot.dialogue.responses import Responses
from bot.dialogue.stories import Flows
from bot.nlu.understand import Understander
from bot.scams import Content

SCAM_GROUP = "describe_scam"  # in stories: any scam type from content/


@dataclass(frozen=True)
class Brain:
    """Everything built from nlu/, stories/ and content/: swapped whole on reload."""

    understander: Understander
    flows: Flows
    responses: Responses
    policy: Policy
    quiz: tuple = ()  # bot.outreach.quiz.Question
    guided: object = None  # bot.dialogue.flowchart.Flowchart for 长辈模式
    visit: object = None  # bot.dialogue.flowchart.Flowchart for grid workers' visits
    official: object = None  # bot.checks.riskcheck.Official (content/official.yml)

    @property
    def content(self) -> Content:
        return self.understander.content

    @classmethod
    def build(cls, understander: Understander, flows: Flows, responses: Responses, quiz=(), guided=None,
              visit=None, official=None) -> "Brain":
        return cls(understander, flows, responses, Policy(flows, {SCAM_GROUP: set(understander.content.scams)}),
                   tuple(quiz), guided, visit, official)
