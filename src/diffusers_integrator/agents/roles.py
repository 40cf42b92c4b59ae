"""The agents of a run, defined once as data: who they are, what they know, which tools they hold.

The runner builds each agent's system prompt and tool list from its `Role`; the Claude Code plugin's subagents
(`plugin.py`) are generated from the same roles, so a role reads alike wherever it runs. A role's `tools` are
MCP tools of our server (by their stable names); `local` are the runner's own tools: the confined editor
(`editor`, or `viewer` for read-only), the test runner (`tests`) and, for the lead, `delegate`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..skills import read_skill_file, skill_prompt


@dataclass(frozen=True)
class Role:
    """One agent: its name, the skill its prompt opens with, its tools and how it works."""

    name: str
    title: str
    description: str  # when the lead (or Claude Code) hands work to it
    skill: str | None  # the shipped skill whose prompt opens the system prompt
    skill_file: str | None  # a supporting file of that skill to use instead of its SKILL.md
    tools: tuple[str, ...]  # MCP tools of our server
    local: tuple[str, ...]  # the runner's own tools
    instructions: str

    @property
    def opening(self) -> str:
        """The first line of the system prompt: names the role (and lets a cassette tell agents apart)."""
        return f"You are the {self.name} agent of diffusers-integrator: {self.title}."

    def system_prompt(self) -> str:
        """Opening line, instructions, then the skill text the role works from."""
        parts = [self.opening, self.instructions.strip()]
        if self.skill and self.skill_file:
            parts.append(read_skill_file(self.skill, self.skill_file).text.strip())
        elif self.skill:
            parts.append(skill_prompt(self.skill).strip())
        return "\n\n".join(parts) + "\n"


EDITOR = "editor"  # view, create and edit files of the checkout (writes need the approved plan)
VIEWER = "viewer"  # the same editor, view only
TESTS = "tests"  # pytest on named paths of the checkout
DELEGATE = "delegate"  # hand a task to a sub-agent

LEAD = Role(
    name="lead",
    title="you drive the whole integration and delegate parity and review",
    description="Drives an integration end to end: asks the human, gets the plan approved, writes the code.",
    skill="integrating-models",
    skill_file=None,
    tools=(
        "inspect_checkout",
        "list_skills",
        "get_skill",
        "ask_user_question",
        "record_answer",
        "confirm_plan",
        "scaffold",
        "register_lazy_import",
        "unregister_lazy_import",
        "check_registration",
        "job_status",
    ),
    local=(EDITOR, TESTS, DELEGATE),
    instructions="""\
How this run works:
- The human is reached through the tools: ask_user_question for decisions, confirm_plan for the plan. Their
  answers come back in the tool result. Nothing is written before the plan is approved (the write tools and
  your editor refuse until then), and your editor writes only files the approved plan lists, or working
  files under `.diffusers-integrator/`.
- Write code with your editor (paths relative to the checkout root; the reference is readable by its
  absolute path) and run the integration's tests with your test runner (pytest on named paths).
- Hand work to your sub-agents with `delegate`: `parity` proves numerical parity (writes and runs parity
  specs), `review` checks the change (registration, quality, tests, the checklist) and gives a verdict. They
  do not see this conversation: give each a self-contained task with the model's names, the files, the
  reference paths and the criteria from the approved plan. Fix what they report, then delegate again.
- Long tools return a job id: follow it with job_status.
- Finish with a short summary for the human: what was integrated, parity, the review's verdict.""",
)

PARITY = Role(
    name="parity",
    title="you prove numerical parity between the port and the reference",
    description="Proves numerical parity between a diffusers port and its reference: writes parity specs, "
    "runs them, localises the first divergent module, converts and inspects checkpoints.",
    skill="parity-testing",
    skill_file=None,
    tools=("run_parity", "inspect_checkpoint", "convert_weights", "job_status", "get_skill"),
    local=(EDITOR, TESTS),
    instructions="""\
You get one task from the lead agent and report back to it; you do not talk to the human.
- Write each parity spec under `.diffusers-integrator/specs/` with your editor (the spec format is in the
  parity-testing skill), run it with run_parity (cpu, float32 unless the task says otherwise) and follow a
  job id with job_status.
- Use inspect_checkpoint and convert_weights for checkpoints and key maps.
- Do not change the model code: when a spec fails, read the localisation (the first divergent module and its
  likely causes) and report what to fix.
- End with a short report: each spec, passed or failed, its max abs diff, and for a failure the first
  divergent module and the likely cause.""",
)

REVIEW = Role(
    name="review",
    title="you review the integration before it is handed over",
    description="Reviews an integration before hand-over: registration, quality gates, tests and the "
    "integration checklist, ending in a verdict with findings.",
    skill="integrating-models",
    skill_file="checklist.md",
    tools=("check_registration", "make_quality", "job_status", "get_skill"),
    local=(VIEWER, TESTS),
    instructions="""\
You get one task from the lead agent and report back to it; you do not talk to the human, and you change no
file (your editor only views).
- Run check_registration on the integration's public names and make_quality on the changed files (follow a
  job id with job_status); run the integration's tests with your test runner.
- Then walk the integration checklist (your self-review checklist) for what the tools cannot see: read the
  new files, compare them with the approved plan the task names.
- End with a verdict, `approve` or `changes needed`, then one line per finding: the file, what is wrong,
  the fix.""",
)

ROLES: dict[str, Role] = {role.name: role for role in (LEAD, PARITY, REVIEW)}
SUB_AGENTS: tuple[str, ...] = tuple(name for name in ROLES if name != LEAD.name)


def role_for_tool(tool: str) -> Role:
    """The agent a recorded call of `tool` belongs to: the sub-agent that holds it, else the lead."""
    for name in SUB_AGENTS:
        if tool in ROLES[name].tools and tool not in ("job_status", "get_skill"):
            return ROLES[name]
    return LEAD
