"""`ask_user_question`: 1–4 structured questions the human answers in a form (or, failing that, in chat).

The form is built from the questions at call time: each question becomes one choice field (`q1`…`q4`) whose
options carry their description in the title, plus an optional free-text `qN_note` for an answer the options
miss. The field names are positional, so the answer maps back to the question without trusting labels.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, create_model, field_validator, model_validator

from .forms import HumanForm


FormOutcome = Literal["answered", "declined", "cancelled", "not_shown"]
MAX_NOTE = 2000


class Option(BaseModel):
    """One answer the human can pick."""

    label: str = Field(min_length=1, max_length=80, description="The answer as the human sees it (short).")
    description: str = Field(
        default="", max_length=300, description="What choosing it means (trade-offs, what happens next)."
    )
    recommended: bool = Field(default=False, description="Mark at most one option per question as recommended.")


class Question(BaseModel):
    """One decision for the human."""

    header: str = Field(
        min_length=1, max_length=40, description="A short tag for the question, e.g. `Pipeline style`."
    )
    question: str = Field(min_length=1, max_length=500, description="The full question, ending with `?`.")
    options: list[Option] = Field(min_length=2, max_length=4, description="2–4 options.")
    multi_select: bool = Field(default=False, description="Let the human pick several options.")

    @model_validator(mode="after")
    def _options_are_distinct(self) -> Question:
        labels = [option.label.strip().casefold() for option in self.options]
        if len(set(labels)) != len(labels):
            raise ValueError(f"question {self.header!r} repeats an option label; labels must differ")
        if sum(option.recommended for option in self.options) > 1:
            raise ValueError(f"question {self.header!r} marks more than one option as recommended; mark at most one")
        return self

    def option(self, label: str) -> Option | None:
        """The option with this label (case and surrounding space ignored)."""
        wanted = label.strip().casefold()
        return next((option for option in self.options if option.label.strip().casefold() == wanted), None)


class AskUserQuestionRequest(BaseModel):
    """Arguments of `ask_user_question`."""

    questions: list[Question] = Field(
        min_length=1,
        max_length=4,
        description="1–4 questions; each has a short header, the question, 2–4 options, optionally multi-select.",
    )

    @field_validator("questions")
    @classmethod
    def _headers_are_distinct(cls, questions: list[Question]) -> list[Question]:
        headers = [question.header.strip().casefold() for question in questions]
        if len(set(headers)) != len(headers):
            raise ValueError("two questions share a header; give each question its own header")
        return questions


class QuestionAnswer(BaseModel):
    """The human's answer to one question."""

    question_id: str = Field(description="`q1`…`q4`, the question's position in the call.")
    header: str
    selected: list[str] = Field(description="The labels of the options the human chose.")
    note: str | None = Field(default=None, description="What the human added in their own words, if anything.")


class PendingOption(BaseModel):
    label: str
    description: str
    recommended: bool


class PendingQuestion(BaseModel):
    """A question the agent must now ask in chat, with the id `record_answer` expects."""

    question_id: str
    header: str
    question: str
    multi_select: bool
    options: list[PendingOption]


class AskUserQuestionResult(BaseModel):
    """What `ask_user_question` returns."""

    question_set_id: str = Field(description="Pass it to `record_answer` when you asked the questions in chat.")
    form: FormOutcome = Field(
        description="answered: the human answered in the form; declined / cancelled: the form was closed without "
        "answers; not_shown: this client cannot show forms."
    )
    via: Literal["elicitation"] | None = None
    answers: list[QuestionAnswer] = Field(default_factory=list, description="One per question when answered.")
    ask_in_chat: list[PendingQuestion] = Field(
        default_factory=list, description="When not answered: the questions to ask the human yourself."
    )
    next_step: str

    def trace_interaction(self) -> dict[str, Any]:
        return {
            "kind": "answers",
            "question_set_id": self.question_set_id,
            "form": self.form,
            "via": self.via,
            "answers": [answer.model_dump(mode="json") for answer in self.answers],
        }


def question_id(index: int) -> str:
    return f"q{index + 1}"


def _option_title(option: Option) -> str:
    title = option.label + (" (recommended)" if option.recommended else "")
    return f"{title} — {option.description}" if option.description else title


def questions_form(questions: list[Question]) -> HumanForm:
    """The elicitation form for these questions: one choice field per question, plus an optional note.

    The JSON schema of each choice is written out (titled `oneOf` / `anyOf` consts) so the form shows each
    option's description; validation still uses the `Literal` of the labels. A recommended option is the
    default. The render is a pure function of the questions, so it is identical on every round of a
    2026-07-28 input-required exchange (the SDK pins the answer to the digest of the rendered question).
    """
    fields: dict[str, Any] = {}
    lines = ["Your coding agent needs your decision (diffusers-integrator)."]
    for index, question in enumerate(questions):
        key = question_id(index)
        labels = tuple(option.label for option in question.options)
        titled = [{"const": option.label, "title": _option_title(option)} for option in question.options]
        recommended = next((option.label for option in question.options if option.recommended), None)
        schema: dict[str, Any] = {"title": question.header, "description": question.question}
        if question.multi_select:
            schema |= {"type": "array", "items": {"anyOf": titled}, "minItems": 1, "maxItems": len(labels)}
            if recommended is not None:
                schema["default"] = [recommended]
            annotation: Any = Annotated[list[Literal[labels]], Field(min_length=1), WithJsonSchema(schema)]  # type: ignore[valid-type]
        else:
            schema |= {"type": "string", "oneOf": titled}
            if recommended is not None:
                schema["default"] = recommended
            annotation = Annotated[Literal[labels], WithJsonSchema(schema)]  # type: ignore[valid-type]
        fields[key] = (annotation, ...)
        note_schema = {
            "type": "string",
            "title": f"{question.header}: anything to add? (optional)",
            "maxLength": MAX_NOTE,
        }
        fields[f"{key}_note"] = (Annotated[str | None, Field(max_length=MAX_NOTE), WithJsonSchema(note_schema)], None)
        lines.append(f"{index + 1}. {question.header}: {question.question}")
    return HumanForm(message="\n".join(lines), schema=create_model("QuestionAnswers", **fields))


def answers_from_form(questions: list[Question], data: BaseModel) -> list[QuestionAnswer]:
    """Maps the accepted form back to one `QuestionAnswer` per question."""
    values = data.model_dump()
    answers = []
    for index, question in enumerate(questions):
        key = question_id(index)
        chosen = values[key]
        selected = list(chosen) if isinstance(chosen, list) else [chosen]
        note = (values.get(f"{key}_note") or "").strip() or None
        answers.append(QuestionAnswer(question_id=key, header=question.header, selected=selected, note=note))
    return answers


def pending_questions(questions: list[Question]) -> list[PendingQuestion]:
    return [
        PendingQuestion(
            question_id=question_id(index),
            header=question.header,
            question=question.question,
            multi_select=question.multi_select,
            options=[PendingOption(**option.model_dump()) for option in question.options],
        )
        for index, question in enumerate(questions)
    ]
